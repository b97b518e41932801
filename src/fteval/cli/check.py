"""``fteval check``: the CI gate over a saved results.json."""

from __future__ import annotations

import argparse
from typing import Any

from fteval.cli._common import EXIT_OK, gate


def add_parser(sub: Any) -> None:
    """Register ``check``."""
    check = sub.add_parser("check", help="CI gate over a results.json (exit 3 when it fails)")
    check.add_argument("results", help="results.json or a run directory")
    check.add_argument("--fail-on", choices=["regression", "none"], default="regression")
    check.add_argument("--require", action="append", default=[], metavar="TASK[/METRIC][@ARM]=WANT")
    check.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> int:
    """Run ``fteval check``; returns the exit code."""
    import json
    from pathlib import Path

    from fteval.errors import FtevalError

    path = Path(args.results)
    if path.is_dir():
        path = path / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise FtevalError(f"{path}: cannot read results: {error}") from None
    code = gate(results, fail_on=args.fail_on, require=args.require)
    if code == EXIT_OK:
        print(f"fteval: gate passed ({path})")
    return code

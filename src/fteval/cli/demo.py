"""``fteval demo``: build toy models offline and run the three-way evaluation."""

from __future__ import annotations

import argparse
from typing import Any

from fteval.cli._common import (
    EXIT_OK,
    add_output_flags,
    check_trackers,
    log_to_trackers,
    print_results,
)


def add_parser(sub: Any) -> None:
    """Register ``demo``."""
    demo = sub.add_parser("demo", help="build toy models offline and run the three-way evaluation")
    demo.add_argument("--out", help="run directory (default: a fresh folder under runs/)")
    demo.add_argument("--cache-dir", help="where the demo models are built (default: user cache)")
    demo.add_argument(
        "--deploy",
        action="store_true",
        help="evaluate the adapter unmerged, merged and merged-int8 beside it, with their "
        "deployment parity (needs fteval[quant])",
    )
    add_output_flags(demo)
    demo.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    """Run ``fteval demo``; returns the exit code."""
    from fteval.cli.validate import check_out_dir
    from fteval.demo import run_demo

    check_out_dir(args.out, "--out")
    check_out_dir(args.cache_dir, "--cache-dir")
    check_trackers(args.log_to)

    results = run_demo(
        out=args.out, cache_dir=args.cache_dir, progress=not args.quiet, deploy=args.deploy
    )
    print_results(results, as_json=args.json, quiet=args.quiet, details=args.details)
    log_to_trackers(args.log_to, results.get("run_dir"))
    return EXIT_OK

"""What every command shares: exit codes, statistics flags, printing results, the gate."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def add_stats_flags(parser: argparse.ArgumentParser) -> None:
    """The statistics options shared by ``run`` and ``score``."""
    parser.add_argument(
        "--bootstrap",
        dest="bootstrap_resamples",
        type=int,
        help="bootstrap resamples (default 2000)",
    )
    parser.add_argument(
        "--permutations", type=int, help="permutation-test resamples (default 10000)"
    )
    parser.add_argument("--ci-method", choices=["percentile", "bca"])
    parser.add_argument("--correction", choices=["holm", "bh"])
    parser.add_argument("--alpha", type=float)
    parser.add_argument("--confidence", type=float)


def print_results(results: dict[str, Any], *, as_json: bool) -> None:
    """The terminal table (stderr with ``--json``, whose object goes to stdout)."""
    from fteval.records import dumps
    from fteval.report import render_terminal

    table = render_terminal(results, results.get("run_dir"))
    if as_json:
        print(table, file=sys.stderr, end="")
        print(dumps(results, indent=2))
    else:
        print(table, end="")


def gate(results: dict[str, Any], *, fail_on: str, require: Sequence[str]) -> int:
    """Print each gate failure; ``EXIT_GATE`` when any, else ``EXIT_OK``."""
    from fteval.compare.gate import check

    failures = check(results, fail_on=fail_on, require=require)
    for failure in failures:
        print(f"fteval: gate: {failure}", file=sys.stderr)
    return EXIT_GATE if failures else EXIT_OK


def internal_error(error: BaseException, *, verbose: bool) -> int:
    """Report a bug in one line (the traceback too with ``verbose``); ``EXIT_INTERNAL``.

    The traceback is in the run directory's fteval.log when the failing command had made
    one (``RunDirectory.mark_failed``); the line says where.
    """
    import traceback

    from fteval.records.rundir import failure_log

    if verbose:
        traceback.print_exception(error, file=sys.stderr)
    text = " ".join(str(error).split()) or "(no message)"
    if len(text) > 300:
        text = text[:297] + "..."
    log = failure_log(error)
    where = f"the traceback is in {log}" if log else "the traceback is shown with --verbose"
    if verbose and not log:
        where = "the traceback is above"
    print(
        f"fteval: internal error (a bug in fteval; please report it): "
        f"{type(error).__name__}: {text} ({where})",
        file=sys.stderr,
    )
    return EXIT_INTERNAL

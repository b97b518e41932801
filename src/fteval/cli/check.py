"""``fteval check``: the CI gate over a saved results.json."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fteval.cli._common import EXIT_OK, REQUIRE_HELP, gate, parse_margins


def add_parser(sub: Any) -> None:
    """Register ``check``."""
    check = sub.add_parser("check", help="CI gate over a results.json (exit 3 when it fails)")
    check.add_argument("results", help="results.json or a run directory")
    check.add_argument(
        "--fail-on",
        choices=["regression", "inconclusive", "none"],
        default="regression",
        help="regression (default): exit 3 when a comparison vs base is a significant "
        "regression, or misses its non-inferiority margin; inconclusive: also when one has "
        "too few items to decide; none: only --require gates",
    )
    check.add_argument(
        "--non-inferiority",
        action="append",
        default=[],
        metavar="TASK[/METRIC]=POINTS",
        help="judge non-inferiority vs base at this margin (display units, points) from the "
        "saved intervals; replaces the run's margin for that task (repeatable)",
    )
    check.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="TASK[/METRIC][@ARM]=WANT",
        help=REQUIRE_HELP,
    )
    check.set_defaults(handler=check_command)


def check_command(args: argparse.Namespace) -> int:
    """Run ``fteval check``; returns the exit code.

    The results file must follow the published schema and hold at least one comparison
    (nothing to gate is an error, exit 2, not a pass). Given a run directory, its manifest
    and samples must agree with its results (``records.integrity``).
    """
    from fteval.cli.validate import check_run_directory, load_results_file, require_comparisons
    from fteval.compare.gate import with_margins
    from fteval.report.headline import cut_sentence

    path, results = load_results_file(args.results)
    check_run_directory(args.results, results)
    require_comparisons(results, path)
    if args.non_inferiority:
        results = with_margins(results, parse_margins(args.non_inferiority))
    for row in results.get("truncation") or []:
        if row.get("cut"):
            print(f"fteval: warning: {cut_sentence(row)}", file=sys.stderr)
    code = gate(results, fail_on=args.fail_on, require=args.require)
    if code == EXIT_OK:
        print(f"fteval: gate passed ({path})")
    return code

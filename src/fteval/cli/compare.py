"""``fteval compare``: pair saved runs item by item, with the statistics of one run."""

from __future__ import annotations

import argparse
from typing import Any

from fteval.cli._common import (
    add_output_flags,
    add_stats_flags,
    check_trackers,
    gate,
    log_to_trackers,
    print_results,
)


def add_parser(sub: Any) -> None:
    """Register ``compare``."""
    compare = sub.add_parser(
        "compare",
        help="compare saved runs item by item (same items and prompts); arms clash as RUN:ARM",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more run directories")
    compare.add_argument("--out", help="run directory of the comparison (default runs/<UTC time>)")
    add_stats_flags(compare)
    compare.add_argument("--seed", type=int, help="statistics seed (default: the first run's)")
    compare.add_argument(
        "--fail-on",
        choices=["regression", "inconclusive", "none"],
        default="none",
        help="exit 3 on a significant regression vs base (inconclusive: also on a "
        "comparison too small to decide; default none)",
    )
    compare.add_argument(
        "--require", action="append", default=[], metavar="TASK[/METRIC][@ARM]=WANT"
    )
    add_output_flags(compare, quiet_help="print only the tables")
    compare.set_defaults(handler=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    """Run ``fteval compare``; returns the exit code."""
    from fteval.cli.validate import check_out_dir, stats_settings
    from fteval.compare.gate import Requirement
    from fteval.pipeline.compare_runs import compare_runs

    for text in args.require:
        Requirement.parse(text)
    check_out_dir(args.out, "--out")
    check_trackers(args.log_to)
    overrides = stats_settings(args)  # the run config's names are StatsOptions's
    if args.seed is not None:
        overrides["seed"] = args.seed
    results, run_dir = compare_runs(args.runs, out=args.out, overrides=overrides)
    results = {**results, "run_dir": str(run_dir)}
    print_results(results, as_json=args.json, quiet=args.quiet, details=args.details)
    log_to_trackers(args.log_to, str(run_dir))
    return gate(results, fail_on=args.fail_on, require=args.require)

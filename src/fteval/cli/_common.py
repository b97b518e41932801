"""What every command shares: exit codes, statistics flags, printing results, the gate."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

REQUIRE_HELP = (
    "exit 3 unless every matching comparison vs base shows WANT: improved, no-regression "
    "or non-inferior (needs --non-inferiority); without /METRIC every metric of the task, "
    "without @ARM every non-base arm (repeatable); one that matches nothing exits 2"
)


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
    parser.add_argument(
        "--correction-scope",
        choices=["arm-pair", "run"],
        help="comparisons corrected together: each arm pair's tasks x metrics (default), "
        "or every comparison of the run",
    )
    parser.add_argument(
        "--alpha", type=float, help="significance level (default 0.05; sets --confidence)"
    )
    parser.add_argument(
        "--confidence",
        type=float,
        help="interval level (default 1 - alpha); given with --alpha, it must equal 1 - alpha",
    )


def print_results(results: dict[str, Any], *, as_json: bool, quiet: bool = False) -> None:
    """The terminal summary (only the tables with ``--quiet``); with ``--json`` the results
    object goes to stdout and the summary to stderr. Colour and width follow the stream."""
    from fteval.records import dumps
    from fteval.report import render_terminal, terminal_width, use_color

    stream = sys.stderr if as_json else sys.stdout
    text = render_terminal(
        results,
        results.get("run_dir"),
        width=terminal_width(stream),
        color=use_color(stream),
        quiet=quiet,
    )
    print(text, file=stream, end="")
    if as_json:
        print(dumps(results, indent=2))


def add_output_flags(parser: argparse.ArgumentParser, *, quiet_help: str | None = None) -> None:
    """``--json``, ``--quiet`` and ``--log-to`` (shared by the commands that print results)."""
    parser.add_argument("--json", action="store_true", help="print the results object on stdout")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help=quiet_help or "no progress bars; print only the tables",
    )
    parser.add_argument(
        "--log-to",
        choices=["mlflow"],
        action="append",
        default=[],
        help="also log parameters, scores, deltas and the reports to an experiment tracker "
        "(mlflow: MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME; needs fteval[mlflow])",
    )


def check_trackers(targets: Sequence[str]) -> None:
    """Fail before any work when a ``--log-to`` tracker is not installed."""
    if targets:
        from fteval.pipeline.tracking import require_tracker

        for target in dict.fromkeys(targets):
            require_tracker(target)


def log_to_trackers(targets: Sequence[str], run_dir: str | None) -> None:
    """Log a finished run directory to each tracker in ``targets`` (``--log-to``)."""
    if not targets or not run_dir:
        return
    from fteval.pipeline.tracking import log_run_dir

    for target in dict.fromkeys(targets):
        location = log_run_dir(run_dir, target)
        print(f"fteval: logged to {target}: {location}", file=sys.stderr)


def gate(results: dict[str, Any], *, fail_on: str, require: Sequence[str]) -> int:
    """Print each gate failure; ``EXIT_GATE`` when any, else ``EXIT_OK``."""
    from fteval.compare.gate import check, undecided

    failures = check(results, fail_on=fail_on, require=require)
    for failure in failures:
        print(f"fteval: gate: {failure}", file=sys.stderr)
    if fail_on == "regression":  # what it passed without deciding, never in silence
        for line in undecided(results):
            print(f"fteval: gate: {line}", file=sys.stderr)
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

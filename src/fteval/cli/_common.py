"""What every command shares: exit codes, statistics flags, printing results, the gate."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from fteval.engine import CORRECTION_SCOPES

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

REQUIRE_HELP = (
    "exit 3 unless every matching comparison vs base shows WANT: improved, no-regression "
    "or non-inferior (needs --non-inferiority); without /METRIC every metric of the task, "
    "without @ARM every non-base arm (repeatable); one that matches nothing exits 2"
)


def add_stats_flags(parser: Any) -> None:
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
    parser.add_argument(
        "--ci-method",
        choices=["percentile", "bca"],
        help="bootstrap interval: percentile (default) or bca (bias-corrected, accelerated)",
    )
    parser.add_argument(
        "--correction",
        choices=["holm", "bh"],
        help="multiple-comparison correction: holm (default; family-wise error) or bh "
        "(Benjamini-Hochberg; false discovery rate)",
    )
    parser.add_argument(
        "--correction-scope",
        choices=list(CORRECTION_SCOPES),
        help="comparisons corrected together: 'task' (default): each task's metrics per arm "
        "pair, so adding tasks never changes another task's verdicts; 'arm-pair': each arm "
        "pair's tasks x metrics; 'run': every comparison of the run, every section",
    )
    parser.add_argument(
        "--alpha", type=float, help="significance level (default 0.05; sets --confidence)"
    )
    parser.add_argument(
        "--confidence",
        type=float,
        help="interval level (default 1 - alpha); given with --alpha, it must equal 1 - alpha",
    )


def parse_margins(values: Sequence[str]) -> dict[str, float]:
    """``--non-inferiority TASK[/METRIC]=POINTS`` flags as ``{key: points}``.

    Raises:
        ConfigError: a value is not ``KEY=POINTS`` with a finite ``POINTS >= 0``.
    """
    import math

    from fteval.errors import ConfigError

    margins = {}
    for value in values:
        key, _, points = value.partition("=")
        try:
            margin = float(points)
        except ValueError:
            margin = math.nan
        if not key or not math.isfinite(margin) or margin < 0:
            raise ConfigError(f"--non-inferiority expects TASK[/METRIC]=POINTS >= 0, got {value!r}")
        margins[key] = margin
    return margins


def print_results(
    results: dict[str, Any], *, as_json: bool, quiet: bool = False, details: bool = False
) -> None:
    """The headline (every table after it with ``details``); with ``--json`` the results
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
        details=details,
    )
    print(text, file=stream, end="")
    if as_json:
        print(dumps(results, indent=2))


def add_output_flags(parser: Any, *, quiet_help: str | None = None) -> None:
    """``--json``, ``--details``, ``--quiet`` and ``--log-to`` (shared by the commands that
    print results)."""
    parser.add_argument("--json", action="store_true", help="print the results object on stdout")
    parser.add_argument(
        "--details",
        action="store_true",
        help="after the one-screen headline, print every table: per-task scores and deltas, "
        "every verdict, robustness, slices, calibration, training, contamination, cost",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help=quiet_help or "no progress bars (with --details: only the tables)",
    )
    parser.add_argument(
        "--log-to",
        choices=["mlflow"],
        action="append",
        default=[],
        help="also log the run to an experiment tracker: parameters, every results section, "
        "the verdicts and the reports (mlflow: MLFLOW_TRACKING_URI, default a SQLite store "
        "in RUN/mlruns; MLFLOW_EXPERIMENT_NAME; needs fteval[mlflow])",
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

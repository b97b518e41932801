"""``fteval score``: score prediction files (or code samples) with no model."""

from __future__ import annotations

import argparse
from typing import Any

from fteval.cli._common import (
    EXIT_OK,
    add_output_flags,
    add_stats_flags,
    check_trackers,
    log_to_trackers,
    print_results,
)


def add_parser(sub: Any) -> None:
    """Register ``score``."""
    score = sub.add_parser("score", help="score prediction files with no model")
    score.add_argument(
        "files",
        nargs="+",
        metavar="[NAME=]FILE",
        help="prediction files, one per arm; the first is the reference",
    )
    score.add_argument(
        "--metric",
        action="append",
        default=[],
        help="metric name, options as NAME:key=value,... (repeatable)",
    )
    score.add_argument("--prediction-field", default="prediction")
    score.add_argument("--reference-field", default="reference")
    score.add_argument("--id-field", default="id")
    score.add_argument(
        "--arm-field", help="one file holding several arms, told apart by this field"
    )
    score.add_argument("--prompt-field")
    score.add_argument("--labels", help="comma-separated label set for classification metrics")
    score.add_argument("--task-name", default="scored")
    score.add_argument("--problems", help="HumanEval-format problems file: run samples for pass@k")
    score.add_argument(
        "--k", action="append", type=int, default=[], help="pass@k values (repeatable)"
    )
    score.add_argument("--timeout", type=float, help="seconds per program (code; default 3)")
    score.add_argument("--workers", type=int, help="parallel programs (code; default: CPU count)")
    score.add_argument(
        "--allow-unsafe-execution",
        action="store_true",
        help="run code WITHOUT isolation when bubblewrap is missing",
    )
    score.add_argument("--out", help="run directory (default runs/<UTC time>)")
    score.add_argument(
        "--seed", type=int, help="statistics base seed (default: fteval run's default)"
    )
    add_stats_flags(score)
    add_output_flags(score, quiet_help="print only the tables")
    score.set_defaults(handler=score_command)


def _score_stats(args: argparse.Namespace) -> Any:
    from fteval.cli.validate import stats_options

    return stats_options(args, seed=args.seed)


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that do not go together, or do nothing, are errors before any file is read."""
    from fteval.cli.validate import check_out_dir, check_text
    from fteval.errors import ConfigError

    check_out_dir(args.out, "--out")
    check_text(args.task_name, "--task-name")
    text_only = _given(args, ("--metric", "--labels", "--arm-field", "--prompt-field"))
    code_only = _given(args, ("--k", "--timeout", "--workers", "--allow-unsafe-execution"))
    if args.problems is not None:
        check_text(args.problems, "--problems")
        if text_only:
            raise ConfigError(
                f"{text_only[0]} does not apply with --problems (code is scored by pass@k: "
                "choose k with --k)"
            )
    elif code_only:
        raise ConfigError(
            f"{code_only[0]} needs --problems (the HumanEval problems the samples solve)"
        )
    elif not args.metric:
        raise ConfigError("fteval score needs at least one --metric (or --problems for code)")


def _given(args: argparse.Namespace, flags: tuple[str, ...]) -> list[str]:
    """The flags among ``flags`` that were given on the command line (defaults are unset)."""
    given = []
    for flag in flags:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None and value is not False and value != []:
            given.append(flag)
    return given


def score_command(args: argparse.Namespace) -> int:
    """Run ``fteval score``; returns the exit code."""
    from fteval.cli.validate import parse_labels
    from fteval.errors import ConfigError
    from fteval.pipeline.score_files import ScoreOptions, parse_file_args, score_files

    _check_flags(args)
    check_trackers(args.log_to)
    stats = _score_stats(args)
    files = parse_file_args(args.files)
    if args.problems is not None:
        from fteval.pipeline.score_code import score_code_files

        results, run_dir = score_code_files(
            files,
            args.problems,
            k=args.k or (1, 10, 100),
            timeout_s=3.0 if args.timeout is None else args.timeout,
            max_workers=args.workers,
            allow_unsafe=args.allow_unsafe_execution,
            out=args.out,
            stats_options=stats,
        )
    else:
        from fteval.metrics.registry import parse_metric_flag

        try:
            specs = tuple(parse_metric_flag(m) for m in args.metric)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        options = ScoreOptions(
            metrics=specs,
            prediction_field=args.prediction_field,
            reference_field=args.reference_field,
            id_field=args.id_field or None,
            arm_field=args.arm_field,
            prompt_field=args.prompt_field,
            task_name=args.task_name,
            labels=parse_labels(args.labels),
        )
        results, run_dir = score_files(files, options, out=args.out, stats_options=stats)
    print_results(
        {**results, "run_dir": str(run_dir)},
        as_json=args.json,
        quiet=args.quiet,
        details=args.details,
    )
    log_to_trackers(args.log_to, str(run_dir))
    return EXIT_OK

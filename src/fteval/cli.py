"""The ``fteval`` command: a thin layer over the Python API.

Exit codes: 0 success; 1 unexpected internal error; 2 bad input, config or model
(the message names what and where); 3 the CI gate failed (``--fail-on``, ``--require``,
``fteval check``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from fteval.errors import FtevalError
from fteval.version import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fteval`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if not getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USER
    try:
        return args.handler(args)
    except FtevalError as error:
        print(f"fteval: error: {error}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("fteval: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fteval", description="Did my fine-tune help?")
    parser.add_argument("--version", action="version", version=f"fteval {__version__}")
    sub = parser.add_subparsers(title="commands")
    _add_run(sub)
    _add_score(sub)
    _add_check(sub)
    _add_split(sub)
    _add_demo(sub)
    return parser


def _add_run(sub: Any) -> None:
    run = sub.add_parser("run", help="evaluate base, adapters and full fine-tune on tasks")
    run.add_argument("config", nargs="?", help="a YAML run config (flags override its keys)")
    run.add_argument("--base", help="base model directory or hub id")
    run.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a LoRA adapter (repeatable); NAME@seedN groups seeds",
    )
    run.add_argument("--full", help="fully fine-tuned checkpoint")
    run.add_argument(
        "--task", action="append", default=[], help="built-in task or task file (repeatable)"
    )
    run.add_argument("--out", help="run directory (default runs/<UTC time>)")
    run.add_argument("--backend", choices=["hf", "fake"])
    run.add_argument("--batch-size", type=int)
    run.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"])
    run.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    run.add_argument("--limit", type=int, help="first N examples of each task")
    run.add_argument("--seed", type=int)
    run.add_argument("--max-length", type=int, help="context window override, in tokens")
    run.add_argument("--allow-base-mismatch", action="store_true", default=None)
    run.add_argument(
        "--allow-pickle",
        action="store_true",
        default=None,
        help="allow pickled .bin weights (unpickling can run code)",
    )
    run.add_argument("--trust-remote-code", action="store_true", default=None)
    run.add_argument(
        "--adapter-serving",
        choices=["auto", "merge_restore", "switch"],
        help="auto (merge in float32, switch in 16-bit), merge_restore or switch",
    )
    run.add_argument("--cache-dir", help="response cache folder, or 'off'")
    run.add_argument("--flush-every", type=int, help="examples between sample-file flushes")
    _add_stats_flags(run)
    run.add_argument(
        "--non-inferiority",
        action="append",
        default=[],
        metavar="TASK[/METRIC]=PTS",
        help="guardrail: largest tolerated drop vs base, in points (repeatable)",
    )
    run.add_argument(
        "--fail-on",
        choices=["regression", "none"],
        help="exit 3 on a significant regression vs base",
    )
    run.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="TASK[/METRIC][@ARM]=WANT",
        help="exit 3 unless met; WANT: improved, no-regression, non-inferior",
    )
    run.add_argument("--json", action="store_true", help="print the results object on stdout")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=_run)


def _add_stats_flags(parser: argparse.ArgumentParser) -> None:
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


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from fteval.config import parse_adapter_flags

    values: dict[str, Any] = {}
    if args.base:
        values["base"] = args.base
    if args.adapter:
        values["adapters"] = parse_adapter_flags(args.adapter)
    if args.task:
        values["tasks"] = args.task
    if args.non_inferiority:
        values["non_inferiority"] = _parse_margins(args.non_inferiority)
    for key in (
        "full",
        "out",
        "backend",
        "batch_size",
        "dtype",
        "device",
        "limit",
        "seed",
        "max_length",
        "allow_base_mismatch",
        "allow_pickle",
        "trust_remote_code",
        "adapter_serving",
        "cache_dir",
        "flush_every",
        "bootstrap_resamples",
        "permutations",
        "ci_method",
        "correction",
        "alpha",
        "confidence",
        "fail_on",
    ):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    return values


def _run(args: argparse.Namespace) -> int:
    from fteval.api import run
    from fteval.compare.gate import Requirement
    from fteval.config import build_config, load_config_file

    for text in args.require:  # a typo must not cost a whole evaluation
        Requirement.parse(text)
    overrides = _run_overrides(args)
    config = (
        load_config_file(args.config, overrides)
        if args.config
        else build_config(overrides, source="flags")
    )
    results = run(config, progress=not args.quiet)
    _print_results(results, as_json=args.json)
    return _gate(results, fail_on=config.fail_on, require=args.require)


def _parse_margins(values: list[str]) -> dict[str, float]:
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


def _gate(results: dict[str, Any], *, fail_on: str, require: Sequence[str]) -> int:
    from fteval.compare.gate import check

    failures = check(results, fail_on=fail_on, require=require)
    for failure in failures:
        print(f"fteval: gate: {failure}", file=sys.stderr)
    return EXIT_GATE if failures else EXIT_OK


def _add_score(sub: Any) -> None:
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
    score.add_argument("--timeout", type=float, default=3.0, help="seconds per program (code)")
    score.add_argument("--workers", type=int, help="parallel programs (code; default: CPU count)")
    score.add_argument(
        "--allow-unsafe-execution",
        action="store_true",
        help="run code WITHOUT isolation when bubblewrap is missing",
    )
    score.add_argument("--out", help="run directory (default runs/<UTC time>)")
    score.add_argument("--seed", type=int, default=0, help="statistics seed")
    _add_stats_flags(score)
    score.add_argument("--json", action="store_true")
    score.set_defaults(handler=_score)


def _score_stats(args: argparse.Namespace) -> Any:
    from fteval.compare import StatsOptions

    values = {"seed": args.seed}
    for key, field in (
        ("bootstrap_resamples", "n_resamples"),
        ("permutations", "n_permutations"),
        ("ci_method", "ci_method"),
        ("correction", "correction"),
        ("alpha", "alpha"),
        ("confidence", "confidence"),
    ):
        if getattr(args, key) is not None:
            values[field] = getattr(args, key)
    return StatsOptions(**values)


def _score(args: argparse.Namespace) -> int:
    from fteval.errors import ConfigError
    from fteval.scorefile import ScoreOptions, parse_file_args, score_files

    files = parse_file_args(args.files)
    if args.problems:
        from fteval.scorecode import score_code_files

        results, run_dir = score_code_files(
            files,
            args.problems,
            k=args.k or (1, 10, 100),
            timeout_s=args.timeout,
            max_workers=args.workers,
            allow_unsafe=args.allow_unsafe_execution,
            out=args.out,
            stats_options=_score_stats(args),
        )
    else:
        if not args.metric:
            raise ConfigError("fteval score needs at least one --metric (or --problems for code)")
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
            labels=tuple(x.strip() for x in args.labels.split(",")) if args.labels else (),
        )
        results, run_dir = score_files(
            files, options, out=args.out, stats_options=_score_stats(args)
        )
    _print_results({**results, "run_dir": str(run_dir)}, as_json=args.json)
    return EXIT_OK


def _add_check(sub: Any) -> None:
    check = sub.add_parser("check", help="CI gate over a results.json (exit 3 when it fails)")
    check.add_argument("results", help="results.json or a run directory")
    check.add_argument("--fail-on", choices=["regression", "none"], default="regression")
    check.add_argument("--require", action="append", default=[], metavar="TASK[/METRIC][@ARM]=WANT")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
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
    code = _gate(results, fail_on=args.fail_on, require=args.require)
    if code == EXIT_OK:
        print(f"fteval: gate passed ({path})")
    return code


def _print_results(results: dict[str, Any], *, as_json: bool) -> None:
    from fteval.records import dumps
    from fteval.report import render_terminal

    table = render_terminal(results, results.get("run_dir"))
    if as_json:
        print(table, file=sys.stderr, end="")
        print(dumps(results, indent=2))
    else:
        print(table, end="")


def _add_split(sub: Any) -> None:
    from fteval.data.split_command import add_split_parser

    add_split_parser(sub)


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser("demo", help="build toy models offline and run the three-way evaluation")
    demo.add_argument("--out", help="run directory (default: a fresh folder under runs/)")
    demo.add_argument("--cache-dir", help="where the demo models are built (default: user cache)")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from fteval.demo import run_demo

    results = run_demo(out=args.out, cache_dir=args.cache_dir, progress=not args.quiet)
    _print_results(results, as_json=args.json)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

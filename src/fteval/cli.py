"""The ``fteval`` command: a thin layer over the Python API.

Exit codes: 0 success; 1 unexpected internal error; 2 bad input, config or model
(the message names what and where); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from fteval.errors import FtevalError
from fteval.version import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    run.add_argument("--json", action="store_true", help="print the results object on stdout")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=_run)


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from fteval.config import parse_adapter_flags

    values: dict[str, Any] = {}
    if args.base:
        values["base"] = args.base
    if args.adapter:
        values["adapters"] = parse_adapter_flags(args.adapter)
    if args.task:
        values["tasks"] = args.task
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
    ):
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    return values


def _run(args: argparse.Namespace) -> int:
    from fteval.api import run
    from fteval.config import build_config, load_config_file

    overrides = _run_overrides(args)
    config = (
        load_config_file(args.config, overrides)
        if args.config
        else build_config(overrides, source="flags")
    )
    results = run(config, progress=not args.quiet)
    _print_results(results, as_json=args.json)
    return EXIT_OK


def _print_results(results: dict[str, Any], *, as_json: bool) -> None:
    from fteval.records import dumps
    from fteval.report import render_terminal

    table = render_terminal(results, results.get("run_dir"))
    if as_json:
        print(table, file=sys.stderr, end="")
        print(dumps(results, indent=2))
    else:
        print(table, end="")


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

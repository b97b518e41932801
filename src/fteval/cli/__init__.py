"""The ``fteval`` command: a thin layer over the Python API, one module per subcommand.

Exit codes: 0 success; 1 unexpected internal error; 2 bad input, config or model
(the message names what and where); 3 the CI gate failed (``--fail-on``, ``--require``,
``fteval check``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from fteval.cli import check, demo, run, score, split
from fteval.cli._common import EXIT_INTERRUPTED, EXIT_USER
from fteval.errors import FtevalError
from fteval.version import __version__

COMMANDS = (run, score, check, split, demo)  # each module registers itself: add_parser(sub)


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
    for command in COMMANDS:
        command.add_parser(sub)
    return parser

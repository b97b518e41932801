"""Run one program: spawn, capture capped output, enforce the timeout, classify the end.

The launcher (``_launcher.py``) runs inside the sandbox and enforces the limits and the
wall-clock timeout itself; this side is the backstop. It reads stdout and stderr with a
byte cap (a program that writes more is killed: flooding can neither exhaust memory nor
block on a full pipe) and kills the whole tree when the launcher does not finish in time:

* with bubblewrap, it SIGKILLs the launcher, PID 1 of the sandbox's PID namespace (its
  host PID comes from bwrap's ``--info-fd``), which makes the kernel kill everything in
  the namespace, then bwrap's process group;
* without, it sends SIGTERM to the launcher, a child subreaper that then kills all its
  descendants (``setsid`` ones included), then SIGKILLs the process group.

If fteval itself dies, the launcher sees its status pipe lose its reader and kills the
program (see ``_launcher._wait``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fteval.sandbox import _bwrap
from fteval.sandbox._types import ExecutionResult, Isolation, Outcome, SandboxLimits

logger = logging.getLogger(__name__)

# Seconds the parent waits past the timeout before killing from outside (the launcher
# normally ends the run itself at the timeout; bwrap and interpreter start-up come first).
_BACKSTOP_S = 3.0
# Seconds to wait for the sandbox's processes to be gone after a kill (pipes reach EOF).
_REAP_S = 5.0
_STATUS_CAP = 64 * 1024
_CHUNK = 64 * 1024
# Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE raises OSError(EFBIG) instead.
_FILE_TOO_LARGE = "[Errno 27] File too large"
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


@dataclass(frozen=True)
class RunPlan:
    """How programs are run: with a bwrap plan, or directly (``isolation == none``).

    Attributes:
        isolation: ``bubblewrap`` or ``none``.
        python: the interpreter used inside.
        bwrap: the bwrap plan, None without isolation.
    """

    isolation: Isolation
    python: str
    bwrap: _bwrap.BwrapPlan | None


@cache
def _launcher_source() -> str:
    return (Path(__file__).with_name("_launcher.py")).read_text(encoding="utf-8")


def _launcher_config(
    plan: RunPlan, limits: SandboxLimits, program: str, *, exit_fails: bool
) -> dict[str, Any]:
    as_root = plan.bwrap is not None and plan.bwrap.as_root
    return {
        "program": program,
        "exit_fails": exit_fails,
        "timeout_s": limits.timeout_s,
        "drop_to": list(_bwrap.NOBODY) if as_root else None,
        # Without a PID namespace the parent stops a run through the launcher.
        "term_kills_tree": plan.bwrap is None,
        "limits": {
            "cpu_s": limits.cpu_limit_s,
            "as_bytes": limits.memory_mb * 1024 * 1024,
            "nproc": limits.max_processes,
            "fsize_bytes": limits.max_file_mb * 1024 * 1024,
            "nofile": limits.max_open_files,
        },
    }


def run_program(
    plan: RunPlan, source: str, limits: SandboxLimits, *, exit_fails: bool = False
) -> ExecutionResult:
    """Run ``source`` as a Python script under ``plan`` and ``limits``.

    Args:
        plan: how to run (see :class:`RunPlan`).
        source: the program text.
        limits: resource limits.
        exit_fails: count a ``SystemExit`` before the program's end as a failure.

    Returns:
        The result; never raises for anything the program does.
    """
    fds = _Fds()
    work_dir: str | None = None
    try:
        status_w = fds.pipe("status")
        if plan.bwrap is not None:
            argv = _bwrap_argv(plan, plan.bwrap, source, limits, fds, status_w, exit_fails)
            cwd = "/"
        else:
            work_dir = tempfile.mkdtemp(prefix="fteval-unsafe-")
            argv = _direct_argv(plan, source, limits, status_w, work_dir, exit_fails)
            cwd = work_dir
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=tuple(fds.child),
                close_fds=True,
                start_new_session=True,
                env=dict(_bwrap.SANDBOX_ENV),
                cwd=cwd,
            )
        except OSError as error:
            return _unavailable(plan, f"cannot start {argv[0]}: {error}", start)
        fds.close_child_ends()
        capture = _capture(proc, plan, limits, fds, start)
        return _classify(capture, plan, limits)
    finally:
        fds.close_all()
        if work_dir is not None:
            shutil.rmtree(work_dir, ignore_errors=True)


class _Fds:
    """File descriptors of one run: read ends we keep, ends the child inherits."""

    def __init__(self) -> None:
        self.read: dict[str, int] = {}
        self.child: list[int] = []

    def pipe(self, name: str) -> int:
        """Make a pipe; keep its read end as ``name``; return the write end (child's)."""
        read_end, write_end = os.pipe()
        self.read[name] = read_end
        self.child.append(write_end)
        return write_end

    def close_child_ends(self) -> None:
        for fd in self.child:
            _close_quietly(fd)
        self.child = []

    def close_all(self) -> None:
        self.close_child_ends()
        for fd in self.read.values():
            _close_quietly(fd)
        self.read = {}


def _bwrap_argv(
    plan: RunPlan,
    bwrap_plan: _bwrap.BwrapPlan,
    source: str,
    limits: SandboxLimits,
    fds: _Fds,
    status_fd: int,
    exit_fails: bool,
) -> list[str]:
    program_fd = os.memfd_create("fteval-program")
    fds.child.append(program_fd)
    _write_all(program_fd, source.encode("utf-8", errors="surrogateescape"))
    os.lseek(program_fd, 0, os.SEEK_SET)
    info_fd = fds.pipe("info")
    config = _launcher_config(plan, limits, _bwrap.PROGRAM_PATH, exit_fails=exit_fails)
    tail = [plan.python, "-I", "-c", _launcher_source(), str(status_fd), json.dumps(config)]
    return _bwrap.command(
        bwrap_plan,
        tmpfs_bytes=limits.tmpfs_mb * 1024 * 1024,
        program_fd=program_fd,
        info_fd=info_fd,
        tail=tail,
    )


def _direct_argv(
    plan: RunPlan,
    source: str,
    limits: SandboxLimits,
    status_fd: int,
    work_dir: str,
    exit_fails: bool,
) -> list[str]:
    program = os.path.join(work_dir, "program.py")
    with open(program, "wb") as f:
        f.write(source.encode("utf-8", errors="surrogateescape"))
    config = _launcher_config(plan, limits, program, exit_fails=exit_fails)
    return [plan.python, "-I", "-c", _launcher_source(), str(status_fd), json.dumps(config)]


@dataclass
class _Capture:
    """Raw facts about one run, before classification."""

    returncode: int | None
    duration_s: float
    stdout: bytes
    stderr: bytes
    stdout_total: int
    stderr_total: int
    status: dict[str, Any] | None
    killed_for: str | None  # "timeout" | "output_limit" | None


class _Reader:
    """Reads the child's pipes without blocking: output capped, small side channels."""

    def __init__(self, proc: subprocess.Popen[bytes], fds: _Fds, cap: int) -> None:
        if proc.stdout is None or proc.stderr is None:
            raise RuntimeError("the sandbox process was started without output pipes")
        self.names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr"}
        self.names.update({fd: name for name, fd in fds.read.items()})
        self.data = {name: bytearray() for name in self.names.values()}
        self.totals = dict.fromkeys(self.data, 0)
        self.cap = cap
        self.selector = selectors.DefaultSelector()
        for fd in self.names:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)

    @property
    def open(self) -> bool:
        return bool(self.selector.get_map())

    def poll(self, timeout_s: float) -> bool:
        """Read what is there (waiting up to ``timeout_s``); True when output overflowed."""
        overflow = False
        for key, _ in self.selector.select(timeout=max(0.0, timeout_s)):
            try:
                chunk = os.read(key.fd, _CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(key.fd)
                continue
            name = self.names[key.fd]
            cap = self.cap if name in ("stdout", "stderr") else _STATUS_CAP
            self.totals[name] += len(chunk)
            self.data[name] += chunk[: max(0, cap - len(self.data[name]))]
            overflow = overflow or (name in ("stdout", "stderr") and self.totals[name] > cap)
        return overflow

    def close(self) -> None:
        self.selector.close()


def _capture(
    proc: subprocess.Popen[bytes],
    plan: RunPlan,
    limits: SandboxLimits,
    fds: _Fds,
    start: float,
) -> _Capture:
    reader = _Reader(proc, fds, limits.max_output_bytes)
    deadline = start + limits.timeout_s + _BACKSTOP_S
    killed_for: str | None = None
    kill_deadline: float | None = None
    try:
        while reader.open:
            now = time.monotonic()
            if killed_for is None and now >= deadline:
                killed_for = "timeout"
                kill_deadline = _kill(proc, plan, reader)
            if kill_deadline is not None and now >= kill_deadline:
                break  # the tree is dead or unkillable; stop waiting for EOF
            overflow = reader.poll(min((kill_deadline or deadline) - now, 1.0))
            if overflow and killed_for is None:
                killed_for = "output_limit"
                kill_deadline = _kill(proc, plan, reader)
    finally:
        reader.close()
    returncode = _wait(proc, plan, reader)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return _Capture(
        returncode=returncode,
        duration_s=time.monotonic() - start,
        stdout=bytes(reader.data["stdout"]),
        stderr=bytes(reader.data["stderr"]),
        stdout_total=reader.totals["stdout"],
        stderr_total=reader.totals["stderr"],
        status=_parse_status(bytes(reader.data["status"])),
        killed_for=killed_for,
    )


def _kill(proc: subprocess.Popen[bytes], plan: RunPlan, reader: _Reader) -> float:
    """Kill the run's whole process tree; return the deadline for its pipes to close."""
    if plan.bwrap is not None:
        # The launcher is PID 1 of the sandbox: killing it kills the whole namespace.
        info = _parse_status(bytes(reader.data.get("info", b"")))
        child_pid = info.get("child-pid") if info else None
        # Only a direct child of our bwrap: never signal a PID that may have been reused.
        if isinstance(child_pid, int) and _parent_of(child_pid) == proc.pid:
            _signal_quietly(child_pid, signal.SIGKILL)
    else:
        # The launcher kills its descendants (setsid ones included) on SIGTERM.
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    return time.monotonic() + _REAP_S


def _wait(proc: subprocess.Popen[bytes], plan: RunPlan, reader: _Reader) -> int | None:
    try:
        return proc.wait(timeout=_REAP_S)
    except subprocess.TimeoutExpired:
        _kill(proc, plan, reader)
        try:
            return proc.wait(timeout=_REAP_S)
        except subprocess.TimeoutExpired:
            logger.error("process %d did not die after SIGKILL", proc.pid)
            return None


def _parent_of(pid: int) -> int | None:
    """The parent PID of ``pid`` from /proc, None when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rfind(b")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _signal_quietly(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _parse_status(data: bytes) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        status = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return status if isinstance(status, dict) else None


def _classify(cap: _Capture, plan: RunPlan, limits: SandboxLimits) -> ExecutionResult:
    status = cap.status or {}
    exit_code = status.get("exit_code") if cap.status else None
    sig = status.get("signal") if cap.status else None
    cpu_s = status.get("cpu_s") if cap.status else None
    stderr_text = cap.stderr.decode("utf-8", errors="replace")
    outcome, detail = _decide(cap, status, exit_code, sig, cpu_s, stderr_text, plan, limits)
    notes = status.get("notes") or []
    if notes:
        detail += "; " + "; ".join(str(n) for n in notes)
    stdout_text = cap.stdout.decode("utf-8", errors="replace")
    keep = limits.excerpt_chars
    stdout = stdout_text[:keep]
    stderr = stderr_text[-keep:] if keep else ""
    return ExecutionResult(
        outcome=outcome,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        signal=sig if isinstance(sig, int) else None,
        duration_s=cap.duration_s,
        cpu_s=float(cpu_s) if isinstance(cpu_s, (int, float)) else None,
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=len(stdout) < len(stdout_text) or cap.stdout_total > len(cap.stdout),
        stderr_truncated=len(stderr) < len(stderr_text) or cap.stderr_total > len(cap.stderr),
        isolation=plan.isolation,
        detail=detail,
    )


def _decide(
    cap: _Capture,
    status: dict[str, Any],
    exit_code: Any,
    sig: Any,
    cpu_s: Any,
    stderr: str,
    plan: RunPlan,
    limits: SandboxLimits,
) -> tuple[Outcome, str]:
    if cap.killed_for == "output_limit":
        return Outcome.OUTPUT_LIMIT, f"wrote more than {limits.max_output_bytes} bytes; killed"
    if cap.killed_for == "timeout" or status.get("timed_out"):
        return Outcome.TIMEOUT, f"wall-clock timeout after {limits.timeout_s:g} s; killed"
    if cap.status is None:
        first = stderr.strip().splitlines()[:1]
        if plan.bwrap is not None and first and first[0].startswith("bwrap:"):
            return Outcome.SANDBOX_UNAVAILABLE, f"bubblewrap failed: {first[0]}"
        return Outcome.CRASH, f"the launcher ended without a report (exit {cap.returncode})"
    if isinstance(sig, int):
        return _decide_signal(sig, cpu_s, stderr, limits)
    if exit_code == 0 and status.get("completed") is False:
        return Outcome.FAILED, "exit status 0 before the program's end (os._exit or an exit hook)"
    if exit_code == 0:
        return Outcome.PASSED, "exit status 0"
    if exit_code == 127 and "fteval launcher:" in stderr:
        return Outcome.CRASH, "the program could not be started"
    if _mentions_memory(stderr):
        return Outcome.OOM, f"exit status {exit_code} after running out of memory"
    if _FILE_TOO_LARGE in stderr[-4000:]:
        return Outcome.OUTPUT_LIMIT, f"file-size limit of {limits.max_file_mb} MiB reached"
    return Outcome.FAILED, f"exit status {exit_code}"


def _decide_signal(sig: int, cpu_s: Any, stderr: str, limits: SandboxLimits) -> tuple[Outcome, str]:
    name = _signal_name(sig)
    cpu_limit = limits.cpu_limit_s
    used = float(cpu_s) if isinstance(cpu_s, (int, float)) else math.nan
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and used >= cpu_limit - 0.05):
        return Outcome.TIMEOUT, f"CPU-time limit of {cpu_limit} s reached ({name})"
    if sig == signal.SIGXFSZ:
        return Outcome.OUTPUT_LIMIT, f"file-size limit of {limits.max_file_mb} MiB reached"
    if _mentions_memory(stderr):
        return Outcome.OOM, f"killed by {name} after running out of memory"
    return Outcome.CRASH, f"killed by {name}"


def _mentions_memory(stderr: str) -> bool:
    tail = stderr[-4000:]
    return any(marker in tail for marker in _MEMORY_MARKERS)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _unavailable(plan: RunPlan, why: str, start: float) -> ExecutionResult:
    return ExecutionResult(
        outcome=Outcome.SANDBOX_UNAVAILABLE,
        exit_code=None,
        signal=None,
        duration_s=time.monotonic() - start,
        cpu_s=None,
        stdout="",
        stderr="",
        stdout_truncated=False,
        stderr_truncated=False,
        isolation=plan.isolation,
        detail=why,
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)

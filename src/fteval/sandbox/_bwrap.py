"""The bubblewrap command line: namespaces, a read-only minimal root, a private tmpfs.

What the sandboxed program sees:

* ``/usr``, ``/bin``, ``/sbin``, ``/lib*`` (symlinks kept as symlinks), a few files of
  ``/etc`` the dynamic linker and ``time`` need, and the Python installation, all bound
  read-only at their own paths. Nothing else of the host: no home directories, no
  ``/work``, no ``/tmp`` of the host, no sockets in ``/run``.
* ``/tmp``: a private tmpfs of ``tmpfs_mb`` MiB, the work directory, holding the program
  as ``/tmp/program.py`` (read-only).
* A fresh ``/proc`` (its own PID namespace: only the sandbox's processes), a minimal
  ``/dev`` (null, zero, random, urandom, tty...).
* Its own network namespace (no interfaces but a down loopback), IPC, UTS and cgroup
  namespaces, a new session (no terminal injection), a cleared environment.

Two modes, chosen by who runs fteval:

* **Unprivileged** (fteval runs as a normal user): bwrap creates a user namespace; the
  program runs as the user's own uid, for which RLIMIT_NPROC is enforced and counted in
  that namespace only. Nested user namespaces are disabled.
* **Root** (fteval runs as uid 0, common in containers): RLIMIT_NPROC is not enforced for
  uid 0 and a bwrap user namespace would map the program back to uid 0, so bwrap runs in
  its privileged mode, keeps only CAP_SETUID/CAP_SETGID, and the launcher drops to
  ``nobody`` (65534) inside a user namespace of its own (see ``_launcher``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

ENV_BWRAP = "FTEVAL_BWRAP"
WORK_DIR = "/tmp"
PROGRAM_PATH = "/tmp/program.py"
NOBODY = (65534, 65534)

_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_PATHS = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
)
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORK_DIR,
    "TMPDIR": WORK_DIR,
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}


@dataclass(frozen=True)
class BwrapPlan:
    """Everything needed to build one sandbox command, computed once per ``Sandbox``.

    Attributes:
        bwrap: absolute path of the bwrap binary.
        python: the interpreter run inside (a real file, symlinks resolved).
        as_root: True for the root mode (privileged bwrap, launcher drops to nobody).
        system_mounts: mount arguments for the system directories (before /tmp).
        python_mounts: mount arguments for the Python installation (after /tmp, so that
            an installation under /tmp is bound on top of the private tmpfs).
    """

    bwrap: str
    python: str
    as_root: bool
    system_mounts: tuple[str, ...]
    python_mounts: tuple[str, ...]


def find_bwrap(path: str | None = None) -> str | None:
    """The bwrap binary to use: ``path``, else ``$FTEVAL_BWRAP``, else ``bwrap`` on PATH.

    Returns:
        An absolute path to an executable file, or None when there is none.
    """
    candidate = path if path is not None else os.environ.get(ENV_BWRAP)
    if candidate is None:
        return shutil.which("bwrap")
    if not candidate:
        return None
    found = shutil.which(candidate) if os.sep not in candidate else candidate
    if found and os.path.isfile(found) and os.access(found, os.X_OK):
        return os.path.abspath(found)
    return None


def resolve_python(python: str | None = None) -> tuple[str, tuple[str, ...]]:
    """The interpreter to run programs with, and the directories it needs.

    Args:
        python: an interpreter path; None means the one running fteval (outside any
            virtual environment: the sandbox gets the standard library only).

    Returns:
        (interpreter path with symlinks resolved, installation prefixes to bind).
    """
    if python is None:
        exe = os.path.realpath(sys.executable)
        prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    else:
        found = shutil.which(python) or python
        exe = os.path.realpath(found)
        prefixes = {os.path.dirname(os.path.dirname(exe))}
    if not any(_is_under(exe, p) for p in prefixes):
        prefixes.add(os.path.dirname(exe))
    return exe, tuple(sorted(prefixes))


def plan(bwrap: str, python: str | None = None) -> BwrapPlan:
    """Compute the mount arguments for ``python`` under ``bwrap``."""
    exe, prefixes = resolve_python(python)
    system: list[str] = []
    for path in _SYSTEM_PATHS:
        if os.path.islink(path):
            system += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            system += ["--ro-bind", path, path]
    for path in _ETC_PATHS:
        system += ["--ro-bind-try", path, path]
    mounts: list[str] = []
    made_dirs = {WORK_DIR}
    bound = [p for p in _SYSTEM_PATHS if os.path.isdir(p) and not os.path.islink(p)]
    for prefix in prefixes:
        if any(_is_under(prefix, b) for b in bound):
            continue
        # bwrap would create missing parents with the host's modes (/root is 0700), which
        # an unprivileged program could not traverse: create them world-traversable.
        for parent in _parents(prefix):
            if parent not in made_dirs:
                mounts += ["--perms", "0755", "--dir", parent]
                made_dirs.add(parent)
        mounts += ["--ro-bind", prefix, prefix]
        bound.append(prefix)
    return BwrapPlan(
        bwrap=bwrap,
        python=exe,
        as_root=os.geteuid() == 0,
        system_mounts=tuple(system),
        python_mounts=tuple(mounts),
    )


def command(
    plan: BwrapPlan, *, tmpfs_bytes: int, program_fd: int, info_fd: int, tail: Sequence[str]
) -> list[str]:
    """The full bwrap argv: namespaces, mounts, environment, then ``tail`` (the launcher).

    The launcher runs as PID 1 of the sandbox's PID namespace (``--as-pid-1``): it reaps
    orphans itself, cannot be signalled by the program, and when it ends the kernel kills
    everything left in the namespace. bwrap's outer process then reaps it, so no zombie
    is left to the host's init.

    Args:
        plan: from :func:`plan`.
        tmpfs_bytes: size of the private /tmp in bytes.
        program_fd: a readable fd holding the program text (copied to PROGRAM_PATH).
        info_fd: a writable fd; bwrap writes ``{"child-pid": N}`` (the launcher's host
            PID) to it, so the parent can kill the namespace directly.
        tail: the command run inside, starting with the interpreter.
    """
    argv = [plan.bwrap]
    argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--hostname", "sandbox"]
    if plan.as_root:
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--disable-userns"]
    argv += ["--as-pid-1", "--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--info-fd", str(info_fd)]
    for key, value in SANDBOX_ENV.items():
        argv += ["--setenv", key, value]
    argv += plan.system_mounts
    argv += ["--perms", "1777", "--size", str(tmpfs_bytes), "--tmpfs", WORK_DIR]
    argv += plan.python_mounts
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "0444", "--ro-bind-data", str(program_fd), PROGRAM_PATH]
    argv += ["--chdir", WORK_DIR, "--", *tail]
    return argv


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _parents(path: str) -> list[str]:
    """Proper ancestors of ``path`` from the top down, ``/`` excluded."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]

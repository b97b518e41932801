"""Result, limit and error types of the sandbox."""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass
from typing import Any

from fteval.errors import FtevalError

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install bubblewrap: 'apt-get install bubblewrap' (Debian/Ubuntu), "
    "'dnf install bubblewrap' (Fedora/RHEL), 'pacman -S bubblewrap' (Arch), "
    "'zypper install bubblewrap' (openSUSE) or 'apk add bubblewrap' (Alpine)"
)


class Outcome(str, enum.Enum):
    """What happened to one program. Exactly one applies.

    * ``passed``: exited with status 0.
    * ``failed``: exited with a non-zero status (an assertion or any uncaught exception,
      a syntax error included; with ``exit_fails`` also a ``sys.exit()`` call).
    * ``timeout``: ran past the wall-clock timeout or its CPU-time limit; killed.
    * ``oom``: ran out of address space (``MemoryError`` or an allocation failure).
    * ``output_limit``: wrote more than the stdout/stderr cap, or a file past the
      file-size limit; killed.
    * ``crash``: killed by a signal not explained above (segfault, abort...), or the
      launcher inside the sandbox failed.
    * ``sandbox_unavailable``: the sandbox itself could not be set up for this program.
    """

    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    OOM = "oom"
    OUTPUT_LIMIT = "output_limit"
    CRASH = "crash"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"


class Isolation(str, enum.Enum):
    """How a program was isolated: ``bubblewrap`` or ``none`` (rlimits + timeout only)."""

    BUBBLEWRAP = "bubblewrap"
    NONE = "none"


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits applied to every program.

    Attributes:
        timeout_s: wall-clock limit in seconds (> 0); the whole process tree is killed.
        cpu_s: CPU-time limit in seconds (RLIMIT_CPU, whole seconds, rounded up); None
            means ``ceil(timeout_s)``.
        memory_mb: address-space limit in MiB (RLIMIT_AS, >= 64).
        max_processes: processes/threads the program may have at once (RLIMIT_NPROC,
            >= 2; the launcher inside the sandbox counts as one).
        max_file_mb: largest file the program may write, in MiB (RLIMIT_FSIZE, >= 1).
        max_open_files: open file descriptors (RLIMIT_NOFILE, >= 16).
        max_output_bytes: bytes captured per stream (stdout, stderr); a program that writes
            more is killed with outcome ``output_limit`` (>= 1024).
        excerpt_chars: characters of stdout (head) and stderr (tail) kept in a result.
        tmpfs_mb: size of the private writable work dir in MiB (bubblewrap only).
    """

    timeout_s: float = 10.0
    cpu_s: float | None = None
    memory_mb: int = 1024
    max_processes: int = 32
    max_file_mb: int = 16
    max_open_files: int = 128
    max_output_bytes: int = 256 * 1024
    excerpt_chars: int = 2000
    tmpfs_mb: int = 64

    def __post_init__(self) -> None:
        checks = [
            ("timeout_s", self.timeout_s, self.timeout_s > 0 and math.isfinite(self.timeout_s)),
            ("cpu_s", self.cpu_s, self.cpu_s is None or self.cpu_s > 0),
            ("memory_mb", self.memory_mb, self.memory_mb >= 64),
            ("max_processes", self.max_processes, self.max_processes >= 2),
            ("max_file_mb", self.max_file_mb, self.max_file_mb >= 1),
            ("max_open_files", self.max_open_files, self.max_open_files >= 16),
            ("max_output_bytes", self.max_output_bytes, self.max_output_bytes >= 1024),
            ("excerpt_chars", self.excerpt_chars, self.excerpt_chars >= 0),
            ("tmpfs_mb", self.tmpfs_mb, self.tmpfs_mb >= 1),
        ]
        for name, value, ok in checks:
            if not ok:
                raise ValueError(f"SandboxLimits.{name}: out of range (value: {value!r})")

    @property
    def cpu_limit_s(self) -> int:
        """The RLIMIT_CPU soft limit actually applied, in whole seconds (>= 1)."""
        return max(1, math.ceil(self.cpu_s if self.cpu_s is not None else self.timeout_s))


@dataclass(frozen=True)
class ExecutionResult:
    """What happened when one program ran.

    Attributes:
        outcome: exactly one :class:`Outcome`.
        exit_code: the program's exit status (0-255), or None when it was killed by a
            signal or never started.
        signal: the number of the signal that killed the program, or None.
        duration_s: wall-clock seconds from launch to the end of the process tree.
        cpu_s: CPU seconds (user + system) of the program, None when unknown.
        stdout: the first ``excerpt_chars`` characters of stdout (UTF-8, errors replaced).
        stderr: the last ``excerpt_chars`` characters of stderr.
        stdout_truncated: True when ``stdout`` is shorter than what the program wrote.
        stderr_truncated: True when ``stderr`` is shorter than what the program wrote.
        isolation: ``bubblewrap`` or ``none``.
        detail: one line saying why the outcome was chosen (``exit status 1``,
            ``wall-clock timeout after 10.0 s``...).
    """

    outcome: Outcome
    exit_code: int | None
    signal: int | None
    duration_s: float
    cpu_s: float | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    isolation: Isolation
    detail: str

    @property
    def passed(self) -> bool:
        """True when the outcome is ``passed``."""
        return self.outcome is Outcome.PASSED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as their string values)."""
        return {
            "outcome": self.outcome.value,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "duration_s": round(self.duration_s, 4),
            "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 4),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "isolation": self.isolation.value,
            "detail": self.detail,
        }


class SandboxUnavailableError(FtevalError):
    """bubblewrap is missing or unusable and unsafe execution was not allowed.

    Args:
        reason: why the sandbox cannot be used (missing binary, failed probe...).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"refusing to execute generated code: bubblewrap (bwrap) is needed to isolate it, "
            f"but {reason}. To fix, {INSTALL_HINT}; if bwrap is installed but fails, user "
            f"namespaces may be disabled (check 'sysctl user.max_user_namespaces' and, on "
            f"Ubuntu 24.04+, 'kernel.apparmor_restrict_unprivileged_userns'). To run the "
            f"code WITHOUT isolation (resource limits and a timeout only), pass "
            f"allow_unsafe=True (CLI: --allow-unsafe-execution)"
        )

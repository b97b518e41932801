"""Safe execution of generated code: each program in its own bubblewrap sandbox.

See docs/sandbox.md for what is isolated, the limits, and what is not contained.

Public API:

* :class:`Sandbox` runs programs (``run``, ``run_many``) and refuses to start without a
  working bubblewrap unless ``allow_unsafe=True``.
* :class:`SandboxLimits`, :class:`ExecutionResult`, :class:`Outcome`,
  :class:`Isolation`, :class:`SandboxUnavailableError`, :func:`probe_bubblewrap`.
* :mod:`fteval.sandbox.humaneval`: scoring of HumanEval-format problem and sample files
  (``evaluate_code_samples``).
"""

from fteval.sandbox._sandbox import Sandbox, probe_bubblewrap
from fteval.sandbox._types import (
    ExecutionResult,
    Isolation,
    Outcome,
    SandboxLimits,
    SandboxUnavailableError,
)
from fteval.sandbox.humaneval import CodeEvalResult, evaluate_code_samples

__all__ = [
    "CodeEvalResult",
    "ExecutionResult",
    "Isolation",
    "Outcome",
    "Sandbox",
    "SandboxLimits",
    "SandboxUnavailableError",
    "evaluate_code_samples",
    "probe_bubblewrap",
]

"""Error types. Every message names where the problem is and the offending value."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class FtevalError(Exception):
    """Base class for errors fteval reports to the user (exit code 2 on the CLI)."""


class ConfigError(FtevalError):
    """A run configuration or task file is invalid."""


class InputError(FtevalError):
    """A data row is invalid. The message names file, row, field and value.

    Args:
        path: the file the row came from.
        row: 1-based data row number (for JSONL, the line number); None for file-level problems.
        field: the field at fault, or None.
        problem: what is wrong, in words.
        value: the offending value (shown with repr, truncated to 80 characters).
    """

    _MISSING = object()

    def __init__(
        self,
        path: str | Path,
        row: int | None,
        field: str | None,
        problem: str,
        value: Any = _MISSING,
    ) -> None:
        self.path = str(path)
        self.row = row
        self.field = field
        self.problem = problem
        self.value = value
        where = [self.path]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        message = f"{', '.join(where)}: {problem}"
        if value is not InputError._MISSING:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            message += f" (value: {shown})"
        super().__init__(message)


class BackendError(FtevalError):
    """A model could not be loaded or served as asked."""


class AdapterError(BackendError):
    """An adapter does not fit its base, or does not change the model's outputs."""


class OutputError(FtevalError):
    """A record could not be written (disk full, permissions...); older files are intact."""


class MissingDependencyError(FtevalError):
    """A dependency is not installed; the message says what to install.

    Args:
        package: the distribution that is missing (a pip name).
        extra: the fteval extra that installs it (one of pyproject's
            ``optional-dependencies``), or None for a core dependency (then the package
            itself is named).
        purpose: what needs it, e.g. ``"BLEU"``.
    """

    def __init__(self, package: str, extra: str | None, purpose: str) -> None:
        install = f"pip install 'fteval[{extra}]'" if extra else f"pip install '{package}'"
        super().__init__(f"{purpose} needs the '{package}' package: {install}")

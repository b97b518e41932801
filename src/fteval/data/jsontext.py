"""Strict JSON parsing: Python's json module, minus what it lets pass silently.

Python's ``json.loads`` lets a repeated key silently overwrite the first, raises
``RecursionError`` on very deep nesting and ``ValueError`` on integers of more than 4300
digits. ``loads`` refuses each with a ``JSONTextError``. ``NaN`` and ``Infinity`` (not
JSON, but what Python's ``json.dumps`` writes for missing values, so common in data
files) are accepted unless ``allow_nan=False``; numbers beyond float range then count
as infinite too.
"""

from __future__ import annotations

import json
import math
from typing import Any


class JSONTextError(ValueError):
    """Text that is not strict JSON.

    Attributes:
        message: what is wrong, without the place.
        line: 1-based line within the text, or None when not known.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line

    def located(self) -> str:
        """``"on line 3: <message>"`` when the line is known, else ``": <message>"``."""
        return f": {self.message}" if self.line is None else f" on line {self.line}: {self.message}"


class _Refused(ValueError):
    """Raised inside a json hook; carries the reason out of ``json.loads``."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value (write null, or a number as a string)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text} is too large for a 64-bit float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def loads(text: str, *, allow_nan: bool = True) -> Any:
    """Parse ``text`` as one JSON value.

    Args:
        text: the JSON text.
        allow_nan: accept ``NaN``/``Infinity`` and numbers beyond float range (as
            Python's json module does); False refuses them (strict RFC 8259).

    Raises:
        JSONTextError: malformed JSON, a key repeated within an object, an integer of
            more than 4300 digits, nesting too deep to parse, or (``allow_nan=False``)
            a non-finite number. ``line`` is set when known.
    """
    strict: dict[str, Any] = (
        {} if allow_nan else {"parse_constant": _refuse_constant, "parse_float": _finite_float}
    )
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, **strict)
    except json.JSONDecodeError as error:
        raise JSONTextError(f"{error.msg} (column {error.colno})", error.lineno) from None
    except _Refused as error:
        raise JSONTextError(str(error)) from None
    except RecursionError:
        raise JSONTextError("nested too deeply to read") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise JSONTextError(str(error)) from None

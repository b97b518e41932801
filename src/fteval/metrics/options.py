"""Metric options checked against the types their constructor declares.

Options come from YAML task files (typed values) and from the command line
(``--metric bleu:max_ngram_order=2``: every value a string). One rule turns both into
the declared type, or refuses them with a message naming the metric, the option and the
value — never a silent truthy string, never a crash deep inside a library:

* ``bool``: ``true/false/yes/no/1/0`` in any case (strings), the integers 0 and 1, or a
  boolean; anything else is refused (``normalize_whitespace=no`` is False, ``=maybe``
  is an error).
* ``int``: an integer, a string of one (``"3"``), or a float with an integral value;
  ``2.5`` is refused.
* ``float``: a number or a numeric string; NaN and infinities are refused.
* ``str``: a string (the command line's value as typed).
* ``X | None``: None (a YAML ``null``, or ``none``/``null`` typed on the command line
  when ``X`` is not ``str``), else ``X``.
* a sequence of strings: a list of strings, or one string.

Options declared ``Any`` (or with types this module does not know) pass unchanged.
"""

from __future__ import annotations

import collections.abc
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")
_NONE_WORDS = ("none", "null")


class OptionError(ValueError):
    """An option value that does not fit the declared type."""


def coerce_options(
    metric: str, constructor: Callable[..., Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """``options`` converted to the types ``constructor`` declares for them.

    Args:
        metric: the registry name, for messages.
        constructor: the metric class (its ``__init__`` hints are read) or a factory.
        options: option name -> value, as given.

    Raises:
        ValueError: a value that does not fit, naming the metric, option and value.
    """
    hints = _hints(constructor)
    out = {}
    for name, value in options.items():
        if name not in hints:
            out[name] = value
            continue
        try:
            out[name] = coerce(value, hints[name])
        except OptionError as error:
            raise ValueError(f"metric {metric!r}: option {name}={value!r}: {error}") from None
    return out


def coerce(value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` by the module's rule; ``OptionError`` if it cannot be."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _union(value, typing.get_args(hint))
    if hint is bool:
        return _bool(value)
    if hint is int:
        return _int(value)
    if hint is float:
        return _float(value)
    if hint is str:
        if not isinstance(value, str):
            raise OptionError(f"expected text, got {type(value).__name__}")
        return value
    if hint is type(None):
        if value is None:
            return None
        raise OptionError("expected null")
    if origin in (list, tuple, collections.abc.Sequence) and typing.get_args(hint)[:1] == (str,):
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise OptionError("expected text or a list of texts")
    if origin is os.PathLike or hint is os.PathLike:
        if isinstance(value, (str, os.PathLike)):
            return value
        raise OptionError("expected a path")
    return value


def _union(value: Any, members: tuple[Any, ...]) -> Any:
    non_none = [m for m in members if m is not type(None)]
    if type(None) in members:
        if value is None:
            return None
        text_ok = any(m is str for m in non_none)
        if isinstance(value, str) and value.strip().lower() in _NONE_WORDS and not text_ok:
            return None
    errors = []
    for member in _exact_first(value, non_none):
        try:
            return coerce(value, member)
        except OptionError as error:
            errors.append(str(error))
    allowed = " or ".join(_name(m) for m in members)
    raise OptionError(f"expected {allowed}")


def _exact_first(value: Any, members: list[Any]) -> list[Any]:
    """Try the member the value already is first (``"13a"`` stays text for ``str | int``)."""
    exact = [m for m in members if isinstance(m, type) and type(value) is m]
    return exact + [m for m in members if m not in exact]


def _name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", None) or str(hint)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise OptionError("expected a boolean: true/false, yes/no or 1/0")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise OptionError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise OptionError("expected an integer")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise OptionError("expected a number, got a boolean")
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise OptionError("expected a finite number")
    return number


def _hints(constructor: Callable[..., Any]) -> dict[str, Any]:
    target = constructor.__init__ if isinstance(constructor, type) else constructor  # type: ignore[misc]
    try:
        return typing.get_type_hints(target)
    except (NameError, TypeError):  # an annotation this Python cannot evaluate
        return {}

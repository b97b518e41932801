"""The one checker of named options: typed values and their ranges, by one rule.

Every option a user gives by name goes through here before any work: a built-in task's
settings (``--task-option NAME:KEY=VALUE``, a config's ``task_options``), metric options
(``--metric bleu:max_ngram_order=2``, a task file's ``metrics``; their types are the
metric constructor's hints), and the run configuration's booleans. Values arrive as
text (the command line) or typed (YAML, the Python API); the rule turns both into the
declared type, or refuses them with a message naming the option and the value — never a
truthy string, never a crash deep inside a library:

* ``bool``: ``true/false/yes/no/1/0`` in any case (strings), the integers 0 and 1, or a
  boolean; anything else is refused (``allow_unsafe=no`` is False, ``=maybe`` is an
  error). ``bool()`` of user text is never used: ``bool("false")`` is True.
* ``int``: an integer, a string of one (``"3"``), or a float with an integral value;
  ``2.5`` and booleans are refused.
* ``float``: a number or a numeric string; NaN and infinities are refused.
* ``str``: a string (the command line's value as typed).
* ``X | None``: None (a YAML ``null``, or ``none``/``null`` typed on the command line
  when ``X`` is not ``str``), else ``X``.
* a sequence of strings: a list of strings, or one string.
* ``Annotated[X, Range(...)]`` or ``Annotated[X, Choices(...)]``: ``X``, then the range
  or the allowed values.

Hints this module does not know (``Any``, classes) pass the value unchanged.
"""

from __future__ import annotations

import collections.abc
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fteval.errors import ConfigError

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
_NONE_WORDS = ("none", "null")


class OptionError(ValueError):
    """A value that does not fit its declared type or range (the message says why)."""


@dataclass(frozen=True)
class Range:
    """Bounds of a number, each optional: ``ge <= x``, ``gt < x``, ``x <= le``, ``x < lt``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, value: float) -> None:
        """Raise ``OptionError`` naming the bound ``value`` breaks."""
        for bound, ok, words in (
            (self.ge, lambda b: value >= b, ">="),
            (self.gt, lambda b: value > b, ">"),
            (self.le, lambda b: value <= b, "<="),
            (self.lt, lambda b: value < b, "<"),
        ):
            if bound is not None and not ok(bound):
                raise OptionError(f"must be {self.describe() or f'{words} {bound:g}'}")

    def describe(self) -> str:
        """The range in words, e.g. ``> 0 and <= 1``."""
        parts = [
            f"{words} {bound:g}"
            for bound, words in ((self.ge, ">="), (self.gt, ">"), (self.le, "<="), (self.lt, "<"))
            if bound is not None
        ]
        return " and ".join(parts)


@dataclass(frozen=True)
class Choices:
    """The allowed values of a text option."""

    values: tuple[str, ...]

    def check(self, value: Any) -> None:
        """Raise ``OptionError`` listing the allowed values unless ``value`` is one."""
        if value not in self.values:
            raise OptionError(f"must be one of {', '.join(map(repr, self.values))}")


Rule = Range | Choices


def parse_bool(value: Any) -> bool:
    """A boolean from the documented words only (see the module docstring).

    Raises:
        OptionError: anything else (``"maybe"``, ``"on"``, ``2``, ``None``).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise OptionError("expected a boolean: true/false, yes/no or 1/0")


def coerce(value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` by the module's rule; ``OptionError`` if it cannot be."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(hint)
        out = coerce(value, inner)
        for rule in metadata:
            if isinstance(rule, (Range, Choices)) and out is not None:
                rule.check(out)
        return out
    if origin in (typing.Union, types.UnionType):
        return _union(value, typing.get_args(hint))
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return simple(value)
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


def check_settings(
    owner: str,
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    rules: Mapping[str, Rule] | None = None,
) -> dict[str, Any]:
    """``defaults`` updated with ``given``, each value of the type of its default.

    Args:
        owner: who takes the settings, for messages (``"task 'humaneval'"``).
        given: setting -> value, as the user gave it (text or typed).
        defaults: every setting the owner takes -> its default; the default's type
            (``bool``, ``int``, ``float`` or ``str``) is the setting's type.
        rules: setting -> its range or allowed values (a ``Range`` or ``Choices``).

    Returns:
        Every setting, typed: the defaults with the given values in place.

    Raises:
        ConfigError: an unknown setting (the message lists the known ones), or a value of
            the wrong type or out of range (naming the setting and the value).
    """
    rules = rules or {}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        keys = ", ".join(sorted(defaults)) or "none"
        raise ConfigError(f"{owner} has no setting {unknown[0]!r} (settings: {keys})")
    out = dict(defaults)
    for key, value in given.items():
        hint: Any = type(defaults[key])
        if key in rules:
            hint = typing.Annotated[hint, rules[key]]
        try:
            out[key] = coerce(value, hint)
        except OptionError as error:
            raise ConfigError(f"{owner}: setting {key}={value!r}: {error}") from None
    return out


def constructor_hints(constructor: Callable[..., Any]) -> dict[str, Any]:
    """The type hints of a class's ``__init__`` (or a function), ``Annotated`` kept."""
    target = constructor.__init__ if isinstance(constructor, type) else constructor  # type: ignore[misc]
    try:
        return typing.get_type_hints(target, include_extras=True)
    except (NameError, TypeError):  # an annotation this Python cannot evaluate
        return {}


def _union(value: Any, members: tuple[Any, ...]) -> Any:
    non_none = [m for m in members if m is not type(None)]
    if type(None) in members:
        if value is None:
            return None
        text_ok = any(_base_type(m) is str for m in non_none)
        if isinstance(value, str) and value.strip().lower() in _NONE_WORDS and not text_ok:
            return None
    problems = []
    for member in _exact_first(value, non_none):
        try:
            return coerce(value, member)
        except OptionError as error:
            problems.append(str(error))
    ranged = [p for p in problems if p.startswith(("must be", "expected a finite"))]
    if ranged:  # the value had the right type but not the right size: say that
        raise OptionError(ranged[0])
    allowed = " or ".join(_name(m) for m in members)
    raise OptionError(f"expected {allowed}")


def _base_type(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Annotated:
        return typing.get_args(hint)[0]
    return hint


def _exact_first(value: Any, members: list[Any]) -> list[Any]:
    """Try the member the value already is first (``"13a"`` stays text for ``str | int``)."""
    exact = [m for m in members if isinstance(_base_type(m), type) and type(value) is _base_type(m)]
    return exact + [m for m in members if m not in exact]


def _name(hint: Any) -> str:
    hint = _base_type(hint)
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", None) or str(hint)


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
        number = float(value) if abs(value) < 1e308 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise OptionError("expected a finite number")
    return number


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise OptionError(f"expected text, got {type(value).__name__}")
    return value


_SIMPLE: dict[Any, Callable[[Any], Any]] = {bool: parse_bool, int: _int, float: _float, str: _str}

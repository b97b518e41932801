"""Metric options checked against the types their constructor declares.

Options come from YAML task files (typed values) and from the command line
(``--metric bleu:max_ngram_order=2``: every value a string). The one rule of
``fteval._util.options`` turns both into the declared type (and range, for hints written
``Annotated[int, Range(ge=1)]``), or refuses them with a message naming the metric, the
option and the value — never a silent truthy string, never a crash deep inside a
library. Options declared ``Any`` (or with types that rule does not know) pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fteval._util.options import OptionError, coerce, constructor_hints

__all__ = ["OptionError", "coerce", "coerce_options"]


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
    hints = constructor_hints(constructor)
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

"""One description of pydantic validation errors, for run configs and task files alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import ValidationError


def describe_validation_error(
    error: ValidationError, source: str, known_keys: Callable[[tuple], Iterable[str]]
) -> str:
    """One line per problem, naming the source, the key and the value.

    Args:
        error: pydantic's validation error.
        source: the file (or "flags") the values came from.
        known_keys: error location -> the keys allowed there (listed for unknown keys).
    """
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if not item["loc"]:  # a rule over several keys: its message names them
            lines.append(f"{source}: {str(item['msg']).removeprefix('Value error, ')}")
        elif item["type"] == "extra_forbidden":
            known = ", ".join(sorted(known_keys(tuple(item["loc"]))))
            lines.append(f"{source}: unknown key {key!r} (known keys: {known})")
        elif item["type"] == "missing":
            lines.append(f"{source}: missing required key {key!r}")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            lines.append(f"{source}: key {key!r}: {message} (value: {item.get('input')!r})")
    return "\n".join(lines)

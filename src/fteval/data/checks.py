"""Row checks shared by task loaders. Each failure names file, row, field and value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fteval.data.readers import Row
from fteval.errors import InputError


def require_field(path: str | Path, row: Row, field: str) -> Any:
    """The value of ``field`` in ``row``; missing or null is an ``InputError``."""
    if field not in row.fields:
        known = ", ".join(sorted(map(str, row.fields))) or "none"
        raise InputError(path, row.number, field, f"missing field (the row has: {known})")
    value = row.fields[field]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise InputError(path, row.number, field, "empty value (null or NaN)", value)
    return value


def check_unique_ids(path: str | Path, rows: Sequence[Row], field: str) -> list[str]:
    """Each row's id (as a string); a repeated id is an ``InputError``."""
    first_seen: dict[str, int] = {}
    ids = []
    for row in rows:
        value = str(require_field(path, row, field))
        if value in first_seen:
            raise InputError(
                path, row.number, field, f"duplicate id (first at row {first_seen[value]})", value
            )
        first_seen[value] = row.number
        ids.append(value)
    return ids


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def check_column_type(path: str | Path, rows: Sequence[Row], field: str) -> None:
    """A column must hold one kind of value (all numbers, all strings...).

    A mixed column usually means a broken export (``1`` in one row, ``"1"`` in the next);
    the error names the first row whose kind differs from row 1's.
    """
    first: tuple[int, str] | None = None
    for row in rows:
        value = row.fields.get(field)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue  # a missing value is require_field's to report, not a "number"
        kind = _kind(value)
        if first is None:
            first = (row.number, kind)
        elif kind != first[1]:
            raise InputError(
                path,
                row.number,
                field,
                f"mixed-type column: a {kind} here, a {first[1]} at row {first[0]}",
                value,
            )


def scalar_text(path: str | Path, row: Row, field: str, value: Any) -> str:
    """A JSON/CSV cell as text, by one rule for predictions, references and choices.

    * a string is itself (empty included: an empty generation is a valid prediction);
    * ``true``/``false`` become ``"true"``/``"false"`` (JSON's spelling);
    * an integer, or a float with an integral value, becomes its decimal digits
      (``1`` and ``1.0`` are both ``"1"``); another finite float its shortest
      round-trip form (``2.5`` is ``"2.5"``);
    * null/NaN (missing), infinities, lists and objects are an ``InputError``.

    Raises:
        InputError: naming the file, row and field.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise InputError(path, row.number, field, "empty value (null or NaN)", value)
        if math.isinf(value):
            raise InputError(path, row.number, field, "not a finite number", value)
        return str(int(value)) if value.is_integer() else repr(value)
    if value is None:
        raise InputError(path, row.number, field, "empty value (null or NaN)", value)
    raise InputError(
        path,
        row.number,
        field,
        f"expected a string, number or boolean, not a {_kind(value)}",
        value,
    )


def reference_texts(path: str | Path, row: Row, field: str) -> str | list[str]:
    """The row's reference: one text, or a non-empty list of texts (several references).

    Each value (or list item) is converted by ``scalar_text``; a list of one is one text.

    Raises:
        InputError: the field is missing or null, the list is empty, or a value is not
            a string, number or boolean.
    """
    value = require_field(path, row, field)
    if isinstance(value, (list, tuple)):
        if not value:
            raise InputError(path, row.number, field, "an empty list of references", value)
        texts = [scalar_text(path, row, field, item) for item in value]
        return texts if len(texts) > 1 else texts[0]
    return scalar_text(path, row, field, value)

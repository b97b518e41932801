"""The published JSON Schema of results.json, and checks against it.

The schema is ``docs/results.schema.json`` (shipped in the package as
``fteval/records/results.schema.json``). It checks the record contract strictly — types,
required fields, the verdict vocabulary, lists where lists belong — and allows what the
contract allows: added top-level sections and added fields. Sections other issues add
(``robustness``, ``cost``...) are checked when present.

``fteval check`` and every reader of a saved run validate with it. Setting the
environment variable ``FTEVAL_CHECK_RECORDS=1`` makes every results.json fteval writes
be validated before it is written (the test suite sets it): a writer that breaks the
contract then fails loudly, as the bug it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from fteval.errors import InputError

SCHEMA_RESOURCE = "results.schema.json"
CHECK_ENV = "FTEVAL_CHECK_RECORDS"
_SHOWN_PROBLEMS = 3
_SHOWN_CHARS = 160


@lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of results.json, as a dict."""
    text = resources.files("fteval.records").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = results_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def results_problems(results: Any) -> list[str]:
    """Every way ``results`` breaks the schema, as ``"<json path>: <problem>"`` lines.

    Returns:
        An empty list when ``results`` is valid; else one line per problem, ordered by
        place in the document (shallowest first).
    """
    errors = sorted(_validator().iter_errors(results), key=_order)
    return [f"{json_path(e.absolute_path)}: {_shorten(e.message)}" for e in errors]


def validate_results(results: Any, source: str | Path) -> None:
    """Raise ``InputError`` naming ``source`` and the first problems unless valid."""
    problems = results_problems(results)
    if not problems:
        return
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    suffix = f" (and {more} more)" if more > 0 else ""
    raise InputError(
        source,
        None,
        None,
        f"not a valid fteval results file (docs/results.schema.json): {shown}{suffix}",
    )


def check_before_write(results: Any, path: str | Path) -> None:
    """With ``FTEVAL_CHECK_RECORDS=1``, raise ``RuntimeError`` (a bug) for invalid results."""
    if os.environ.get(CHECK_ENV, "") not in ("1", "true", "yes"):
        return
    from fteval.records.jsonio import dumps

    problems = results_problems(json.loads(dumps(results)))
    if problems:
        raise RuntimeError(
            f"{path}: fteval built a results object that breaks its own schema "
            f"({len(problems)} problems): " + "; ".join(problems[:_SHOWN_PROBLEMS])
        )


def json_path(parts: Iterable[Any]) -> str:
    """``["comparisons", 3, "verdict"]`` -> ``"comparisons[3].verdict"`` (``"(top level)"``)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _order(error: Any) -> tuple[int, list[str]]:
    path = list(error.absolute_path)
    return len(path), [f"{p:08d}" if isinstance(p, int) else str(p) for p in path]


def _shorten(message: str) -> str:
    message = " ".join(message.split())
    if len(message) <= _SHOWN_CHARS:
        return message
    return message[: _SHOWN_CHARS - 3] + "..."

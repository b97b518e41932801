"""Read tabular rows from JSONL, JSON, CSV/TSV, Parquet or a Hugging Face dataset.

Every reader returns ``Row`` objects carrying their 1-based row number, so later checks
can name the file, row and field of a problem. Readers are strict: a malformed line, a
ragged CSV row, bytes that are not UTF-8 (``fteval.data.encoding``), JSON that Python
would bend (``NaN``, a repeated key: ``fteval.data.jsontext``), or an empty file is an
``InputError`` naming the place. JSONL, JSON, CSV and TSV may be gzip-compressed
(``.jsonl.gz``...).

Row numbers: JSONL counts lines (blank lines included); JSON counts list items; CSV/TSV
count records below the header (a quoted field holding newlines is still one record),
so "row 3" is the third data record whatever its line in the file.
JSONL lines end at ``\\n`` (``\\r\\n`` too) and nowhere else: U+2028 and the other
characters Python's ``str.splitlines`` breaks on are valid inside a JSON string.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.data.encoding import check_readable_file, decode_text, read_bytes
from fteval.data.jsontext import JSONTextError, loads
from fteval.errors import InputError, MissingDependencyError

logger = logging.getLogger(__name__)

_TEXT_FORMATS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")


@dataclass(frozen=True)
class Row:
    """One data row: its 1-based number in the file and its fields."""

    number: int
    fields: Mapping[str, Any]


def data_format(path: str | Path) -> str:
    """The format of a data file by name: ``.jsonl``, ``.json``, ``.csv``... (lower case).

    A ``.gz`` suffix is looked through (``a.jsonl.gz`` is ``.jsonl``); ``.ndjson`` is
    ``.jsonl``.

    Raises:
        InputError: the extension is not a supported data format.
    """
    path = Path(path)
    names = [suffix.lower() for suffix in path.suffixes]
    compressed = names[-1:] == [".gz"]
    inner = names[:-1] if compressed else names
    suffix = inner[-1] if inner else ""
    known = [*_TEXT_FORMATS, ".parquet"]
    if suffix == ".ndjson":
        suffix = ".jsonl"
    if suffix not in known or (compressed and suffix == ".parquet"):
        shown = "".join(path.suffixes[-2:]) if compressed else path.suffix
        supported = [*known, *(f"{s}.gz" for s in _TEXT_FORMATS)]
        raise InputError(
            path,
            None,
            None,
            f"unsupported file type {shown or '(no extension)'!r}; use one of {supported}",
        )
    return suffix


def read_rows(path: str | Path) -> list[Row]:
    """Read every row of a data file, chosen by extension.

    Supported: ``.jsonl``/``.ndjson`` (one object per line), ``.json`` (a list of objects,
    or ``{"data": [...]}``), ``.csv``, ``.tsv`` (each optionally ``.gz``), ``.parquet``.

    Raises:
        InputError: the file is missing, not a file, empty, not what its name says, not
            UTF-8, or a row is malformed.
    """
    path = Path(path)
    readers = {
        ".jsonl": _read_jsonl,
        ".json": _read_json,
        ".csv": _read_delimited,
        ".tsv": _read_delimited,
        ".parquet": _read_parquet,
    }
    suffix = data_format(path)
    check_readable_file(path)
    rows = readers[suffix](path, suffix)
    if not rows:
        raise InputError(path, None, None, "file has no data rows")
    return rows


def _read_jsonl(path: Path, suffix: str) -> list[Row]:
    text = decode_text(path, read_bytes(path))
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        try:
            value = loads(line)
        except JSONTextError as error:
            raise InputError(path, number, None, f"malformed JSON: {error.message}", line) from None
        if not isinstance(value, dict):
            raise InputError(
                path, number, None, f"expected a JSON object, got {type(value).__name__}", value
            )
        rows.append(Row(number, value))
    return rows


def _read_json(path: Path, suffix: str) -> list[Row]:
    text = decode_text(path, read_bytes(path), header_lines=None)
    if not text.strip(" \t\r\n"):
        return []
    try:
        value = loads(text)
    except JSONTextError as error:
        raise InputError(path, None, None, f"malformed JSON{error.located()}") from None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise InputError(
            path,
            None,
            None,
            f"expected a list of objects (or {{'data': [...]}}), got {type(value).__name__}",
        )
    rows = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InputError(
                path, number, None, f"expected a JSON object, got {type(item).__name__}", item
            )
        rows.append(Row(number, item))
    return rows


def _read_delimited(path: Path, suffix: str) -> list[Row]:
    delimiter = "\t" if suffix == ".tsv" else ","
    text = decode_text(path, read_bytes(path), row_of=lambda before: _record_of(before, delimiter))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number: int | None = None  # data records read; blank lines count, as in a spreadsheet
    try:
        header = next(reader, None)
        if header is None:
            return []
        _check_header(path, header)
        number = 0
        rows = []
        for record in reader:
            number += 1
            if not record or record == [""]:
                continue
            if len(record) != len(header):
                raise InputError(
                    path,
                    number,
                    None,
                    f"ragged row: {len(record)} fields where the header has {len(header)}",
                    record,
                )
            rows.append(Row(number, dict(zip(header, record))))
    except csv.Error as error:
        row = None if number is None else number + 1
        raise InputError(path, row, None, f"malformed CSV: {error}") from None
    return rows


def _record_of(before: str, delimiter: str) -> int | None:
    """The data record (1-based, below the header) that text ending with ``before`` is in."""
    reader = csv.reader(io.StringIO(before + "x", newline=""), delimiter=delimiter)
    try:
        records = sum(1 for _ in reader)
    except csv.Error:
        return None
    return records - 1 if records > 1 else None


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if not name.strip():
            raise InputError(path, None, None, "the header has an empty column name", header)
        if name in seen:
            raise InputError(path, None, name, "the header names this column twice", header)
        seen.add(name)


def _read_parquet(path: Path, suffix: str) -> list[Row]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise MissingDependencyError("pyarrow", "data", "reading Parquet files") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as error:  # what a bad file raises
        if isinstance(error, MemoryError):  # pyarrow's out-of-memory error is an ArrowException
            raise
        raise InputError(path, None, None, f"not a readable Parquet file: {error}") from error
    return [Row(i, record) for i, record in enumerate(table.to_pylist(), start=1)]


def read_hf_dataset(path: str, *, name: str | None, split: str, revision: str | None) -> list[Row]:
    """Rows of a Hugging Face dataset split: a hub id or a local ``save_to_disk`` folder."""
    try:
        import datasets
    except ModuleNotFoundError:
        raise MissingDependencyError("datasets", "data", "loading Hugging Face datasets") from None
    where = f"{path}[{split}]"
    try:
        if Path(path).is_dir() and (Path(path) / "dataset_dict.json").exists():
            dataset = datasets.load_from_disk(path)[split]
        elif Path(path).is_dir() and (Path(path) / "dataset_info.json").exists():
            dataset = datasets.load_from_disk(path)
        else:
            dataset = _load_from_hub(datasets, path, name, split, revision)
    except (OSError, ValueError, KeyError, datasets.exceptions.DatasetsError) as error:
        # a missing or malformed dataset, split or config, or a hub error; out-of-memory
        # and library bugs are not bad input and keep their traceback
        raise InputError(where, None, None, f"could not load the dataset: {error}") from error
    return [Row(i, record) for i, record in enumerate(dataset, start=1)]


def _load_from_hub(
    datasets: Any, path: str, name: str | None, split: str, revision: str | None
) -> Any:
    """``datasets.load_dataset``, failing within seconds when the Hub cannot be reached."""
    from fteval.data.hub import hub_access

    with hub_access() as access:
        try:
            return datasets.load_dataset(path, name, split=split, revision=revision)
        except (OSError, ValueError, datasets.exceptions.DatasetsError) as error:
            why = access.why_offline()
            if why is None:
                raise
            hint = "hf_dataset.path may name a local save_to_disk folder"
            raise OSError(f"{error} ({why}; {hint})") from error

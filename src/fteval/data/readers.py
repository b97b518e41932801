"""Read tabular rows from JSONL, JSON, CSV/TSV, Parquet or a Hugging Face dataset.

Every reader returns ``Row`` objects carrying their 1-based row number, so later checks
can name the file, row and field of a problem. Readers are strict: a malformed line, a
ragged CSV row, bytes that are not UTF-8, or an empty file is an ``InputError`` naming the
place. A UTF-8 byte-order mark at the very start of a file is accepted and skipped (Excel
writes one); a BOM anywhere else, or a UTF-16/32 BOM, is an error.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.errors import InputError, MissingDependencyError

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32-LE",
    b"\x00\x00\xfe\xff": "UTF-32-BE",
    b"\xff\xfe": "UTF-16-LE",
    b"\xfe\xff": "UTF-16-BE",
}


@dataclass(frozen=True)
class Row:
    """One data row: its 1-based number in the file and its fields."""

    number: int
    fields: Mapping[str, Any]


def read_rows(path: str | Path) -> list[Row]:
    """Read every row of a data file, chosen by extension.

    Supported: ``.jsonl``/``.ndjson`` (one object per line), ``.json`` (a list of objects,
    or ``{"data": [...]}``), ``.csv``, ``.tsv``, ``.parquet``.

    Raises:
        InputError: the file is missing, empty, not UTF-8, or a row is malformed.
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    readers = {
        ".jsonl": _read_jsonl,
        ".ndjson": _read_jsonl,
        ".jsonl.gz": _read_jsonl,
        ".json": _read_json,
        ".csv": _read_delimited,
        ".tsv": _read_delimited,
        ".parquet": _read_parquet,
    }
    reader = readers.get(suffix.lower())
    if reader is None:
        raise InputError(
            path, None, None, f"unsupported file type {suffix!r}; use one of {sorted(readers)}"
        )
    if not path.is_file():
        raise InputError(path, None, None, "file not found")
    rows = reader(path)
    if not rows:
        raise InputError(path, None, None, "file has no data rows")
    return rows


def decode_text(path: Path, raw: bytes, *, header_lines: int | None = 0) -> str:
    """UTF-8 text of ``raw``; errors name the line of the first invalid byte.

    ``header_lines`` is how many lines precede the first data row (1 for CSV), so the
    error's row number is the data row, as in every other error about that file; None
    when lines are not rows (a JSON document), and the error names only the line.
    """
    for bom, name in _OTHER_BOMS.items():
        if raw.startswith(bom):
            raise InputError(path, None, None, f"file is {name} encoded; convert it to UTF-8")
    if raw.startswith(UTF8_BOM):
        logger.info("%s: skipped a UTF-8 byte-order mark at the start of the file", path)
        raw = raw[len(UTF8_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 4]
        raise InputError(
            path,
            _data_row(line, header_lines),
            None,
            f"bytes that are not UTF-8 on line {line}",
            bad,
        ) from None
    if "\ufeff" in text:
        line = text[: text.index("\ufeff")].count("\n") + 1
        raise InputError(
            path,
            _data_row(line, header_lines),
            None,
            f"a byte-order mark (U+FEFF) inside the file on line {line}",
        )
    return text


def _data_row(line: int, header_lines: int | None) -> int | None:
    """The data row on file line ``line``; None for a header line or a JSON document."""
    if header_lines is None or line <= header_lines:
        return None
    return line - header_lines


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()


def _read_jsonl(path: Path) -> list[Row]:
    text = decode_text(path, _read_bytes(path))
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(path, number, None, f"malformed JSON: {error.msg}", line) from None
        if not isinstance(value, dict):
            raise InputError(
                path, number, None, f"expected a JSON object, got {type(value).__name__}", value
            )
        rows.append(Row(number, value))
    return rows


def _read_json(path: Path) -> list[Row]:
    text = decode_text(path, _read_bytes(path), header_lines=None)
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            path, None, None, f"malformed JSON on line {error.lineno}: {error.msg}"
        ) from None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise InputError(path, None, None, "expected a list of objects (or {'data': [...]})")
    rows = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InputError(
                path, number, None, f"expected a JSON object, got {type(item).__name__}", item
            )
        rows.append(Row(number, item))
    return rows


def _read_delimited(path: Path) -> list[Row]:
    text = decode_text(path, _read_bytes(path), header_lines=1)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        _check_header(path, header)
        rows = []
        for record in reader:
            number = reader.line_num - 1  # data rows count from 1 below the header
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
        raise InputError(path, reader.line_num, None, f"malformed CSV: {error}") from None
    return rows


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if not name.strip():
            raise InputError(path, None, None, "the header has an empty column name", header)
        if name in seen:
            raise InputError(path, None, name, "the header names this column twice", header)
        seen.add(name)


def _read_parquet(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise MissingDependencyError("pyarrow", "data", "reading Parquet files") from None
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types
        raise InputError(path, None, None, f"not a readable Parquet file: {error}") from None
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
            dataset = datasets.load_dataset(path, name, split=split, revision=revision)
    except Exception as error:
        raise InputError(where, None, None, f"could not load the dataset: {error}") from None
    return [Row(i, record) for i, record in enumerate(dataset, start=1)]

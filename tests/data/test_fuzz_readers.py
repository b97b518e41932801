"""Property tests: random bytes, JSON and rows at every reader.

Anything other than rows or the project's own ``InputError``/``ConfigError`` is a
failure; valid files read back exactly what was written (U+2028, quotes and newlines
inside fields included).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from fteval.data.encoding import decode_text
from fteval.data.jsontext import JSONTextError, loads
from fteval.data.readers import read_rows
from fteval.data.yamltext import load_yaml
from fteval.errors import ConfigError, InputError

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet",
            ".jsonl.gz", ".json.gz", ".csv.gz", ".tsv.gz")  # fmt: skip
# text a user's file may hold: any character but surrogates, U+0000 and U+FEFF (refused
# on purpose, see fteval.data.encoding) and control characters that mark binary files
TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\x00\ufeff\x1f\x03",
    ),
    max_size=12,
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
TEXTISH_BYTES = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(JSON_VALUES, max_size=5).map(
        lambda vs: "\n".join(json.dumps(v, ensure_ascii=False) for v in vs).encode()
    ),
)


@contextmanager
def file_with(name: str, content: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        yield path


@given(content=TEXTISH_BYTES, suffix=st.sampled_from(SUFFIXES), compress=st.booleans())
def test_random_bytes_at_every_reader_are_rows_or_an_input_error(content, suffix, compress):
    data = gzip.compress(content) if compress else content
    with file_with(f"data{suffix}", data) as path:
        try:
            rows = read_rows(path)
        except InputError as error:
            assert str(path) in str(error)
            return
    assert rows
    assert all(isinstance(row.fields, Mapping) and row.number >= 1 for row in rows)


@given(values=st.lists(JSON_VALUES, min_size=1, max_size=6), crlf=st.booleans())
def test_jsonl_of_objects_reads_back_exactly_and_anything_else_is_named(values, crlf):
    end = "\r\n" if crlf else "\n"
    text = "".join(json.dumps(v, ensure_ascii=False) + end for v in values)
    with file_with("rows.jsonl", text.encode()) as path:
        try:
            rows = read_rows(path)
        except InputError as error:
            bad = next(i for i, v in enumerate(values, start=1) if not isinstance(v, dict))
            assert error.row == bad and "expected a JSON object" in str(error)
            return
    assert [row.fields for row in rows] == values
    assert [row.number for row in rows] == list(range(1, len(values) + 1))


@given(value=JSON_VALUES)
def test_a_json_document_is_rows_or_a_named_error(value):
    with file_with("doc.json", json.dumps(value, ensure_ascii=False).encode()) as path:
        try:
            rows = read_rows(path)
        except InputError:
            return
    items = value["data"] if isinstance(value, dict) else value
    assert [row.fields for row in rows] == items


@given(
    header=st.lists(TEXT.filter(lambda t: t.strip() != ""), min_size=1, max_size=4, unique=True),
    body=st.lists(st.lists(TEXT, min_size=4, max_size=4), min_size=1, max_size=5),
    delimiter=st.sampled_from([",", "\t"]),
)
def test_csv_written_by_the_csv_module_reads_back_record_by_record(header, body, delimiter):
    records = [record[: len(header)] for record in body]
    buffer = io.StringIO(newline="")
    # RFC 4180 line ends: the csv module then quotes every field holding "\r" or "\n"
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *records])
    suffix = ".csv" if delimiter == "," else ".tsv"
    kept = [(n, r) for n, r in enumerate(records, start=1) if r != [""]]
    assume(kept)
    with file_with(f"rows{suffix}", buffer.getvalue().encode()) as path:
        rows = read_rows(path)
    assert [row.number for row in rows] == [n for n, _ in kept]
    assert [dict(row.fields) for row in rows] == [dict(zip(header, r)) for _, r in kept]


@given(raw=st.binary(max_size=300), header_lines=st.sampled_from([None, 0, 1]))
def test_decoding_random_bytes_is_text_or_a_named_error(raw, header_lines):
    try:
        text = decode_text("f.txt", raw, header_lines=header_lines)
    except InputError as error:
        assert error.path == "f.txt"
        return
    assert "\x00" not in text and "\ufeff" not in text


@given(text=st.text(max_size=200) | JSON_VALUES.map(json.dumps))
def test_strict_json_parses_or_raises_its_own_error(text):
    try:
        loads(text)
    except JSONTextError as error:
        assert error.message


@given(content=TEXTISH_BYTES | st.text(max_size=200).map(str.encode))
def test_yaml_files_parse_or_raise_a_config_or_input_error(content):
    with file_with("c.yaml", content) as path:
        try:
            load_yaml(path, what="config file")
        except (ConfigError, InputError) as error:
            assert str(path) in str(error)

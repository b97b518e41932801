"""Readers and row checks: every bad input is an InputError naming file, row, field, value."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fteval.data.checks import check_column_type, check_unique_ids, require_field
from fteval.data.readers import Row, read_rows
from fteval.errors import InputError


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# ---- JSONL / JSON ----


def test_jsonl_rows_are_numbered_by_line_and_blank_lines_are_skipped(tmp_path):
    path = _write(tmp_path / "d.jsonl", '{"a": 1}\n\n{"a": 2}\n')
    rows = read_rows(path)
    assert [(r.number, r.fields["a"]) for r in rows] == [(1, 1), (3, 2)]


def test_malformed_json_line_names_its_line_number(tmp_path):
    path = _write(tmp_path / "d.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3,}\n')
    with pytest.raises(InputError) as caught:
        read_rows(path)
    message = str(caught.value)
    assert "d.jsonl" in message
    assert "row 3" in message
    assert "malformed JSON" in message
    assert '{"a": 3,}' in message
    assert caught.value.row == 3


def test_jsonl_line_that_is_a_list_is_rejected(tmp_path):
    path = _write(tmp_path / "d.jsonl", '{"a": 1}\n[1, 2]\n')
    with pytest.raises(InputError) as caught:
        read_rows(path)
    message = str(caught.value)
    assert "d.jsonl, row 2" in message
    assert "expected a JSON object, got list" in message
    assert "[1, 2]" in message


def test_empty_jsonl_file_is_rejected(tmp_path):
    path = _write(tmp_path / "d.jsonl", "")
    with pytest.raises(InputError, match=r"d\.jsonl: file has no data rows"):
        read_rows(path)


def test_jsonl_of_only_blank_lines_is_rejected_as_empty(tmp_path):
    path = _write(tmp_path / "d.jsonl", "\n  \n\n")
    with pytest.raises(InputError, match="no data rows"):
        read_rows(path)


def test_json_file_holding_a_list_of_objects_is_read(tmp_path):
    path = _write(tmp_path / "d.json", json.dumps({"data": [{"a": 1}, {"a": 2}]}))
    assert [r.fields["a"] for r in read_rows(path)] == [1, 2]


def test_json_file_item_that_is_not_an_object_names_its_index(tmp_path):
    path = _write(tmp_path / "d.json", json.dumps([{"a": 1}, "oops"]))
    with pytest.raises(InputError) as caught:
        read_rows(path)
    assert "d.json, row 2" in str(caught.value)
    assert "'oops'" in str(caught.value)


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.jsonl: file not found"):
        read_rows(tmp_path / "nowhere.jsonl")


def test_unsupported_extension_is_named(tmp_path):
    path = _write(tmp_path / "d.xlsx", "x")
    with pytest.raises(InputError, match=r"unsupported file type '\.xlsx'"):
        read_rows(path)


# ---- encodings ----


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "ok"}\n{"a": "caf\xe9"}\n')
    with pytest.raises(InputError) as caught:
        read_rows(path)
    message = str(caught.value)
    assert "d.jsonl, row 3" in message
    assert "line 3" in message
    assert "not UTF-8" in message
    assert "\\xe9" in message


def test_non_utf8_bytes_in_csv_name_the_data_row_and_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine,login\ncaf\xe9,billing\n")
    with pytest.raises(InputError) as caught:
        read_rows(path)
    message = str(caught.value)
    # line 3 of the file is data row 2 (the header is line 1), as for every other CSV error
    assert "d.csv, row 2" in message
    assert "line 3" in message
    assert "not UTF-8" in message


def test_utf8_bom_at_file_start_is_accepted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nhello,login\n")
    rows = read_rows(path)
    assert list(rows[0].fields) == ["text", "label"]  # no BOM glued to the first column
    assert rows[0].fields["text"] == "hello"


def test_utf8_bom_at_jsonl_start_is_accepted(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')
    assert read_rows(path)[0].fields == {"a": 1}


def test_utf16_bom_is_rejected(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes('{"a": 1}\n'.encode("utf-16"))  # writes a BOM first
    with pytest.raises(InputError, match=r"d\.jsonl: file is UTF-16-(LE|BE) encoded"):
        read_rows(path)


def test_bom_inside_the_file_is_rejected_with_its_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"a": 1}\n\xef\xbb\xbf{"a": 2}\n')
    with pytest.raises(InputError) as caught:
        read_rows(path)
    assert "d.jsonl, row 2" in str(caught.value)
    assert "byte-order mark" in str(caught.value)


# ---- CSV / TSV / Parquet ----


def test_csv_rows_are_numbered_from_the_first_data_row(tmp_path):
    path = _write(tmp_path / "d.csv", "text,label\na,login\nb,billing\n")
    rows = read_rows(path)
    assert [(r.number, dict(r.fields)) for r in rows] == [
        (1, {"text": "a", "label": "login"}),
        (2, {"text": "b", "label": "billing"}),
    ]


def test_ragged_csv_row_names_the_row_and_shows_the_record(tmp_path):
    path = _write(tmp_path / "d.csv", "text,label\na,login\nb,billing,extra\n")
    with pytest.raises(InputError) as caught:
        read_rows(path)
    message = str(caught.value)
    assert "d.csv, row 2" in message
    assert "ragged row: 3 fields where the header has 2" in message
    assert "'extra'" in message


def test_short_csv_row_is_ragged_too(tmp_path):
    path = _write(tmp_path / "d.csv", "text,label\nonly-text\n")
    with pytest.raises(InputError, match=r"d\.csv, row 1: ragged row: 1 fields"):
        read_rows(path)


def test_csv_duplicate_header_names_the_column(tmp_path):
    path = _write(tmp_path / "d.csv", "text,label,label\na,login,billing\n")
    with pytest.raises(InputError) as caught:
        read_rows(path)
    message = str(caught.value)
    assert "d.csv" in message
    assert "field 'label'" in message
    assert "the header names this column twice" in message


def test_csv_with_only_a_header_is_empty(tmp_path):
    path = _write(tmp_path / "d.csv", "text,label\n")
    with pytest.raises(InputError, match=r"d\.csv: file has no data rows"):
        read_rows(path)


def test_csv_quoted_fields_keep_commas(tmp_path):
    path = _write(tmp_path / "d.csv", 'text,label\n"a, b",login\n')
    assert read_rows(path)[0].fields == {"text": "a, b", "label": "login"}


def test_tsv_is_split_on_tabs(tmp_path):
    path = _write(tmp_path / "d.tsv", "text\tlabel\nhello, world\tlogin\nbye\tbilling\n")
    rows = read_rows(path)
    assert [dict(r.fields) for r in rows] == [
        {"text": "hello, world", "label": "login"},
        {"text": "bye", "label": "billing"},
    ]


def test_ragged_tsv_row_names_the_row(tmp_path):
    path = _write(tmp_path / "d.tsv", "text\tlabel\nhello\tlogin\tx\n")
    with pytest.raises(InputError, match=r"d\.tsv, row 1: ragged row"):
        read_rows(path)


def test_parquet_is_read_with_typed_values(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 2]}), path)
    rows = read_rows(path)
    assert [(r.number, dict(r.fields)) for r in rows] == [
        (1, {"text": "a", "label": 0}),
        (2, {"text": "b", "label": 2}),
    ]


def test_unreadable_parquet_is_named(tmp_path):
    pytest.importorskip("pyarrow")
    path = _write(tmp_path / "d.parquet", "not parquet at all")
    with pytest.raises(InputError, match=r"d\.parquet: not a readable Parquet file"):
        read_rows(path)


# ---- row checks ----


def test_require_field_missing_lists_the_fields_the_row_has():
    row = Row(4, {"text": "hi", "id": "a"})
    with pytest.raises(InputError) as caught:
        require_field("f.jsonl", row, "label")
    assert (
        str(caught.value) == "f.jsonl, row 4, field 'label': missing field (the row has: id, text)"
    )


@pytest.mark.parametrize("value", [None, math.nan])
def test_require_field_rejects_null_and_nan(value):
    with pytest.raises(InputError) as caught:
        require_field("f.jsonl", Row(2, {"label": value}), "label")
    message = str(caught.value)
    assert "f.jsonl, row 2, field 'label': empty value (null or NaN)" in message
    assert repr(value) in message


def test_duplicate_ids_name_both_rows():
    rows = [Row(1, {"id": "a"}), Row(2, {"id": "b"}), Row(3, {"id": "a"})]
    with pytest.raises(InputError) as caught:
        check_unique_ids("f.jsonl", rows, "id")
    message = str(caught.value)
    assert "f.jsonl, row 3, field 'id'" in message
    assert "first at row 1" in message
    assert "'a'" in message


def test_mixed_type_column_names_the_row_that_differs():
    rows = [Row(1, {"label": 0}), Row(2, {"label": 1}), Row(3, {"label": "login"})]
    with pytest.raises(InputError) as caught:
        check_column_type("f.jsonl", rows, "label")
    message = str(caught.value)
    assert "f.jsonl, row 3, field 'label'" in message
    assert "mixed-type column: a string here, a number at row 1" in message
    assert "'login'" in message


def test_column_type_check_leaves_nan_to_the_missing_value_check():
    # pandas writes a missing string as NaN; that is an empty value, not a "number"
    rows = [Row(1, {"label": math.nan}), Row(2, {"label": "login"}), Row(3, {"label": math.nan})]
    assert check_column_type("f.jsonl", rows, "label") is None  # not a mixed column
    with pytest.raises(InputError) as caught:
        require_field("f.jsonl", rows[2], "label")  # reported here, as a missing value
    assert "f.jsonl, row 3, field 'label': empty value (null or NaN)" in str(caught.value)
    # the column's kind comes from its first real value, so a number after it still fails
    with pytest.raises(InputError) as caught:
        check_column_type("f.jsonl", [*rows, Row(4, {"label": 7})], "label")
    assert "row 4, field 'label': mixed-type column: a number here, a string at row 2" in str(
        caught.value
    )


def test_malformed_json_document_names_the_line_not_a_row(tmp_path):
    path = _write(tmp_path / "d.json", '[\n  {"a": 1},\n  {"a": 2,}\n]\n')
    with pytest.raises(InputError) as caught:
        read_rows(path)
    assert caught.value.row is None  # lines of a JSON document are not its rows
    assert "d.json: malformed JSON on line 3" in str(caught.value)


def test_an_unreadable_parquet_file_is_bad_input_but_out_of_memory_is_not(tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"d\.parquet: not a readable Parquet file"):
        read_rows(path)

    def out_of_memory(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr(pq, "read_table", out_of_memory)
    with pytest.raises(MemoryError, match="no room"):
        read_rows(path)


def test_a_dataset_that_cannot_load_is_bad_input_but_a_library_bug_is_not(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from fteval.data.readers import read_hf_dataset

    def missing(*args, **kwargs):
        raise FileNotFoundError("no dataset 'nobody/none'")

    monkeypatch.setattr(datasets, "load_dataset", missing)
    with pytest.raises(InputError, match=r"nobody/none\[test\]: could not load the dataset"):
        read_hf_dataset("nobody/none", name=None, split="test", revision=None)

    def bug(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'features'")

    monkeypatch.setattr(datasets, "load_dataset", bug)
    with pytest.raises(AttributeError):
        read_hf_dataset("nobody/none", name=None, split="test", revision=None)

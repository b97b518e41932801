"""Files that are not what they claim are named with the reason."""

from __future__ import annotations

import gzip

import pytest

from fteval.data.encoding import decode_text, looks_like_wide_encoding, read_bytes
from fteval.errors import InputError

TEXT = '{"id": 1, "text": "héllo"}\n' * 3


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_encodings_without_a_bom_are_recognised(codec):
    assert looks_like_wide_encoding(TEXT.encode(codec)) == codec.upper()


@pytest.mark.parametrize(
    "raw", [TEXT.encode(), "日本語のテキスト".encode(), b"", b"a\x00", "a\u0100b".encode()]
)
def test_utf8_text_is_never_taken_for_a_wide_encoding(raw):
    assert looks_like_wide_encoding(raw) is None


def test_utf16_without_bom_is_named_as_such():
    with pytest.raises(InputError, match="looks like UTF-16-LE text without a byte-order mark"):
        decode_text("f.jsonl", TEXT.encode("utf-16-le"))


def test_a_utf8_bom_at_the_start_is_skipped():
    assert decode_text("f.jsonl", b"\xef\xbb\xbf" + TEXT.encode()) == TEXT


def test_parquet_bytes_in_a_text_file_are_named_but_a_header_called_par1_is_text():
    with pytest.raises(InputError, match="a Parquet file"):
        decode_text("f.csv", b"PAR1" + b"\x15" * 20 + b"PAR1")
    assert decode_text("f.csv", b"PAR1,label\n1,a\n").startswith("PAR1")


def test_gzip_problems_are_named(tmp_path):
    good = gzip.compress(TEXT.encode())
    (tmp_path / "ok.jsonl.gz").write_bytes(good)
    assert read_bytes(tmp_path / "ok.jsonl.gz") == TEXT.encode()
    for name, data, problem in [
        ("plain.jsonl.gz", TEXT.encode(), "not a gzip file"),
        ("short.jsonl.gz", good[:-9], "truncated gzip file"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=problem):
            read_bytes(tmp_path / name)


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match="is a directory, not a file"):
        read_bytes(tmp_path)

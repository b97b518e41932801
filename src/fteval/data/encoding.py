"""Bytes and text of input files, checked: a file is what its name says or an error says why.

Every file fteval reads from a user (data rows, run configs, task files, results.json)
comes through here, so each of these problems gets one ``InputError`` naming the path:

* the path is missing, a directory, or unreadable (permissions);
* a ``.gz`` file that is not gzip, is truncated, or is corrupt;
* a file whose first bytes say it is something else (gzip, zip/xlsx, Parquet) than
  its name claims;
* text that is not UTF-8: a UTF-16/32 byte-order mark, UTF-16/32 without a mark
  ("looks like UTF-16-LE"), an invalid byte (the message names its line), or a
  byte-order mark inside the text.

A UTF-8 byte-order mark at the very start is accepted and skipped (Excel writes one).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Callable
from pathlib import Path

from fteval.errors import InputError

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32-LE",
    b"\x00\x00\xfe\xff": "UTF-32-BE",
    b"\xff\xfe": "UTF-16-LE",
    b"\xfe\xff": "UTF-16-BE",
}
_MAGIC = {  # first bytes that no text file starts with
    b"\x1f\x8b": "gzip-compressed data (name it *.gz)",
    b"PK\x03\x04": "a zip archive (an .xlsx or .docx file is one); export it as CSV or JSONL",
}
_SNIFF_BYTES = 4096
_FORBIDDEN_CHARS = (
    ("\x00", "a zero byte (U+0000), as in binary data,"),
    ("\ufeff", "a byte-order mark (U+FEFF) inside the file"),
)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of ``path``, decompressed when its name ends in ``.gz``.

    Raises:
        InputError: the path is missing, a directory or unreadable, or a ``.gz`` file is
            not gzip, truncated or corrupt.
    """
    path = Path(path)
    check_readable_file(path)
    try:
        if path.suffix.lower() == ".gz":
            return _gunzip(path)
        return path.read_bytes()
    except OSError as error:  # a race with the checks above, or an I/O error
        raise InputError(path, None, None, f"cannot read: {error.strerror or error}") from None


def check_readable_file(path: str | Path) -> None:
    """Raise ``InputError`` unless ``path`` is an existing, readable regular file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, None, "is a directory, not a file")
    if not path.exists():
        raise InputError(path, None, None, "file not found")
    if not path.is_file():
        raise InputError(path, None, None, "is not a regular file")


def _gunzip(path: Path) -> bytes:
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic != b"\x1f\x8b":
        raise InputError(path, None, None, "not a gzip file (its name ends in .gz)", magic)
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except EOFError:
        raise InputError(
            path, None, None, "truncated gzip file: the compressed data ends early"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise InputError(path, None, None, f"corrupt gzip file: {error}") from None


def read_text(path: str | Path, *, header_lines: int | None = None) -> str:
    """The UTF-8 text of ``path`` (``.gz`` decompressed), checked by ``decode_text``."""
    path = Path(path)
    return decode_text(path, read_bytes(path), header_lines=header_lines)


def decode_text(
    path: str | Path,
    raw: bytes,
    *,
    header_lines: int | None = 0,
    row_of: Callable[[str], int | None] | None = None,
) -> str:
    """UTF-8 text of ``raw``; errors name the line of the first invalid byte.

    ``header_lines`` is how many lines precede the first data row, so the error's row
    number is the data row, as in every other error about that file; None when lines
    are not rows (a JSON document, a YAML file), and the error names only the line.
    ``row_of`` replaces that rule where a row may span lines (CSV): it gets the text
    before the problem and returns the data row it ends in (or None).

    Raises:
        InputError: another encoding (by byte-order mark or by the pattern of zero
            bytes), another file type (by its first bytes), an invalid UTF-8 byte, or a
            byte-order mark inside the text.
    """
    for bom, name in _OTHER_BOMS.items():
        if raw.startswith(bom):
            raise InputError(path, None, None, f"file is {name} encoded; convert it to UTF-8")
    wide = looks_like_wide_encoding(raw)
    if wide is not None:
        raise InputError(
            path,
            None,
            None,
            f"looks like {wide} text without a byte-order mark (every other byte is zero); "
            "convert it to UTF-8",
        )
    for magic, what in _MAGIC.items():
        if raw.startswith(magic):
            raise InputError(path, None, None, f"not text: the file starts like {what}")
    if len(raw) >= 12 and raw.startswith(b"PAR1") and raw.endswith(b"PAR1"):
        raise InputError(path, None, None, "not text: a Parquet file (name it *.parquet)")
    if raw.startswith(UTF8_BOM):
        logger.info("%s: skipped a UTF-8 byte-order mark at the start of the file", path)
        raw = raw[len(UTF8_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 4]
        before = raw[: error.start].decode("utf-8", errors="replace")
        raise InputError(
            path,
            row_of(before) if row_of else data_row(line, header_lines),
            None,
            f"bytes that are not UTF-8 on line {line}",
            bad,
        ) from None
    for char, what in _FORBIDDEN_CHARS:
        if char in text:
            before = text[: text.index(char)]
            line = before.count("\n") + 1
            raise InputError(
                path,
                row_of(before) if row_of else data_row(line, header_lines),
                None,
                f"{what} on line {line}",
            )
    return text


def looks_like_wide_encoding(raw: bytes) -> str | None:
    """``"UTF-16-LE"``/``-BE`` or ``"UTF-32-LE"``/``-BE`` when ``raw`` has that pattern.

    Text of mostly ASCII characters in UTF-16 has a zero byte in every other position
    (UTF-32: three of every four). UTF-8 text never has that pattern (a zero byte is
    U+0000, which no text format fteval reads allows), so the guess is safe. Only the
    first 4096 bytes are looked at; None when fewer than 4 bytes or no pattern.
    """
    head = raw[:_SNIFF_BYTES]
    if len(head) < 4 or b"\x00" not in head:
        return None
    for width, name in ((4, "UTF-32"), (2, "UTF-16")):
        usable = len(head) - len(head) % width
        units = [head[i : i + width] for i in range(0, usable, width)]
        if not units:
            continue
        low = sum(1 for u in units if u[0] != 0 and not any(u[1:]))
        high = sum(1 for u in units if u[-1] != 0 and not any(u[:-1]))
        if low >= 0.6 * len(units):
            return f"{name}-LE"
        if high >= 0.6 * len(units):
            return f"{name}-BE"
    return None


def data_row(line: int, header_lines: int | None) -> int | None:
    """The data row on file line ``line``; None for a header line or a whole document."""
    if header_lines is None or line <= header_lines:
        return None
    return line - header_lines

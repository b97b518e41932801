"""The on-disk form of records: deterministic JSON, atomic writes, whole-line JSONL."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from fteval.errors import FtevalError, OutputError


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if callable(getattr(value, "to_dict", None)):  # fteval.Results: its results object
        return value.to_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def _clean_floats(value: Any) -> Any:
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Deterministic JSON (sorted keys, no NaN) used for every record fteval writes."""
    return json.dumps(
        _clean_floats(value),
        default=_json_default,
        sort_keys=True,
        indent=indent,
        ensure_ascii=False,
        allow_nan=False,
    )


def new_file_mode() -> int:
    """The permissions ``open()`` gives a new file: ``0o666`` less the process umask.

    ``tempfile.mkstemp`` creates files readable by their owner only; files written
    through it get this mode instead, so every file of a run directory has the same
    permissions, whichever way it was written.
    """
    with _UMASK_LOCK:  # the umask can only be read by setting it
        mask = os.umask(0o077)
        os.umask(mask)
    return 0o666 & ~mask


_UMASK_LOCK = threading.Lock()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and a rename.

    Readers see the old file or the new one, never a partial one. On any error the
    temp file is removed and the old file stays as it was. The file gets the mode any
    new file would (``new_file_mode``). A path that is something other than a regular
    file (a directory, a device such as /dev/null, a pipe, a socket) is refused: the
    rename would replace it.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise OutputError(
                f"cannot write {path}: it is not a regular file (a directory, device, pipe "
                "or socket), which the write would replace; give a file path"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), new_file_mode())
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {path}: {error.strerror or error}; the previous file is unchanged"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, value: Any) -> None:
    """``atomic_write_text`` of deterministic, indented JSON."""
    atomic_write_text(path, dumps(value, indent=2) + "\n")


def append_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Append whole lines: each record is serialised first, then written in one call."""
    lines = "".join(dumps(r) + "\n" for r in records)
    if not lines:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise OutputError(
            f"cannot append to {path}: {error.strerror or error}; lines written before are "
            "intact and the run can be resumed"
        ) from None


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield each complete JSON line; a torn last line (crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines) and not line.endswith("\n"):
                return  # torn final line from an interrupted append
            raise FtevalError(
                f"{path}, line {number}: not a JSON record ({error.msg}); the file is damaged"
            ) from None


def sha256_file(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()

"""A task's data source: its rows by split, each split read once, when first asked for.

Every task formats its rows through one loader (``tasks.loader``), whatever they come
from: a task file's ``data`` (one file, or a file per split), its ``hf_dataset``, or a
built-in benchmark's reader (an original release, a Hub copy, the pinned Hub dataset).
The source says which splits exist, so calibration finds a validation split and
contamination a train split the same way for every task.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fteval.data.readers import Row, read_hf_dataset, read_rows
from fteval.errors import ConfigError, FtevalError
from fteval.records import sha256_file

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitReader:
    """Where one split's rows come from (named in errors) and how to read them."""

    where: str
    read: Callable[[], list[Row]]


class DataSource:
    """Rows by split, read lazily and kept.

    Args:
        name: what the data belongs to (a task file or ``builtin:NAME``), for messages.
        readers: split name -> its reader.
        hashes: content hashes of the data, for the manifest.
        shared: a split whose rows also stand for any split name without a reader: one
            data file serving every split name (``data: file.jsonl`` in a task file).
        optional: splits that may turn out unavailable (a Hub split that fails to load);
            ``splits()`` reads them and leaves out those that fail.
    """

    def __init__(
        self,
        name: str,
        readers: Mapping[str, SplitReader],
        *,
        hashes: Mapping[str, str],
        shared: str | None = None,
        optional: Sequence[str] = (),
    ) -> None:
        self.name = name
        self._readers = dict(readers)
        self.hashes = dict(hashes)
        self._shared = shared
        self._optional = [s for s in optional if s in self._readers]
        self._rows: dict[str, list[Row]] = {}
        self.unavailable: dict[str, str] = {}  # optional split -> why it could not be read

    def splits(self) -> tuple[str, ...]:
        """The split names the data has (optional ones only once they read)."""
        for split in list(self._optional):
            self._optional.remove(split)
            try:
                self.rows(split)
            except FtevalError as error:
                logger.info("%s: split %r is not available (%s)", self.name, split, error)
                self.unavailable[split] = str(error)
                del self._readers[split]
        return tuple(self._readers)

    def declared(self) -> tuple[str, ...]:
        """The split names the data may have, optional ones unread (no download)."""
        return tuple(self._readers)

    def has(self, split: str) -> bool:
        """Whether ``split`` can be read (a shared file answers for every name)."""
        return split in self._readers or self._shared is not None

    def where(self, split: str) -> str:
        """Where ``split``'s rows come from (a file, or ``hf:ID[split]``)."""
        return self._reader(split).where

    def rows(self, split: str) -> list[Row]:
        """Every row of ``split``, in file order (read on first use).

        Raises:
            ConfigError: the data has no such split.
            InputError: a file cannot be read.
        """
        reader = self._reader(split)
        key = split if split in self._readers else str(self._shared)
        if key not in self._rows:
            self._rows[key] = reader.read()
        return self._rows[key]

    def _reader(self, split: str) -> SplitReader:
        if split in self._readers:
            return self._readers[split]
        if self._shared is not None:
            return self._readers[self._shared]
        raise ConfigError(
            f"{self.name}: split {split!r} is not among the data's splits {sorted(self._readers)}"
        )


def rows_source(
    name: str,
    rows: Mapping[str, list[Row]],
    where: Mapping[str, str],
    hashes: Mapping[str, str],
) -> DataSource:
    """A source over rows already read (built-in readers of local copies)."""
    readers = {s: SplitReader(where[s], _constant(r)) for s, r in rows.items()}
    return DataSource(name, readers, hashes=hashes)


def _constant(rows: list[Row]) -> Callable[[], list[Row]]:
    return lambda: rows


def file_source(task_file: Path, data: str | Mapping[str, str], split: str) -> DataSource:
    """The source of a task file's ``data``: one file for every split name, or a file per
    split; paths are relative to the task file. Content hashes cover every file there is
    (a missing one is named when its split is read)."""
    folder = task_file.parent
    files = [data] if isinstance(data, str) else sorted(set(data.values()))
    hashes = {"task_file": sha256_file(task_file)}
    hashes.update({f: sha256_file(folder / f) for f in files if (folder / f).is_file()})
    if isinstance(data, str):
        reader = _file_reader(folder / data)
        return DataSource(str(task_file), {split: reader}, hashes=hashes, shared=split)
    readers = {name: _file_reader(folder / relative) for name, relative in data.items()}
    return DataSource(str(task_file), readers, hashes=hashes)


def _file_reader(path: Path) -> SplitReader:
    return SplitReader(str(path), lambda: read_rows(path))


def hf_source(
    task_file: Path,
    path: str,
    *,
    name: str | None,
    revision: str | None,
    splits: Sequence[str],
) -> DataSource:
    """The source of a task file's ``hf_dataset``: a hub id (the ``splits`` the spec reads),
    a local ``save_to_disk`` DatasetDict folder (every split it holds) or one saved Dataset
    (one set of rows for every split name, as one data file)."""

    def reader(split: str) -> SplitReader:
        return SplitReader(
            f"{path}[{split}]",
            lambda: read_hf_dataset(path, name=name, split=split, revision=revision),
        )

    hashes = {"task_file": sha256_file(task_file)}
    folder = Path(path)
    if (folder / "dataset_info.json").is_file() and not (folder / "dataset_dict.json").exists():
        only = {splits[0]: reader(splits[0])}
        return DataSource(str(task_file), only, hashes=hashes, shared=splits[0])
    names = list(dict.fromkeys([*splits, *_saved_splits(folder)]))
    return DataSource(str(task_file), {s: reader(s) for s in names}, hashes=hashes)


def _saved_splits(folder: Path) -> list[str]:
    """The splits a ``save_to_disk`` DatasetDict folder lists (none for anything else)."""
    index = folder / "dataset_dict.json"
    if not index.is_file():
        return []
    try:
        splits = json.loads(index.read_text(encoding="utf-8")).get("splits", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [s for s in splits if isinstance(s, str)]

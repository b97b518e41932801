"""What every built-in benchmark shares: its catalogue entry and where its rows come from.

A built-in is a normal task: a spec (``TaskSpec``, what a YAML file would say) over a
data source with splits (``DataSource``), formatted by the loader every task file takes
(``tasks.loader.build_task``). The source also holds the benchmark's other labelled
splits (a train split, a validation split) so contamination and calibration find them
as they find a task file's. Rows come from, in this order:

1. ``--data NAME=PATH``: the original release's files (each benchmark's reader), a
   Parquet file or folder of Parquet files (the Hub's layout: ``<split>-*.parquet`` or
   ``data/<split>-*.parquet``), or a ``datasets`` ``save_to_disk`` folder;
2. otherwise the Hugging Face Hub, through ``datasets.load_dataset`` with the dataset id,
   configuration and revision pinned in the catalogue entry, each split when first
   needed. When the Hub cannot be reached, a cached copy is used or the error (within
   seconds, ``data.hub``) says how to point fteval at a local copy with ``--data``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fteval._util.options import check_settings as check_options
from fteval.data.hub import hub_access
from fteval.data.readers import Row, read_rows
from fteval.errors import ConfigError, InputError, MissingDependencyError
from fteval.tasks.options import SETTING_RULES, TaskOptions
from fteval.tasks.registry import register_builtin
from fteval.tasks.source import DataSource, SplitReader, rows_source
from fteval.tasks.task import Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSource:
    """A pinned Hugging Face dataset: id, configuration and revision (a commit when known)."""

    path: str
    name: str | None = None
    revision: str | None = None

    def describe(self) -> str:
        """``path[/name]@revision``."""
        config = f"/{self.name}" if self.name else ""
        return f"{self.path}{config}@{self.revision or 'unpinned'}"


@dataclass(frozen=True)
class Builtin:
    """A catalogue entry: what ``fteval tasks`` shows, and how to load the task(s).

    Attributes:
        name: the task (or group) name users type.
        kind: ``multiple_choice``, ``generate`` or ``judged``.
        metrics: headline metrics, first the one a summary table shows.
        scoring: how answers are scored, in words.
        default_shots: shots unless ``--num-fewshot`` says otherwise.
        source: where the data comes from by default (a pinned Hub id or a package).
        formats: what ``--data`` accepts.
        summary: one line about the task.
        load: options -> the task(s).
        settings: the ``--task-option`` keys it takes, with their defaults.
        members: for a group, its number of member tasks.
        data_key: another name its ``--data`` may be given under (``mmlu`` for every
            MMLU subject and category); defaults to ``name``.
        covers: for a group, the registered names it includes (its subjects).
    """

    name: str
    kind: str
    metrics: tuple[str, ...]
    scoring: str
    default_shots: int
    source: str
    formats: str
    summary: str
    load: Callable[[TaskOptions], Task | Sequence[Task]]
    settings: Mapping[str, Any] = field(default_factory=dict)
    members: int = 1
    data_key: str = ""
    covers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.data_key:
            object.__setattr__(self, "data_key", self.name)


_CATALOGUE: dict[str, Builtin] = {}


def register(entry: Builtin) -> Builtin:
    """Add ``entry`` to the catalogue and to the task registry."""
    _CATALOGUE[entry.name] = entry
    register_builtin(entry.name, members=entry.covers)(entry.load)
    return entry


def catalogue() -> dict[str, Builtin]:
    """Every built-in's catalogue entry, by name."""
    return dict(_CATALOGUE)


def check_settings(name: str, settings: Mapping[str, Any], known: Mapping[str, Any]) -> dict:
    """``known`` (setting -> default) updated with ``settings``, parsed and range-checked.

    Each value takes its default's type by the one option rule
    (``fteval._util.options``: booleans only from ``true/false/yes/no/1/0``, finite
    numbers) and the shared range of its name (``SETTING_RULES``).

    Raises:
        ConfigError: an unknown setting (naming the known ones) or a bad value (naming the
            setting and the value).
    """
    return check_options(f"task {name!r}", settings, known, SETTING_RULES)


# ------------------------------------------------------------------------ local files


def hash_files(paths: Iterable[Path], root: Path | None = None) -> dict[str, str]:
    """sha256 of each file, keyed by its path relative to ``root`` (or its name)."""
    out = {}
    for path in sorted(paths):
        key = str(path.relative_to(root)) if root is not None else path.name
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def need_path(name: str, data: str) -> Path:
    """``data`` as an existing path, or a ConfigError naming the task and ``--data``."""
    path = Path(data)
    if not path.exists():
        raise ConfigError(f"--data {name}={data}: no such file or folder")
    return path


@dataclass(frozen=True)
class Loaded:
    """Rows of each split, where they came from, and their content hashes."""

    splits: dict[str, list[Row]]
    sources: dict[str, str]
    hashes: dict[str, str]
    label_names: dict[str, list[str]] = field(default_factory=dict)


def hf_format_rows(
    name: str, path: Path, splits: Sequence[str], optional: Sequence[str] = ()
) -> Loaded | None:
    """Rows of ``splits`` from a Hub-format copy at ``path``, or None if it is not one.

    Splits in ``optional`` (few-shot pools) may be missing from the copy.

    Recognised: a ``save_to_disk`` folder (a DatasetDict or one Dataset), one Parquet
    file (used for every split asked), or a folder holding ``<split>-*.parquet`` or
    ``<split>.parquet`` files (directly or under ``data/``, the Hub's layout).
    """
    if path.is_dir() and (path / "dataset_dict.json").exists():
        return _from_disk(name, path, splits, dict_layout=True, optional=optional)
    if path.is_dir() and (path / "dataset_info.json").exists():
        return _from_disk(name, path, [s for s in splits if s not in optional], dict_layout=False)
    if path.is_file() and path.suffix == ".parquet":
        rows = read_rows(path)
        names = _parquet_label_names([path])
        return Loaded(
            {s: rows for s in splits},
            {s: str(path) for s in splits},
            hash_files([path]),
            names,
        )
    if path.is_dir():
        found = {s: _parquet_files(path, s) for s in splits}
        found = {s: f for s, f in found.items() if f or s not in optional}
        if any(found.values()):
            missing = [s for s, files in found.items() if not files]
            if missing:
                raise ConfigError(
                    f"--data {name}={path}: no Parquet file for split(s) {missing} "
                    f"(looked for <split>-*.parquet and <split>.parquet, also under data/)"
                )
            split_rows = {s: _concat(files) for s, files in found.items()}
            all_files = [f for files in found.values() for f in files]
            return Loaded(
                split_rows,
                {s: str(files[0].parent) for s, files in found.items()},
                hash_files(all_files, path),
                _parquet_label_names(all_files),
            )
    return None


def _parquet_files(root: Path, split: str) -> list[Path]:
    files: list[Path] = []
    for folder in (root, root / "data"):
        files += sorted(folder.glob(f"{split}-*.parquet")) + sorted(folder.glob(f"{split}.parquet"))
    return files


def _concat(files: Sequence[Path]) -> list[Row]:
    rows: list[Row] = []
    for file in files:
        for row in read_rows(file):
            rows.append(Row(len(rows) + 1, row.fields))
    return rows


def _parquet_label_names(files: Sequence[Path]) -> dict[str, list[str]]:
    """Class-label names the ``datasets`` library stores in a Parquet schema, by column."""
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        return {}
    names: dict[str, list[str]] = {}
    for file in files[:1]:
        metadata = pq.read_schema(file).metadata or {}
        info = metadata.get(b"huggingface")
        if not info:
            continue
        features = json.loads(info).get("info", {}).get("features", {})
        for column, feature in features.items():
            if isinstance(feature, dict) and feature.get("_type") == "ClassLabel":
                names[column] = list(feature.get("names", []))
    return names


def _from_disk(
    name: str,
    path: Path,
    splits: Sequence[str],
    *,
    dict_layout: bool,
    optional: Sequence[str] = (),
) -> Loaded:
    datasets = _import_datasets(name)
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as error:
        raise InputError(path, None, None, f"not a readable save_to_disk folder: {error}") from None
    out: dict[str, list[Row]] = {}
    names: dict[str, list[str]] = {}
    for split in splits:
        if dict_layout and split not in loaded and split in optional:
            continue
        if dict_layout:
            if split not in loaded:
                raise ConfigError(
                    f"--data {name}={path}: split {split!r} is not among {sorted(loaded)}"
                )
            dataset = loaded[split]
        else:
            dataset = loaded
        out[split] = [Row(i, record) for i, record in enumerate(dataset, start=1)]
        names.update(_feature_names(dataset))
    files = [p for p in path.rglob("*") if p.is_file()]
    return Loaded(out, {s: f"{path}[{s}]" for s in out}, hash_files(files, path), names)


def _feature_names(dataset: Any) -> dict[str, list[str]]:
    names = {}
    for column, feature in getattr(dataset, "features", {}).items():
        if hasattr(feature, "names") and hasattr(feature, "int2str"):
            names[column] = list(feature.names)
    return names


# -------------------------------------------------------------------------------- hub


def hub_rows(name: str, hub: HubSource, splits: Sequence[str], formats: str) -> Loaded:
    """Rows of ``splits`` from the pinned Hub dataset; offline, an error naming ``--data``.

    Args:
        name: the built-in task's name (for messages).
        hub: the pinned dataset.
        splits: the Hub split names wanted.
        formats: what ``--data`` accepts for this task (for the offline message).
    """
    datasets = _import_datasets(name)
    out: dict[str, list[Row]] = {}
    names: dict[str, list[str]] = {}
    for split in splits:
        with hub_access() as access:
            try:
                dataset = datasets.load_dataset(
                    hub.path, hub.name, split=split, revision=hub.revision
                )
            except Exception as error:  # datasets raises many types for "cannot reach/find"
                why = access.why_offline() or str(error)
                raise ConfigError(
                    f"task {name!r}: could not load {hub.describe()} split {split!r} from the "
                    f"Hugging Face Hub ({why}). Without network, point fteval at a local "
                    f"copy: --data {name}=PATH ({formats})"
                ) from None
        out[split] = [Row(i, dict(record)) for i, record in enumerate(dataset, start=1)]
        names.update(_feature_names(dataset))
    sources = {s: f"hf:{hub.describe()}[{s}]" for s in splits}
    return Loaded(out, sources, {"hub": hub.describe()}, names)


def _import_datasets(name: str) -> Any:
    try:
        import datasets
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "datasets", "data", f"loading task {name!r} from the Hub or a datasets folder"
        ) from None
    return datasets


def class_name(
    source: str, row: Row, column: str, value: Any, names: Mapping[str, list[str]]
) -> str:
    """A class label as its name: a string as is, an id through the dataset's names."""
    if isinstance(value, str):
        return value
    labels = names.get(column)
    if labels is None:
        raise InputError(
            source, row.number, column, "a class id, but the dataset stores no class names", value
        )
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(labels):
        raise InputError(source, row.number, column, f"not a class id 0..{len(labels) - 1}", value)
    return labels[value]


OriginalReader = Callable[[Path, Sequence[str]], "Loaded | None"]
RowConverter = Callable[[str, Row, Mapping[str, list[str]]], Row]


def builtin_source(
    name: str,
    options: TaskOptions,
    splits: Mapping[str, str],
    *,
    hub: HubSource,
    formats: str,
    read_original: OriginalReader,
    convert: RowConverter | None = None,
    optional: Sequence[str] = (),
) -> DataSource:
    """The task's data by split, from ``--data`` or the pinned Hub dataset.

    Args:
        name: the task name (for messages).
        options: the run's options for this task (``data``).
        splits: our split name -> the Hub's split name.
        hub: the pinned Hub dataset.
        formats: what ``--data`` accepts (for messages).
        read_original: reads the original release format at a path (our split names), or
            returns None when the path is not in that format.
        convert: maps a Hub-format row to the original format's fields.
        optional: splits that may be missing (few-shot pools, train and validation
            splits): left out of a local copy that lacks them; on the Hub, read when
            first asked for and left out if they cannot be.
    """
    origin = f"builtin:{name}"
    if options.data is not None:
        loaded = local_rows(name, options.data, splits, formats, read_original, convert, optional)
        return rows_source(origin, loaded.splits, loaded.sources, loaded.hashes)
    readers = {
        ours: SplitReader(
            f"hf:{hub.describe()}[{theirs}]", _hub_reader(name, hub, theirs, formats, convert)
        )
        for ours, theirs in splits.items()
    }
    return DataSource(origin, readers, hashes={"hub": hub.describe()}, optional=optional)


def _hub_reader(
    name: str, hub: HubSource, split: str, formats: str, convert: RowConverter | None
) -> Callable[[], list[Row]]:
    def read() -> list[Row]:
        loaded = hub_rows(name, hub, [split], formats)
        return _renamed(loaded, {split: split}, convert).splits[split]

    return read


def local_rows(
    name: str,
    data: str,
    splits: Mapping[str, str],
    formats: str,
    read_original: OriginalReader,
    convert: RowConverter | None,
    optional: Sequence[str],
) -> Loaded:
    """Rows of each split of a local copy (``--data NAME=PATH``), our split names."""
    path = need_path(name, data)
    original = read_original(path, list(splits))
    if original is not None:
        return original
    hub_names = [splits[s] for s in splits]
    loaded = hf_format_rows(name, path, hub_names, [splits[s] for s in optional])
    if loaded is None:
        raise ConfigError(f"--data {name}={path}: not a known layout ({formats})")
    return _renamed(loaded, splits, convert)


def _renamed(loaded: Loaded, splits: Mapping[str, str], convert: RowConverter | None) -> Loaded:
    out: dict[str, list[Row]] = {}
    sources: dict[str, str] = {}
    for ours, theirs in splits.items():
        if theirs not in loaded.splits:
            continue
        source = loaded.sources[theirs]
        rows = loaded.splits[theirs]
        out[ours] = [convert(source, r, loaded.label_names) for r in rows] if convert else rows
        sources[ours] = source
    return Loaded(out, sources, loaded.hashes, loaded.label_names)


def optional_file(path: Path) -> Path | None:
    """``path`` if it is a file, else None."""
    return path if path.is_file() else None


def shots_for(name: str, options: TaskOptions, default: int, source: DataSource, split: str) -> int:
    """The number of shots: ``--num-fewshot`` or the default; an error without a pool.

    Whether the pool holds that many rows is checked when the prompts are built.
    """
    asked = options.shots_for(name)
    shots = default if asked is None else asked
    if shots < 0:
        raise ConfigError(f"--num-fewshot must be >= 0, got {shots}")
    if shots and split not in source.splits():
        why = source.unavailable.get(split)
        raise ConfigError(
            f"task {name!r}: {shots}-shot prompts draw from the {split!r} split, which the data "
            f"lacks{f' ({why})' if why else ''}; give a copy that has it "
            f"(--data {name}=PATH) or --num-fewshot 0"
        )
    return shots

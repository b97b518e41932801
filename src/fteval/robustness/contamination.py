"""Contamination: test items that occur in the training data, and what they do to scores.

Sources: each ``--train-data ARM=PATH`` file (arms naming the same file share one
source), and the evaluated task's own ``train`` split when its data has one (source
``train split``). A training row's text is every string in it (nested lists and objects
included), joined by newlines, so prompt/completion pairs, chat ``messages`` and plain
``text`` rows all work; a task's own train split contributes its items' inputs.

The test side is each item's input (``Example.input_text``: its filled template fields).
Two normalisations:

* **exact**: casefolded, whitespace collapsed. An item is an exact match when its
  normalised input equals the normalised text of a training row or of one of the row's
  string values.
* **near**: word tokens (``\\w+``, casefolded). An item's *overlap* is the share of its
  word n-grams (``n`` = :data:`DEFAULT_NGRAM` = 8 by default) found anywhere in the
  training data. It is a near match when the overlap is at least the threshold
  (:data:`DEFAULT_THRESHOLD` = 0.7). This is PaLM's rule (Chowdhery et al. 2022, §8:
  8-grams, 70%); GPT-3 used 13-grams with any collision, which flags far more. An item
  with fewer than ``n`` words has no n-gram and overlap 0: it can only be an exact
  match (the few words of a short question occur in any large training set, so a
  "100% overlap" of them says nothing).

The overlap of each item with each source is computed when the run starts and kept in
``meta.contamination = {source: [exact (0/1), overlap]}``; results apply the threshold
(so it can change on re-scoring). Only the test items' n-grams are kept in memory;
the training data is streamed once per source.

Per task × source (``contamination``): ``n`` items, ``exact`` and ``near`` counts (near
excludes exact), the threshold, ``duplicates_in_test`` (items whose normalised input is
shared with another test item: reported, never merged; ``duplicate_groups`` lists up to
20 groups of ids), and ``by_arm``: each arm's score on the *clean* subset (neither exact
nor near) and on the *overlap* subset (exact or near), each compared with the base on
the same items by the comparison engine (paired by id).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from fteval import engine
from fteval.data.readers import read_rows
from fteval.engine import ItemStats, StatsOptions
from fteval.records.rows import Comparison, Row, meta
from fteval.scoring import ArmStats
from fteval.tasks.task import Task

DEFAULT_NGRAM = 8
DEFAULT_THRESHOLD = 0.7
TRAIN_SPLIT = "train split"
MAX_GROUPS = 20
_TOKEN = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Casefolded, whitespace collapsed (the exact-match normalisation)."""
    return " ".join(text.casefold().split())


def input_key(text: str) -> str:
    """16 hex digits of sha256 of the normalised input (duplicates in the test set)."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def file_texts(path: str) -> Iterable[list[str]]:
    """Each row of a training-data file as its list of strings."""
    for row in read_rows(path):
        yield list(_strings(row.fields))


def overlaps(
    inputs: Sequence[str], training: Iterable[Sequence[str]], *, ngram: int = DEFAULT_NGRAM
) -> list[tuple[bool, float]]:
    """(exact match, n-gram overlap in [0, 1]) of each input against the training texts.

    Args:
        inputs: the test items' inputs.
        training: each training row as its strings (a row's text is their join).
        ngram: the n of the word n-grams (>= 1).
    """
    grams = [_ngram_keys(_tokens(text), ngram) for text in inputs]
    wanted = {key for keys in grams for key in keys}
    exact_keys = {normalise(t) for t in inputs}
    found: set[int] = set()
    exact_found: set[str] = set()
    for strings in training:
        texts = [*strings, "\n".join(strings)] if len(strings) > 1 else list(strings)
        exact_found.update(k for k in map(normalise, texts) if k in exact_keys)
        found.update(k for k in _ngram_keys(_tokens("\n".join(strings)), ngram) if k in wanted)
    out = []
    for text, keys in zip(inputs, grams):
        share = sum(k in found for k in keys) / len(keys) if keys else 0.0
        out.append((normalise(text) in exact_found, share))
    return out


def _ngram_keys(words: Sequence[str], ngram: int) -> list[int]:
    """Hashes of the word n-grams of ``words`` (none when it has fewer than ``ngram``)."""
    return [hash(tuple(words[i : i + ngram])) for i in range(len(words) - ngram + 1)]


def tag_contamination(
    task: Task, sources: Mapping[str, Iterable[Sequence[str]]], *, ngram: int = DEFAULT_NGRAM
) -> Task:
    """``task`` with ``meta.contamination`` and ``meta.input_key`` on every item."""
    inputs = [example.input_text() for example in task.examples]
    found = {label: overlaps(inputs, texts, ngram=ngram) for label, texts in sources.items()}
    examples = tuple(
        dataclasses.replace(
            example,
            meta={
                **example.meta,
                "input_key": input_key(inputs[i]),
                "contamination": {
                    label: [int(result[i][0]), round(result[i][1], 6)]
                    for label, result in found.items()
                },
            },
        )
        for i, example in enumerate(task.examples)
    )
    return dataclasses.replace(task, examples=examples)


def train_split_texts(task: Task) -> Iterable[Sequence[str]] | None:
    """The inputs of the task's own ``train`` split (None when it has none)."""
    if task.loader is None or "train" not in task.loader.splits() or task.split == "train":
        return None
    return ([example.input_text()] for example in task.loader.load_split("train"))


# ---- results ----

SECTION = "contamination"
SUBSETS = ("clean", "overlap")


@dataclass(frozen=True)
class ContaminationArm(Row):
    """One arm's scores on the clean and overlapping subsets of one task and source.

    Attributes:
        arm: arm name.
        metric: metric key.
        scale: multiply metric units by this to display.
        clean_n: items neither exact nor near matches.
        clean_value: the arm's score on them (metric units; NaN when none).
        overlap_n: items that are exact or near matches.
        overlap_value: the arm's score on them.
        clean_vs_base: the arm vs base on the clean items (None for the base or no items).
        overlap_vs_base: the arm vs base on the overlapping items.
    """

    arm: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    scale: float = field(metadata=meta(schema="positive"))
    clean_n: int = field(metadata=meta(schema="count"))
    clean_value: float
    overlap_n: int = field(metadata=meta(schema="count"))
    overlap_value: float
    clean_vs_base: Comparison | None = None
    overlap_vs_base: Comparison | None = None


@dataclass(frozen=True)
class ContaminationRow(Row):
    """One task x training-data source (see the module docstring).

    Attributes:
        task: task name.
        source: the training-data file, or ``train split``.
        arms: the arms trained on that source.
        n: test items.
        exact: exact matches.
        near: near matches (exact ones excluded).
        threshold: the n-gram overlap a near match needs, in (0, 1].
        ngram: the n of the word n-grams.
        duplicates_in_test: items whose normalised input another test item shares.
        duplicate_groups: up to 20 groups of such ids.
        by_arm: each arm's scores on the clean and overlapping subsets.
    """

    DESCRIPTION: ClassVar[str] = "One row per task x training-data source."

    task: str = field(metadata=meta(schema="name"))
    source: str
    arms: tuple[str, ...]
    n: int = field(metadata=meta(schema="count"))
    exact: int = field(metadata=meta(schema="count"))
    near: int = field(metadata=meta(schema="count"))
    threshold: float
    ngram: int
    duplicates_in_test: int = field(metadata=meta(schema="count"))
    duplicate_groups: tuple[tuple[str, ...], ...]
    by_arm: tuple[ContaminationArm, ...]


def contamination_rows(
    task: str,
    table: Mapping[tuple[str, str, str], ArmStats],
    meta_of: Mapping[str, Mapping[str, Any]],
    base: str | None,
    options: StatsOptions,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    ngram: int = DEFAULT_NGRAM,
    source_arms: Mapping[str, Sequence[str]] | None = None,
) -> list[ContaminationRow]:
    """The ``contamination`` rows of one task (one per source), comparisons unadjusted."""
    entries = {(a, m): item for (t, a, m), item in table.items() if t == task}
    if not entries:
        return []
    ids = next(iter(entries.values())).example_ids
    sources = list(
        dict.fromkeys(s for i in ids for s in meta_of.get(i, {}).get("contamination", {}))
    )
    groups = _duplicate_groups(ids, meta_of)
    rows = []
    for source in sources:
        flags = [meta_of.get(i, {}).get("contamination", {}).get(source, [0, 0.0]) for i in ids]
        exact = np.array([bool(f[0]) for f in flags])
        near = np.array([f[1] >= threshold for f in flags]) & ~exact
        overlap = exact | near
        overlapping = {i for i, flag in zip(ids, overlap) if flag}
        rows.append(
            ContaminationRow(
                task=task, source=source, arms=tuple((source_arms or {}).get(source, [])),
                n=len(ids), exact=int(exact.sum()), near=int(near.sum()), threshold=threshold,
                ngram=ngram, duplicates_in_test=sum(len(g) for g in groups),
                duplicate_groups=tuple(tuple(g) for g in groups[:MAX_GROUPS]),
                by_arm=tuple(
                    _arm_row(task, source, item, entries, overlapping, base, options)
                    for item in entries.values()
                ),
            )
        )  # fmt: skip
    return rows


def _duplicate_groups(
    ids: Sequence[str], meta_of: Mapping[str, Mapping[str, Any]]
) -> list[list[str]]:
    by_key: dict[str, list[str]] = {}
    for item in ids:
        key = meta_of.get(item, {}).get("input_key")
        if key is not None:
            by_key.setdefault(key, []).append(item)
    return [group for group in by_key.values() if len(group) > 1]


def _arm_row(
    task: str,
    source: str,
    item: ArmStats,
    entries: Mapping[tuple[str, str], ArmStats],
    overlapping: set[str],
    base: str | None,
    options: StatsOptions,
) -> ContaminationArm:
    reference = entries.get((base, item.metric.key)) if base not in (None, item.arm) else None
    mine = ItemStats.of(item)
    parts = {
        "overlap": [i for i, example in enumerate(mine.example_ids) if example in overlapping],
        "clean": [i for i, example in enumerate(mine.example_ids) if example not in overlapping],
    }
    values: dict[str, Any] = {}
    for subset in SUBSETS:
        rows = mine.subset(parts[subset])
        values[f"{subset}_n"] = len(rows.stats)
        values[f"{subset}_value"] = rows.value
        if reference is not None and base is not None and len(rows.stats):
            values[f"{subset}_vs_base"] = engine.compare(
                rows, reference, options, task=task, arm=item.arm, reference_arm=base,
                section=SECTION, subject={"source": source, "subset": subset},
            )  # fmt: skip
    return ContaminationArm(arm=item.arm, metric=item.metric.key, scale=item.metric.scale,
                            **values)  # fmt: skip

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
  training data; an item shorter than ``n`` words counts its whole word sequence as one
  n-gram. It is a near match when the overlap is at least the threshold
  (:data:`DEFAULT_THRESHOLD` = 0.7). This is PaLM's rule (Chowdhery et al. 2022, §8:
  8-grams, 70%); GPT-3 used 13-grams with any collision, which flags far more.

The overlap of each item with each source is computed when the run starts and kept in
``meta.contamination = {source: [exact (0/1), overlap]}``; results apply the threshold
(so it can change on re-scoring). Only the test items' n-grams are kept in memory;
the training data is streamed once per source.

Per task × source (``contamination``): ``n`` items, ``exact`` and ``near`` counts (near
excludes exact), the threshold, ``duplicates_in_test`` (items whose normalised input is
shared with another test item: reported, never merged; ``duplicate_groups`` lists up to
20 groups of ids), and ``by_arm``: each arm's score on the *clean* subset (neither exact
nor near) and on the *overlap* subset (exact or near), each with its delta vs base on
the same items (paired bootstrap CI, paired test).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from fteval import stats
from fteval.data.readers import read_rows
from fteval.robustness._common import stable_seed
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
    grams: list[list[int]] = []
    wanted: dict[int, set[int]] = {}
    for text in inputs:
        words = _tokens(text)
        size = min(ngram, len(words))
        keys = (
            [hash(tuple(words[i : i + size])) for i in range(len(words) - size + 1)] if size else []
        )
        grams.append(keys)
        wanted.setdefault(size, set()).update(keys)
    wanted.pop(0, None)
    exact_keys = {normalise(t) for t in inputs}
    found: dict[int, set[int]] = {size: set() for size in wanted}
    exact_found: set[str] = set()
    for strings in training:
        texts = [*strings, "\n".join(strings)] if len(strings) > 1 else list(strings)
        exact_found.update(k for k in map(normalise, texts) if k in exact_keys)
        words = _tokens("\n".join(strings))
        for size, wanted_keys in wanted.items():
            matched = found[size]
            for i in range(len(words) - size + 1):
                key = hash(tuple(words[i : i + size]))
                if key in wanted_keys:
                    matched.add(key)
    out = []
    for text, keys in zip(inputs, grams):
        size = min(ngram, len(_tokens(text)))
        share = sum(k in found.get(size, ()) for k in keys) / len(keys) if keys else 0.0
        out.append((normalise(text) in exact_found, share))
    return out


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


def contamination_rows(
    task: str,
    table: Mapping[tuple[str, str, str], ArmStats],
    meta_of: Mapping[str, Mapping[str, Any]],
    base: str | None,
    options: Any,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    ngram: int = DEFAULT_NGRAM,
    source_arms: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """The ``contamination`` rows of one task (one per source)."""
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
        rows.append(
            {
                "task": task, "source": source,
                "arms": list((source_arms or {}).get(source, [])),
                "n": len(ids), "exact": int(exact.sum()), "near": int(near.sum()),
                "threshold": threshold, "ngram": ngram,
                "duplicates_in_test": sum(len(g) for g in groups),
                "duplicate_groups": groups[:MAX_GROUPS],
                "by_arm": _by_arm(task, source, entries, overlap, base, options),
            }
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


def _by_arm(
    task: str,
    source: str,
    entries: Mapping[tuple[str, str], ArmStats],
    overlap: np.ndarray,
    base: str | None,
    options: Any,
) -> list[dict[str, Any]]:
    out = []
    for (arm, key), item in entries.items():
        reference = entries.get((base, key)) if base is not None and arm != base else None
        row: dict[str, Any] = {"arm": arm, "metric": key, "scale": item.metric.scale}
        for name, members in (("clean", ~overlap), ("overlap", overlap)):
            rows = item.stats[members]
            n = len(rows)
            row[f"{name}_n"] = int(n)
            row[f"{name}_value"] = (
                float(item.metric.from_totals(rows.sum(axis=0), n)) if n else math.nan
            )
            row.update(_delta(task, source, name, item, reference, members, options))
        out.append(row)
    return out


def _delta(
    task: str,
    source: str,
    name: str,
    item: ArmStats,
    reference: ArmStats | None,
    members: np.ndarray,
    options: Any,
) -> dict[str, Any]:
    keys = [f"{name}_delta_vs_base", f"{name}_delta_ci_low", f"{name}_delta_ci_high",
            f"{name}_p_value"]  # fmt: skip
    if reference is None or not members.any():
        return dict.fromkeys(keys)
    seed = stable_seed(options.seed, "contamination", task, source, name, item.arm, item.metric.key)
    a, b = item.stats[members], reference.stats[members]
    delta = stats.paired_bootstrap_delta(
        item.metric, a, b, confidence=options.confidence, n_resamples=options.bootstrap_resamples,
        method=options.ci_method, seed=seed,
    )  # fmt: skip
    test = stats.paired_test(item.metric, a, b, n_resamples=options.permutations, seed=seed)
    return dict(zip(keys, (delta.delta, delta.low, delta.high, test.p_value)))

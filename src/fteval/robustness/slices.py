"""Subgroups: tag items with their slice (``--slice FIELD``), then score each slice.

Tagging happens when the run loads its tasks: each item gets ``meta.slices = {field:
value}``, written to samples.jsonl, so the slice rows can be rebuilt from samples alone.

* A data column: its value as text; a missing or null value is the slice ``(missing)``.
  A numeric column with more than :data:`MAX_CATEGORIES` distinct values is cut into
  terciles (``low``, ``mid``, ``high``, each with its range), like ``length``.
* ``length`` (built in, unless the data has a column of that name): the item's input in
  words (whitespace-separated), cut at the task's tercile boundaries into ``short``,
  ``medium`` and ``long``, each label with its range in words.

More than :data:`MAX_SLICES` distinct values in a column is an error (per-slice
statistics would rest on a handful of items each).

Per task × field × slice × arm × metric (``slices``): the score with a bootstrap CI over
the slice's items; for non-base arms the paired delta vs base on the slice's items with
a paired bootstrap CI, the paired test of the comparisons (exact McNemar or
permutation), the p-value adjusted with the run's correction over the family of one task
× field × arm (all slices × metrics), and a verdict; ``is_worst`` marks the arm's worst
slice; ``regressed_while_task_improved`` marks a slice whose verdict is ``regressed``
while the arm's delta vs base on the whole task points the better way.

Per task × field × arm × metric (``slice_summary``): the worst and best slice and their
gap (best − worst, in the better direction, >= 0) with a bootstrap CI that resamples
items of both slices (slice sizes vary across resamples). The two slices are picked by
their estimates, so the gap is biased upward by the selection; read its CI with that.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fteval import stats
from fteval.errors import ConfigError
from fteval.robustness._common import stable_seed
from fteval.robustness._metrics import GroupGapMetric
from fteval.scoring import ArmStats
from fteval.tasks.task import Task

LENGTH = "length"
MISSING = "(missing)"
MAX_CATEGORIES = 12
MAX_SLICES = 50


def tag_slices(task: Task, fields: Sequence[str]) -> Task:
    """``task`` with ``meta.slices[field]`` set on every item (see the module docstring).

    Raises:
        ConfigError: no item has the field, or it has more than ``MAX_SLICES`` values.
    """
    if not fields:
        return task
    values = {name: _slice_values(task, name) for name in fields}
    examples = tuple(
        dataclasses.replace(
            example,
            meta={
                **example.meta,
                "slices": {name: values[name][i] for name in fields},
            },
        )
        for i, example in enumerate(task.examples)
    )
    return dataclasses.replace(task, examples=examples)


def _slice_values(task: Task, name: str) -> list[str]:
    has_column = any(name in example.fields for example in task.examples)
    if name == LENGTH and not has_column:
        lengths = [len(example.input_text().split()) for example in task.examples]
        return _terciles(lengths, ("short", "medium", "long"), "words")
    if not has_column:
        known = sorted({k for example in task.examples[:50] for k in example.fields})
        raise ConfigError(
            f"--slice {name}: task {task.name!r} has no field {name!r} (fields: "
            f"{known or 'none; its items carry no data columns'}; or use the built-in "
            f"'{LENGTH}')"
        )
    raw = [example.fields.get(name) for example in task.examples]
    present = [v for v in raw if not _missing(v)]
    numeric = present and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in present
    )
    if numeric and len(set(present)) > MAX_CATEGORIES:
        labels = _terciles([float(v) for v in present if v is not None], ("low", "mid", "high"), "")
        found = iter(labels)
        return [MISSING if _missing(v) else next(found) for v in raw]
    values = [MISSING if _missing(v) else _text(v) for v in raw]
    distinct = set(values)
    if len(distinct) > MAX_SLICES:
        raise ConfigError(
            f"--slice {name}: task {task.name!r} has {len(distinct)} distinct values of "
            f"{name!r} (at most {MAX_SLICES}); slice by a coarser field"
        )
    return values


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _terciles(values: Sequence[float], names: Sequence[str], unit: str) -> list[str]:
    """Each value's tercile label, e.g. ``short (3-12 words)``; ties stay together."""
    array = np.asarray(values, dtype=np.float64)
    if not len(array):
        return []
    cuts = np.quantile(array, [1 / 3, 2 / 3])
    bucket = np.searchsorted(cuts, array, side="left")  # value <= cut -> that bucket
    labels = {}
    for index in np.unique(bucket):
        members = array[bucket == index]
        low, high = _shown(members.min()), _shown(members.max())
        span = low if low == high else f"{low}-{high}"
        labels[int(index)] = f"{names[int(index)]} ({span}{' ' + unit if unit else ''})"
    return [labels[int(b)] for b in bucket]


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


# ---- results ----


def slice_rows(
    task: str,
    table: Mapping[tuple[str, str, str], ArmStats],
    slices_of: Mapping[str, Mapping[str, str]],
    base: str | None,
    comparisons: Sequence[Mapping[str, Any]],
    options: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``slices`` rows, ``slice_summary`` rows) of one task.

    Args:
        task: the task's name.
        table: (task, arm, metric) -> the arm's clean statistics (``scoring.arm_stats``).
        slices_of: example id -> {field: slice value} (from the samples' ``meta.slices``).
        base: the base arm's name.
        comparisons: the run's comparison rows (for the whole-task delta vs base).
        options: the run's ``StatsOptions``.
    """
    entries = {(a, m): item for (t, a, m), item in table.items() if t == task}
    if not entries or not slices_of:
        return [], []
    ids = next(iter(entries.values())).example_ids
    fields = list(dict.fromkeys(f for tags in slices_of.values() for f in tags))
    whole = {(c["arm"], c["metric"]): c for c in comparisons
             if c["task"] == task and c["reference_arm"] == base}  # fmt: skip
    rows, summary = [], []
    for field in fields:
        groups: dict[str, list[int]] = {}
        for index, example_id in enumerate(ids):
            groups.setdefault(slices_of.get(example_id, {}).get(field, MISSING), []).append(index)
        field_rows = []
        for (arm, key), item in entries.items():
            reference = entries.get((base, key)) if base is not None and arm != base else None
            arm_rows = [
                _slice_row(task, field, value, item, reference, np.array(members), options)
                for value, members in groups.items()
            ]
            _mark_worst(arm_rows, item.metric.higher_is_better)
            summary.append(_summary(task, field, item, groups, arm_rows, options))
            field_rows += arm_rows
        _adjust(field_rows, options)
        for row in field_rows:
            _judge(row, whole.get((row["arm"], row["metric"])), options)
        rows += field_rows
    return rows, summary


def _slice_row(
    task: str,
    field: str,
    value: str,
    item: ArmStats,
    reference: ArmStats | None,
    members: np.ndarray,
    options: Any,
) -> dict[str, Any]:
    metric = item.metric
    seed = stable_seed(options.seed, "slice", task, field, value, item.arm, metric.key)
    ci = stats.bootstrap_ci(
        metric, item.stats[members], confidence=options.confidence,
        n_resamples=options.bootstrap_resamples, method=options.ci_method, seed=seed,
    )  # fmt: skip
    row: dict[str, Any] = {
        "task": task, "field": field, "slice": value, "arm": item.arm, "metric": metric.key,
        "n": len(members), "value": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
        "delta_vs_base": None, "delta_ci_low": None, "delta_ci_high": None,
        "p_value": None, "p_adjusted": None, "verdict": None, "is_worst": False,
        "regressed_while_task_improved": False, "scale": metric.scale,
        "higher_is_better": metric.higher_is_better,
    }  # fmt: skip
    if reference is not None:
        delta = stats.paired_bootstrap_delta(
            metric, item.stats[members], reference.stats[members],
            confidence=options.confidence, n_resamples=options.bootstrap_resamples,
            method=options.ci_method, seed=seed,
        )  # fmt: skip
        test = stats.paired_test(
            metric, item.stats[members], reference.stats[members],
            n_resamples=options.permutations, seed=seed,
        )  # fmt: skip
        row.update(delta_vs_base=delta.delta, delta_ci_low=delta.low, delta_ci_high=delta.high,
                   p_value=test.p_value, test=test.test)  # fmt: skip
    return row


def _mark_worst(rows: list[dict[str, Any]], higher_is_better: bool) -> None:
    scored = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
    if not scored:
        return
    pick = min if higher_is_better else max
    pick(scored, key=lambda r: r["value"])["is_worst"] = True


def _summary(
    task: str,
    field: str,
    item: ArmStats,
    groups: Mapping[str, Sequence[int]],
    rows: Sequence[Mapping[str, Any]],
    options: Any,
) -> dict[str, Any]:
    metric = item.metric
    scored = [r for r in rows if math.isfinite(r["value"])]
    out: dict[str, Any] = {"task": task, "field": field, "arm": item.arm, "metric": metric.key,
                           "worst_slice": None, "best_slice": None, "best_worst_gap": None,
                           "gap_ci_low": None, "gap_ci_high": None}  # fmt: skip
    if len(scored) < 2:
        return out
    order = sorted(scored, key=lambda r: r["value"], reverse=metric.higher_is_better)
    best, worst = order[0], order[-1]
    gap_metric = GroupGapMetric(metric, item.stats.shape[1])
    stacked = GroupGapMetric.stack(
        item.stats[list(groups[best["slice"]])], item.stats[list(groups[worst["slice"]])]
    )
    seed = stable_seed(options.seed, "slice-gap", task, field, item.arm, metric.key)
    ci = stats.bootstrap_ci(
        gap_metric, stacked, confidence=options.confidence, n_resamples=options.bootstrap_resamples,
        method="percentile", seed=seed,
    )  # fmt: skip
    sign = 1.0 if metric.higher_is_better else -1.0
    low, high = (ci.low, ci.high) if sign > 0 else (-ci.high, -ci.low)
    out.update(worst_slice=worst["slice"], best_slice=best["slice"],
               best_worst_gap=sign * ci.estimate, gap_ci_low=low, gap_ci_high=high)  # fmt: skip
    return out


def _adjust(rows: list[dict[str, Any]], options: Any) -> None:
    """Adjust per (arm) within one task × field: every slice × metric is one family."""
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["p_value"] is not None:
            families.setdefault(row["arm"], []).append(row)
    for family in families.values():
        adjusted = stats.adjust_pvalues(
            np.array([r["p_value"] for r in family], dtype=float), method=options.correction
        )
        for row, value in zip(family, adjusted):
            row["p_adjusted"] = float(value)


def _judge(row: dict[str, Any], whole: Mapping[str, Any] | None, options: Any) -> None:
    if row["p_adjusted"] is None:
        return
    verdict = stats.verdict(
        row["delta_vs_base"], row["delta_ci_low"], row["delta_ci_high"], row["p_adjusted"],
        n_items=row["n"], alpha=options.alpha, higher_is_better=row["higher_is_better"],
    )  # fmt: skip
    row["verdict"] = verdict.label
    if whole is None or whole.get("delta") is None or not math.isfinite(whole["delta"]):
        return
    task_better = whole["delta"] > 0 if row["higher_is_better"] else whole["delta"] < 0
    row["regressed_while_task_improved"] = bool(verdict.label == stats.REGRESSED and task_better)

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
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fteval import engine, stats
from fteval.engine import ItemStats, StatsOptions
from fteval.errors import ConfigError
from fteval.records.rows import Comparison, Row, meta
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

SECTION = "slices"


@dataclass(frozen=True)
class SliceRow(Row):
    """One task x field x slice x arm x metric.

    Attributes:
        task: task name.
        field: the slicing field (a data column or ``length``).
        slice: the slice's value (or tercile label).
        arm: arm name.
        metric: metric key.
        n: items in the slice.
        value: the arm's score on the slice (metric units).
        ci_low: lower end of its bootstrap interval.
        ci_high: upper end.
        is_worst: the arm's worst slice of this field (``worst_and_best``: ties go to the
            first by name; none when every slice ties).
        regressed_while_task_improved: the slice regressed vs base (after correction)
            while the arm's delta vs base on the whole task points the better way.
        task_delta_better: whether that whole-task delta points the better way (None: no
            comparison with base).
        scale: multiply metric units by this to display.
        unit: the metric's unit.
        higher_is_better: the metric's direction.
        vs_base: the arm vs base on the slice's items (None for the base).
    """

    DESCRIPTION: ClassVar[str] = "One row per task x field x slice x arm x metric."

    task: str = dataclasses.field(metadata=meta(schema="name"))
    field: str = dataclasses.field(metadata=meta(schema="name"))
    slice: str
    arm: str = dataclasses.field(metadata=meta(schema="name"))
    metric: str = dataclasses.field(metadata=meta(schema="name"))
    n: int = dataclasses.field(metadata=meta(schema="count"))
    value: float
    ci_low: float
    ci_high: float
    is_worst: bool
    scale: float = dataclasses.field(metadata=meta(schema="positive"))
    unit: str = dataclasses.field(metadata=meta(schema="unit"))
    higher_is_better: bool
    vs_base: Comparison | None = None
    task_delta_better: bool | None = None
    regressed_while_task_improved: bool = False

    def after_decision(self) -> SliceRow:
        """Flag a slice that regressed while the whole task moved the better way."""
        flag = bool(
            self.vs_base is not None
            and self.vs_base.verdict == stats.REGRESSED
            and self.task_delta_better
        )
        return dataclasses.replace(self, regressed_while_task_improved=flag)


@dataclass(frozen=True)
class SliceSummaryRow(Row):
    """Per task x field x arm x metric: the worst and best slice and their gap.

    Attributes:
        task: task name.
        field: the slicing field.
        arm: arm name.
        metric: metric key.
        worst_slice: the worst slice (ties: the first by name), or None (fewer than two
            slices with a value, or every slice ties).
        best_slice: the best slice (ties: the first by name), or None.
        best_worst_gap: best − worst in the better direction (>= 0, metric units).
        gap_ci_low: lower end of its bootstrap interval.
        gap_ci_high: upper end.
        scale: multiply metric units by this to display.
        note: the selection caveat: both slices were picked by their own estimates.
    """

    DESCRIPTION: ClassVar[str] = "Worst and best slice per task x field x arm x metric."

    task: str = dataclasses.field(metadata=meta(schema="name"))
    field: str = dataclasses.field(metadata=meta(schema="name"))
    arm: str = dataclasses.field(metadata=meta(schema="name"))
    metric: str = dataclasses.field(metadata=meta(schema="name"))
    worst_slice: str | None = None
    best_slice: str | None = None
    best_worst_gap: float | None = None
    gap_ci_low: float | None = None
    gap_ci_high: float | None = None
    scale: float = dataclasses.field(default=1.0, metadata=meta(schema="positive"))
    note: str = ""


SELECTION_NOTE = (
    "both slices are picked by their own estimates, so the gap is biased upward by the "
    "choice: read its interval with that"
)


def worst_and_best(values: Mapping[str, float], higher_is_better: bool) -> tuple[str, str] | None:
    """(worst, best) slice by value; ties go to the first slice by name.

    The one rule for every place that names a worst or best slice. Ties are broken by the
    slices' names, not by the order their items come in, so the same slice is named
    whatever the order of the items (a rerun, ``fteval compare`` of two runs). None with
    fewer than two finite values, or when every slice has the same value (no slice is
    worse than another).
    """
    scored = sorted((name, v) for name, v in values.items() if math.isfinite(v))
    if len(scored) < 2:
        return None
    sign = 1.0 if higher_is_better else -1.0
    worst = min(scored, key=lambda item: (sign * item[1], item[0]))
    best = min(scored, key=lambda item: (-sign * item[1], item[0]))
    if worst[1] == best[1]:
        return None
    return worst[0], best[0]


def slice_rows(
    task: str,
    table: Mapping[tuple[str, str, str], ArmStats],
    slices_of: Mapping[str, Mapping[str, str]],
    base: str | None,
    comparisons: Sequence[Comparison],
    options: StatsOptions,
) -> tuple[list[SliceRow], list[SliceSummaryRow]]:
    """(``slices`` rows, ``slice_summary`` rows) of one task, comparisons unadjusted.

    Args:
        task: the task's name.
        table: (task, arm, metric) -> the arm's clean statistics (``scoring.arm_stats``).
        slices_of: example id -> {field: slice value} (from the samples' ``meta.slices``).
        base: the base arm's name.
        comparisons: the run's main comparisons (for the whole-task delta vs base).
        options: the run's ``StatsOptions``.
    """
    entries = {(a, m): item for (t, a, m), item in table.items() if t == task}
    if not entries or not slices_of:
        return [], []
    ids = next(iter(entries.values())).example_ids
    fields = list(dict.fromkeys(f for tags in slices_of.values() for f in tags))
    whole = {(c.arm, c.metric): c for c in comparisons
             if c.task == task and c.reference_arm == base and c.section == "scores"}  # fmt: skip
    rows: list[SliceRow] = []
    summary: list[SliceSummaryRow] = []
    for name in fields:
        groups: dict[str, list[int]] = {}
        for index, example_id in enumerate(ids):
            groups.setdefault(slices_of.get(example_id, {}).get(name, MISSING), []).append(index)
        for (arm, key), item in entries.items():
            reference = entries.get((base, key)) if base is not None and arm != base else None
            better = whole[(arm, key)].better if (arm, key) in whole else None
            arm_rows = [
                _slice_row(task, name, value, item, reference, members, options, better)
                for value, members in groups.items()
            ]
            values = {r.slice: r.value for r in arm_rows}
            picked = worst_and_best(values, item.metric.higher_is_better)
            arm_rows = [
                dataclasses.replace(r, is_worst=picked is not None and r.slice == picked[0])
                for r in arm_rows
            ]
            summary.append(_summary(task, name, item, groups, picked, options))
            rows += arm_rows
    return rows, summary


def _slice_row(
    task: str,
    name: str,
    value: str,
    item: ArmStats,
    reference: ArmStats | None,
    members: Sequence[int],
    options: StatsOptions,
    task_better: bool | None,
) -> SliceRow:
    metric = item.metric
    mine = ItemStats.of(item).subset(members)
    ci = stats.bootstrap_ci(
        metric, mine.stats, confidence=options.confidence,
        n_resamples=options.bootstrap_resamples, method=options.ci_method,
        seed=engine.seed_for(options.seed, "score", mine.digest),
    )  # fmt: skip
    vs_base = None
    if reference is not None:
        vs_base = engine.compare(
            mine, ItemStats.of(reference).subset(members), options, task=task, arm=item.arm,
            reference_arm=reference.arm, section=SECTION, subject={"field": name, "slice": value},
        )  # fmt: skip
    return SliceRow(
        task=task, field=name, slice=value, arm=item.arm, metric=metric.key, n=len(members),
        value=ci.estimate, ci_low=ci.low, ci_high=ci.high, is_worst=False,
        scale=metric.scale, unit=metric.unit, higher_is_better=metric.higher_is_better,
        vs_base=vs_base, task_delta_better=task_better,
    )  # fmt: skip


def _summary(
    task: str,
    name: str,
    item: ArmStats,
    groups: Mapping[str, Sequence[int]],
    picked: tuple[str, str] | None,
    options: StatsOptions,
) -> SliceSummaryRow:
    metric = item.metric
    out = SliceSummaryRow(task=task, field=name, arm=item.arm, metric=metric.key,
                          scale=metric.scale)  # fmt: skip
    if picked is None:
        return out
    worst, best = picked
    gap_metric = GroupGapMetric(metric, item.stats.shape[1])
    stacked = GroupGapMetric.stack(item.stats[list(groups[best])], item.stats[list(groups[worst])])
    ci = stats.bootstrap_ci(
        gap_metric, stacked, confidence=options.confidence,
        n_resamples=options.bootstrap_resamples, method=options.ci_method,
        seed=engine.seed_for(options.seed, "slice-gap", engine.digest_of(stacked)),
    )  # fmt: skip
    sign = 1.0 if metric.higher_is_better else -1.0
    low, high = (ci.low, ci.high) if sign > 0 else (-ci.high, -ci.low)
    return dataclasses.replace(
        out, worst_slice=worst, best_slice=best, best_worst_gap=sign * ci.estimate,
        gap_ci_low=low, gap_ci_high=high, note=SELECTION_NOTE,
    )  # fmt: skip

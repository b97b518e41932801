"""The ``robustness`` section: each arm's score under each perturbation, against its clean
score and against the base model's change.

Per task x perturbation x arm x metric (docs/robustness.md), one ``RobustnessRow``:

* ``clean``, ``perturbed``: the metric on the clean items and on their perturbed copies
  (with ``k`` variants per item, a copy's statistics are the mean of its variants').
* ``worst_of_k`` (``k > 1``): each item scored by its worst variant (for accuracy: an
  item counts only if every variant is right).
* ``ratio``: perturbed / clean (clean / perturbed for lower-is-better metrics), so
  ``ratio < 1`` always means worse; ``brittle`` when ``ratio < brittle_threshold``.
* ``under_perturbation``: the comparison of the arm's perturbed scores with its own clean
  scores, item by item (``delta = perturbed - clean``, metric units: negative is a loss
  for higher-is-better metrics; like every delta in fteval, the arm under test minus
  its reference), with the engine's interval, test, correction and verdict
  (``regressed``: significantly worse under the perturbation).
* ``vs_base``: the arm's change under the perturbation against the base's change on the
  same items (``delta = arm's delta - base's delta``; positive: the arm loses less than
  the base), paired by item id (a perturbed copy by its parent's id): ``improved`` when
  the arm is significantly *more* robust than the base, ``regressed`` when less.

An ``ood`` set whose ids are not all clean ids has no item pairing (``paired`` False):
``under_perturbation`` is then an unpaired two-set comparison (``engine.compare_groups``),
and ``vs_base`` compares the arm with the base on the pooled clean and ood items.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from fteval import engine
from fteval.engine import ItemStats, StatsOptions
from fteval.metrics import Metric
from fteval.records import SampleResult, base_arm_name
from fteval.records.rows import Comparison, Row, meta
from fteval.robustness._common import metric_stats
from fteval.robustness._metrics import DifferenceMetric, GroupGapMetric
from fteval.scoring import ArmStats, TaskInfo

DEFAULT_BRITTLE_THRESHOLD = 0.9
SECTION = "robustness"


@dataclass(frozen=True)
class RobustnessRow(Row):
    """One task x perturbation x arm x metric (see the module docstring).

    Attributes:
        task: the clean task.
        perturbation: the perturbation's label (``typo``, ``typo:rate=0.1``, ``ood``...).
        perturbation_signature: how the perturbation was made (seeded, versioned).
        k: variants per item.
        arm: arm name.
        metric: metric key.
        n: items compared (perturbed copies paired with their clean item).
        paired: whether perturbed items are copies of clean ones (False for ``ood``).
        changed_share: share of perturbed copies whose text differs, in [0, 1].
        clean: the arm's score on the clean items (metric units).
        perturbed: its score on the perturbed copies (metric units).
        worst_of_k: each item by its worst variant (``k > 1``), else None.
        ratio: perturbed / clean, oriented so that below 1 is worse.
        brittle: ``ratio < brittle_threshold``.
        brittle_threshold: the threshold, in (0, 1].
        scale: multiply metric units by this to display.
        higher_is_better: the metric's direction.
        under_perturbation: perturbed vs clean, for this arm.
        vs_base: this arm's change vs the base's change (None for the base).
    """

    DESCRIPTION: ClassVar[str] = "One row per task x perturbation x arm x metric."

    task: str = field(metadata=meta(schema="name"))
    perturbation: str = field(metadata=meta(schema="name"))
    perturbation_signature: str
    k: int
    arm: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    n: int = field(metadata=meta(schema="count"))
    paired: bool
    changed_share: float
    clean: float
    perturbed: float
    worst_of_k: float | None
    ratio: float | None
    brittle: bool
    brittle_threshold: float
    scale: float = field(metadata=meta(schema="positive"))
    higher_is_better: bool
    under_perturbation: Comparison
    vs_base: Comparison | None = None


@dataclass(frozen=True)
class VariantSet:
    """One arm's samples of one perturbation of one task."""

    task: str
    label: str
    signature: str
    samples: tuple[SampleResult, ...]


def variant_sets(samples: Sequence[SampleResult]) -> dict[tuple[str, str, str], VariantSet]:
    """(task, perturbation label, arm) -> that arm's perturbed samples."""
    groups: dict[tuple[str, str, str], list[SampleResult]] = {}
    signatures: dict[tuple[str, str, str], str] = {}
    for sample in samples:
        label = sample.meta.get("perturbation")
        parent = sample.meta.get("parent_task")
        if label is None or parent is None:
            continue
        key = (parent, label, sample.arm)
        groups.setdefault(key, []).append(sample)
        signatures.setdefault(key, sample.meta.get("perturbation_signature", ""))
    return {
        key: VariantSet(key[0], key[1], signatures[key], tuple(group))
        for key, group in groups.items()
    }


def robustness_rows(
    tasks: Sequence[TaskInfo],
    table: Mapping[tuple[str, str, str], ArmStats],
    samples: Sequence[SampleResult],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
    *,
    brittle_threshold: float = DEFAULT_BRITTLE_THRESHOLD,
) -> list[RobustnessRow]:
    """The ``robustness`` rows, comparisons unadjusted (see the module docstring)."""
    sets = variant_sets(samples)
    base = base_arm_name(arms)
    rows = []
    for task in tasks:
        labels = list(dict.fromkeys(label for (t, label, _) in sets if t == task.name))
        for label in labels:
            perturbed = {
                arm["name"]: sets[(task.name, label, arm["name"])]
                for arm in arms
                if (task.name, label, arm["name"]) in sets
            }
            for metric in task.build_metrics():
                clean = {
                    name: table[(task.name, name, metric.key)]
                    for name in perturbed
                    if (task.name, name, metric.key) in table
                }
                if clean:
                    context = _Context(task.name, label, metric, base, options, brittle_threshold)
                    rows += _metric_rows(context, clean, perturbed)
    return rows


@dataclass(frozen=True)
class _Context:
    task: str
    label: str
    metric: Metric
    base: str | None
    options: StatsOptions
    brittle_threshold: float

    def subject(self) -> dict[str, str]:
        return {"perturbation": self.label}


@dataclass(frozen=True)
class _Arm:
    """One arm's clean and perturbed statistics, and what the row reports of them."""

    clean: ItemStats
    perturbed: ItemStats
    worst: float | None
    changed: float


def _metric_rows(
    context: _Context, clean: Mapping[str, ArmStats], perturbed: Mapping[str, VariantSet]
) -> list[RobustnessRow]:
    first = next(iter(perturbed.values()))
    ids = set(next(iter(clean.values())).example_ids)
    parents = [s.meta.get("parent_id") for s in first.samples]
    is_paired = all(p is not None for p in parents) and set(parents) <= ids
    k = max(int(s.meta.get("variant", 0)) for s in first.samples) + 1 if is_paired else 1
    prepare = _aligned if is_paired else _unaligned
    per_arm = {arm: prepare(context.metric, clean[arm], perturbed[arm]) for arm in clean}
    rows = []
    for arm, item in per_arm.items():
        reference = per_arm.get(context.base) if context.base not in (None, arm) else None
        rows.append(_row(context, arm, item, reference, is_paired, k, first.signature))
    return rows


def _row(
    context: _Context,
    arm: str,
    item: _Arm,
    reference: _Arm | None,
    is_paired: bool,
    k: int,
    signature: str,
) -> RobustnessRow:
    metric, options = context.metric, context.options
    if is_paired:
        change = engine.compare(
            item.perturbed, item.clean, options, task=context.task, arm=arm,
            reference_arm=arm, reference_kind="clean", section=SECTION,
            subject={**context.subject(), "compared": "perturbed vs clean"},
            family_pair=f"{arm} perturbed vs clean",
        )  # fmt: skip
    else:
        change = engine.compare_groups(
            item.perturbed, item.clean, options, task=context.task, arm=arm,
            reference_arm=arm, section=SECTION,
            subject={**context.subject(), "compared": "perturbed vs clean"},
            family_pair=f"{arm} perturbed vs clean",
        )  # fmt: skip
    vs_base = None
    if reference is not None and context.base is not None:
        vs_base = engine.compare(
            _change_stats(item, is_paired), _change_stats(reference, is_paired), options,
            task=context.task, arm=arm, reference_arm=context.base, section=SECTION,
            subject={**context.subject(), "compared": "change vs base's change"},
        )  # fmt: skip
    clean_value, perturbed_value = item.clean.value, item.perturbed.value
    ratio = _ratio(metric, clean_value, perturbed_value)
    return RobustnessRow(
        task=context.task,
        perturbation=context.label,
        perturbation_signature=signature,
        k=k,
        arm=arm,
        metric=metric.key,
        n=len(item.clean.stats) if is_paired else len(item.perturbed.stats),
        paired=is_paired,
        changed_share=item.changed,
        clean=clean_value,
        perturbed=perturbed_value,
        worst_of_k=item.worst,
        ratio=ratio,
        brittle=bool(ratio is not None and ratio < context.brittle_threshold),
        brittle_threshold=context.brittle_threshold,
        scale=metric.scale,
        higher_is_better=metric.higher_is_better,
        under_perturbation=change,
        vs_base=vs_base,
    )


def _change_stats(item: _Arm, is_paired: bool) -> ItemStats:
    """Per-item statistics of the arm's change under the perturbation.

    Paired: ``[perturbed, clean]`` per item (``DifferenceMetric``). Unpaired: the pooled
    ood and clean items with membership columns (``GroupGapMetric``), ids prefixed so an
    ood item never pairs with a clean one of the same id.
    """
    metric = item.clean.metric
    width = item.clean.stats.shape[1]
    if is_paired:
        stacked = DifferenceMetric.stack(item.perturbed.stats, item.clean.stats)
        return ItemStats(DifferenceMetric(metric, width), item.clean.example_ids, stacked)
    stacked = GroupGapMetric.stack(item.perturbed.stats, item.clean.stats)
    ids = tuple(f"ood:{i}" for i in item.perturbed.example_ids) + tuple(
        f"clean:{i}" for i in item.clean.example_ids
    )
    return ItemStats(GroupGapMetric(metric, width), ids, stacked)


def _aligned(metric: Metric, clean: ArmStats, variants: VariantSet) -> _Arm:
    """Clean rows and the mean of each item's variant rows, on items that have variants,
    both under the clean item's id."""
    by_parent: dict[str, list[SampleResult]] = {}
    for sample in variants.samples:
        by_parent.setdefault(sample.meta["parent_id"], []).append(sample)
    keep = [i for i, item in enumerate(clean.example_ids) if item in by_parent]
    ordered = [
        sorted(by_parent[clean.example_ids[i]], key=lambda s: s.meta.get("variant", 0))
        for i in keep
    ]
    width = max((len(group) for group in ordered), default=1)
    flat = [s for group in ordered for s in group]
    columns = clean.stats.shape[1]
    values = metric_stats(metric, flat) if flat else np.zeros((0, columns))
    mean_rows, worst_rows = [], []
    cursor = 0
    for group in ordered:
        block = values[cursor : cursor + len(group)]
        cursor += len(group)
        mean_rows.append(block.mean(axis=0))
        scores = metric.item_values(block)
        pick = int(np.argmin(scores) if metric.higher_is_better else np.argmax(scores))
        worst_rows.append(block[pick])
    ids = tuple(clean.example_ids[i] for i in keep)
    worst = None
    if width > 1 and worst_rows:
        worst = ItemStats(metric, ids, np.array(worst_rows).reshape(len(keep), columns)).value
    changed = [bool(s.meta.get("changed", True)) for s in flat]
    return _Arm(
        clean=ItemStats(metric, ids, np.asarray(clean.stats)[keep]),
        perturbed=ItemStats(metric, ids, np.array(mean_rows).reshape(len(keep), columns)),
        worst=worst,
        changed=float(np.mean(changed)) if changed else math.nan,
    )


def _unaligned(metric: Metric, clean: ArmStats, variants: VariantSet) -> _Arm:
    """An ``ood`` set: its own items (ordered by id), not copies of clean ones."""
    ordered = sorted(variants.samples, key=lambda s: s.example_id)
    ids = tuple(s.example_id for s in ordered)
    return _Arm(
        clean=ItemStats.of(clean),
        perturbed=ItemStats(metric, ids, metric_stats(metric, ordered)),
        worst=None,
        changed=1.0,
    )


def _ratio(metric: Metric, clean: float, perturbed: float) -> float | None:
    top, bottom = (perturbed, clean) if metric.higher_is_better else (clean, perturbed)
    if not (math.isfinite(top) and math.isfinite(bottom)) or bottom == 0.0:
        return None
    return top / bottom

"""The ``robustness`` section: each arm's score under each perturbation, against its clean
score and against the base model's drop.

Per task × arm × perturbation × metric (docs/robustness.md):

* ``clean``, ``perturbed``: the metric on the clean items and on their perturbed copies
  (with ``k`` variants per item, a copy's statistics are the mean of its variants').
* ``worst_of_k`` (``k > 1``): each item scored by its worst variant (for accuracy: an
  item counts only if every variant is right).
* ``ratio``: perturbed / clean (clean / perturbed for lower-is-better metrics), so
  ``ratio < 1`` always means worse; ``brittle`` when ``ratio < brittle_threshold``.
* ``drop``: the loss of quality under the perturbation, in metric units, positive =
  worse (clean − perturbed, sign-flipped for lower-is-better metrics), with a paired
  bootstrap CI over items.
* ``gap_vs_base``: the arm's drop minus the base's drop (positive: the arm is more
  brittle than the base), a paired bootstrap CI over items (both arms' clean and
  perturbed statistics resampled together), a paired permutation p-value (an item's two
  arms swapped as a whole), a p-value adjusted with the run's correction over each arm's
  family of tasks × perturbations × metrics, and a verdict: ``improved`` when the arm is
  significantly *more* robust than the base, ``regressed`` when significantly less.

An ``ood`` set whose ids are not all clean ids has no item pairing: ``paired`` is False,
the drop's CI resamples the two sets independently, and the gap's p-value is a Wald
p-value from the bootstrap standard error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fteval import stats
from fteval.metrics import Metric
from fteval.records import SampleResult, base_arm_name
from fteval.robustness._common import metric_stats, oriented, stable_seed, wald_p_value
from fteval.robustness._metrics import DifferenceMetric, GroupGapMetric
from fteval.scoring import ArmStats, TaskInfo

DEFAULT_BRITTLE_THRESHOLD = 0.9


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
    options: Any,
    *,
    brittle_threshold: float = DEFAULT_BRITTLE_THRESHOLD,
) -> list[dict[str, Any]]:
    """The ``robustness`` rows (see the module docstring)."""
    sets = variant_sets(samples)
    base = base_arm_name(arms)
    rows = []
    for task in tasks:
        labels = list(dict.fromkeys(label for (t, label, _) in sets if t == task.name))
        for label in labels:
            for metric in task.build_metrics():
                perturbed = {
                    arm["name"]: sets[(task.name, label, arm["name"])]
                    for arm in arms
                    if (task.name, label, arm["name"]) in sets
                }
                clean = {
                    name: table[(task.name, name, metric.key)]
                    for name in perturbed
                    if (task.name, name, metric.key) in table
                }
                rows += _metric_rows(task.name, label, metric, clean, perturbed, base, options)
    for row in rows:
        row["brittle_threshold"] = brittle_threshold
        row["brittle"] = bool(
            row["ratio"] is not None
            and math.isfinite(row["ratio"])
            and row["ratio"] < brittle_threshold
        )
    _adjust_and_judge(rows, options)
    return rows


@dataclass(frozen=True)
class _Aligned:
    """One arm's clean and perturbed statistics, item by item."""

    clean: np.ndarray
    perturbed: np.ndarray
    worst: np.ndarray | None
    changed: float


def _metric_rows(
    task: str,
    label: str,
    metric: Metric,
    clean: Mapping[str, ArmStats],
    perturbed: Mapping[str, VariantSet],
    base: str | None,
    options: Any,
) -> list[dict[str, Any]]:
    if not clean:
        return []
    first = next(iter(perturbed.values()))
    ids = next(iter(clean.values())).example_ids
    parents = [s.meta.get("parent_id") for s in first.samples]
    paired = all(p is not None for p in parents) and set(parents) <= set(ids)
    k = max(int(s.meta.get("variant", 0)) for s in first.samples) + 1
    rows = []
    if paired:
        aligned = {arm: _align(metric, clean[arm], perturbed[arm]) for arm in clean}
        for arm, item in aligned.items():
            reference = aligned.get(base) if base is not None and arm != base else None
            row = _paired_row(metric, item, reference, options, (task, label, arm))
            rows.append({"task": task, "arm": arm, "perturbation": label,
                         "perturbation_signature": first.signature, "k": k, **row})  # fmt: skip
    else:
        ood = {arm: metric_stats(metric, _ordered(perturbed[arm].samples)) for arm in clean}
        for arm in clean:
            unpaired = (
                (clean[base].stats, ood[base])
                if base is not None and base in clean and arm != base
                else None
            )
            row = _unpaired_row(
                metric, clean[arm].stats, ood[arm], unpaired, options, (task, label, arm)
            )
            rows.append({"task": task, "arm": arm, "perturbation": label,
                         "perturbation_signature": first.signature, "k": 1, **row})  # fmt: skip
    return rows


def _ordered(samples: Sequence[SampleResult]) -> list[SampleResult]:
    return sorted(samples, key=lambda s: s.example_id)


def _align(metric: Metric, clean: ArmStats, variants: VariantSet) -> _Aligned:
    """Clean rows and the mean of each item's variant rows, on items that have variants."""
    by_parent: dict[str, list[SampleResult]] = {}
    for sample in variants.samples:
        by_parent.setdefault(sample.meta["parent_id"], []).append(sample)
    keep = [i for i, item in enumerate(clean.example_ids) if item in by_parent]
    ordered = [sorted(by_parent[clean.example_ids[i]], key=lambda s: s.meta.get("variant", 0))
               for i in keep]  # fmt: skip
    width = max(len(group) for group in ordered) if ordered else 1
    flat = [s for group in ordered for s in group]
    values = metric_stats(metric, flat)
    mean_rows, worst_rows = [], []
    cursor = 0
    for group in ordered:
        block = values[cursor : cursor + len(group)]
        cursor += len(group)
        mean_rows.append(block.mean(axis=0))
        scores = metric.item_values(block)
        pick = int(np.argmin(scores) if metric.higher_is_better else np.argmax(scores))
        worst_rows.append(block[pick])
    columns = values.shape[1] if values.size else clean.stats.shape[1]
    changed = [bool(s.meta.get("changed", True)) for s in flat]
    return _Aligned(
        clean=clean.stats[keep],
        perturbed=np.array(mean_rows).reshape(len(keep), columns),
        worst=np.array(worst_rows).reshape(len(keep), columns) if width > 1 else None,
        changed=float(np.mean(changed)) if changed else math.nan,
    )


def _score(metric: Metric, rows: np.ndarray) -> float:
    return float(metric.from_totals(rows.sum(axis=0), len(rows))) if len(rows) else math.nan


def _ratio(metric: Metric, clean: float, perturbed: float) -> float:
    top, bottom = (perturbed, clean) if metric.higher_is_better else (clean, perturbed)
    return top / bottom if bottom not in (0.0,) and math.isfinite(bottom) else math.nan


def _paired_row(
    metric: Metric,
    item: _Aligned,
    base: _Aligned | None,
    options: Any,
    identity: tuple[str, str, str],
) -> dict[str, Any]:
    sign = 1.0 if metric.higher_is_better else -1.0
    difference = DifferenceMetric(metric, item.clean.shape[1])
    stacked = DifferenceMetric.stack(item.clean, item.perturbed)
    seed = stable_seed(options.seed, "robustness", metric.key, *identity)
    ci = stats.bootstrap_ci(
        difference, stacked, confidence=options.confidence, n_resamples=options.bootstrap_resamples,
        method=options.ci_method, seed=seed,
    )  # fmt: skip
    clean, perturbed = _score(metric, item.clean), _score(metric, item.perturbed)
    low, high = oriented(ci.low, ci.high, sign)
    row = _row(metric, len(item.clean), clean, perturbed, sign * ci.estimate, low, high)
    row["worst_of_k"] = _score(metric, item.worst) if item.worst is not None else None
    row["paired"] = True
    row["changed_share"] = item.changed
    if base is not None and len(base.clean) == len(item.clean):
        base_stacked = DifferenceMetric.stack(base.clean, base.perturbed)
        delta = stats.paired_bootstrap_delta(
            difference, stacked, base_stacked, confidence=options.confidence,
            n_resamples=options.bootstrap_resamples, method=options.ci_method, seed=seed,
        )  # fmt: skip
        test = stats.paired_test(
            difference, stacked, base_stacked, n_resamples=options.permutations, seed=seed
        )
        gap_low, gap_high = oriented(delta.low, delta.high, sign)
        row.update(gap_vs_base=sign * delta.delta, gap_ci_low=gap_low, gap_ci_high=gap_high,
                   gap_p_value=test.p_value, gap_test=test.test)  # fmt: skip
    return row


def _unpaired_row(
    metric: Metric,
    clean: np.ndarray,
    ood: np.ndarray,
    base: tuple[np.ndarray, np.ndarray] | None,
    options: Any,
    identity: tuple[str, str, str],
) -> dict[str, Any]:
    sign = 1.0 if metric.higher_is_better else -1.0
    gap_metric = GroupGapMetric(metric, clean.shape[1])
    seed = stable_seed(options.seed, "robustness", metric.key, *identity)
    ci = stats.bootstrap_ci(
        gap_metric, GroupGapMetric.stack(clean, ood), confidence=options.confidence,
        n_resamples=options.bootstrap_resamples, method=options.ci_method, seed=seed,
    )  # fmt: skip
    low, high = oriented(ci.low, ci.high, sign)
    row = _row(metric, len(ood), _score(metric, clean), _score(metric, ood), sign * ci.estimate,
               low, high)  # fmt: skip
    row.update(worst_of_k=None, paired=False, n_clean=len(clean), changed_share=1.0)
    if base is not None:
        width = clean.shape[1]
        inner = DifferenceMetric(metric, width)
        metric_dd = GroupGapMetric(inner, 2 * width)
        stacked = GroupGapMetric.stack(
            DifferenceMetric.stack(clean, base[0]), DifferenceMetric.stack(ood, base[1])
        )
        gap = stats.bootstrap_ci(
            metric_dd, stacked, confidence=options.confidence,
            n_resamples=options.bootstrap_resamples, method=options.ci_method, seed=seed,
        )  # fmt: skip
        gap_low, gap_high = oriented(gap.low, gap.high, sign)
        row.update(
            gap_vs_base=sign * gap.estimate,
            gap_ci_low=gap_low,
            gap_ci_high=gap_high,
            gap_p_value=wald_p_value(gap.estimate, gap.se),
            gap_test="bootstrap_wald",
        )
    return row


def _row(
    metric: Metric, n: int, clean: float, perturbed: float, drop: float, low: float, high: float
) -> dict[str, Any]:
    return {
        "metric": metric.key,
        "n": n,
        "clean": clean,
        "perturbed": perturbed,
        "ratio": _ratio(metric, clean, perturbed),
        "drop": drop,
        "drop_ci_low": low,
        "drop_ci_high": high,
        "gap_vs_base": None,
        "gap_ci_low": None,
        "gap_ci_high": None,
        "gap_p_value": None,
        "scale": metric.scale,
        "higher_is_better": metric.higher_is_better,
    }


def _adjust_and_judge(rows: list[dict[str, Any]], options: Any) -> None:
    """Adjust gap p-values per arm (tasks × perturbations × metrics); judge each gap."""
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["gap_p_value"] is not None:
            families.setdefault(row["arm"], []).append(row)
    for family in families.values():
        adjusted = stats.adjust_pvalues(
            np.array([r["gap_p_value"] for r in family], dtype=float), method=options.correction
        )
        for row, value in zip(family, adjusted):
            row["gap_p_adjusted"] = float(value)
            verdict = stats.verdict(
                row["gap_vs_base"], row["gap_ci_low"], row["gap_ci_high"], float(value),
                n_items=row["n"], alpha=options.alpha, higher_is_better=False,
            )  # fmt: skip
            row["gap_verdict"] = verdict.label
    for row in rows:
        row.setdefault("gap_p_adjusted", None)
        row.setdefault("gap_verdict", None)

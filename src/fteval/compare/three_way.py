"""Paired comparisons: every arm vs base, every adapter vs the full fine-tune.

For each (task, metric, arm, reference arm): the delta with a paired-bootstrap CI, a
p-value from the test that fits the metric (exact McNemar for 0/1 outcomes, paired
permutation otherwise), Holm (or BH) adjustment across the family of tasks x metrics of
that arm pair, and a verdict. A missing arm is absent from the rows, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fteval import stats
from fteval.scoring import ArmStats

LORA_FULL_GAP_POINTS = 5.0  # advice threshold, in display points (percentage points)


@dataclass(frozen=True)
class StatsOptions:
    """Statistical settings of a run (recorded in every signature)."""

    confidence: float = stats.DEFAULT_CONFIDENCE
    n_resamples: int = stats.DEFAULT_N_RESAMPLES
    n_permutations: int = stats.DEFAULT_N_PERMUTATIONS
    ci_method: str = "percentile"
    correction: str = "holm"
    alpha: float = stats.DEFAULT_ALPHA
    seed: int = 0
    margins: Mapping[str, float] | None = None  # "task" or "task/metric" -> margin (display units)


def reference_arm(arms: Sequence[Mapping[str, Any]]) -> str | None:
    """The name of the arm every other arm is compared with (kind ``base``)."""
    return next((a["name"] for a in arms if a["kind"] == "base"), None)


def arm_pairs(arms: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(arm, reference) pairs: each non-base arm vs base, each adapter vs the full fine-tune."""
    base = reference_arm(arms)
    pairs = [(a["name"], base) for a in arms if a["kind"] != "base" and base is not None]
    full = next((a["name"] for a in arms if a["kind"] == "full"), None)
    if full is not None:
        pairs += [(a["name"], full) for a in arms if a["kind"] == "adapter"]
    return pairs


def score_rows(
    table: Mapping[tuple[str, str, str], ArmStats], options: StatsOptions
) -> list[dict[str, Any]]:
    """One row per task x arm x metric with a bootstrap CI (metric units)."""
    rows = []
    for (task, arm, key), item in table.items():
        ci = stats.bootstrap_ci(
            item.metric,
            item.stats,
            confidence=options.confidence,
            n_resamples=options.n_resamples,
            method=options.ci_method,
            seed=_seed(options.seed, task, arm, key),
        )
        rows.append(
            {
                "task": task,
                "arm": arm,
                "metric": key,
                "value": item.value,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": len(item.stats),
                "scale": item.metric.scale,
                "higher_is_better": item.metric.higher_is_better,
                "signature": f"{item.metric.signature()}|{ci.signature()}",
            }
        )
    return rows


def comparison_rows(
    table: Mapping[tuple[str, str, str], ArmStats],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
) -> list[dict[str, Any]]:
    """Paired comparison rows with adjusted p-values and verdicts (record contract)."""
    kinds = {a["name"]: a["kind"] for a in arms}
    pairs = arm_pairs(arms)
    rows = []
    for task, arm, key in table:
        for left, right in pairs:
            if arm != left or (task, right, key) not in table:
                continue
            row = _compare(table[(task, left, key)], table[(task, right, key)], options)
            row["reference_kind"] = kinds[right]
            rows.append(row)
    _adjust(rows, options)
    for row in rows:
        _judge(row, options)
    return rows


def _compare(a: ArmStats, b: ArmStats, options: StatsOptions) -> dict[str, Any]:
    seed = _seed(options.seed, a.task, a.arm, b.arm, a.metric.key)
    delta = stats.paired_bootstrap_delta(
        a.metric, a.stats, b.stats,
        confidence=options.confidence, n_resamples=options.n_resamples,
        method=options.ci_method, seed=seed,
    )  # fmt: skip
    test = stats.paired_test(
        a.metric, a.stats, b.stats, n_resamples=options.n_permutations, seed=seed
    )
    if a.metric.binary_outcome:
        discordant = sum(stats.discordant_pairs(a.stats[:, 0], b.stats[:, 0]))
        mde = stats.minimum_detectable_effect(
            n_items=len(a.stats),
            discordance_rate=discordant / max(1, len(a.stats)),
            alpha=options.alpha,
        )
    else:
        mde = stats.minimum_detectable_effect(se=delta.se, alpha=options.alpha)
    return {
        "task": a.task,
        "metric": a.metric.key,
        "arm": a.arm,
        "reference_arm": b.arm,
        "value": delta.score_a,
        "reference_value": delta.score_b,
        "delta": delta.delta,
        "ci_low": delta.low,
        "ci_high": delta.high,
        "p_value": test.p_value,
        "p_adjusted": math.nan,
        "test": test.test,
        "verdict": None,
        "n": len(a.stats),
        "mde": mde,
        "scale": a.metric.scale,
        "higher_is_better": a.metric.higher_is_better,
        "signature": f"{a.metric.signature()}|{delta.signature()}|test:{test.test}"
        f"|correction:{options.correction}",
    }


def _adjust(rows: list[dict[str, Any]], options: StatsOptions) -> None:
    """Adjust p-values within each arm pair's family of tasks x metrics."""
    families: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        families.setdefault((row["arm"], row["reference_arm"]), []).append(row)
    for family in families.values():
        adjusted = stats.adjust_pvalues(
            np.array([r["p_value"] for r in family], dtype=float), method=options.correction
        )
        for row, value in zip(family, adjusted):
            row["p_adjusted"] = float(value)


def _margin(row: Mapping[str, Any], options: StatsOptions) -> float | None:
    margins = options.margins or {}
    margin = margins.get(f"{row['task']}/{row['metric']}", margins.get(row["task"]))
    if margin is None or row.get("reference_kind") != "base":
        return None
    return float(margin) / row["scale"]  # user margins are in display units (points)


def _judge(row: dict[str, Any], options: StatsOptions) -> None:
    result = stats.verdict(
        row["delta"], row["ci_low"], row["ci_high"], row["p_adjusted"],
        n_items=row["n"], alpha=options.alpha, higher_is_better=row["higher_is_better"],
        non_inferiority_margin=_margin(row, options), mde=row["mde"],
    )  # fmt: skip
    row["verdict"] = result.label
    row["reason"] = result.reason
    if result.non_inferiority is not None:
        row["non_inferiority"] = result.non_inferiority


def advice(comparisons: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Advice where an adapter trails the full fine-tune by more than 5 points."""
    notes = []
    for row in comparisons:
        if row.get("reference_kind") != "full" or row["delta"] is None or math.isnan(row["delta"]):
            continue
        gap = row["delta"] * row["scale"] * (1 if row["higher_is_better"] else -1)
        if gap < -LORA_FULL_GAP_POINTS:
            notes.append(
                {
                    "task": row["task"],
                    "metric": row["metric"],
                    "arm": row["arm"],
                    "gap_points": gap,
                    "message": (
                        f"{row['arm']} trails the full fine-tune by {-gap:.1f} points on "
                        f"{row['task']} {row['metric']}: raise the LoRA rank (r) or train longer."
                    ),
                }
            )
    return notes


def _seed(base: int, *parts: str) -> int:
    """A stable per-comparison seed, so adding a task does not shift other CIs."""
    import hashlib

    digest = hashlib.sha256("\x1f".join((str(base), *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")

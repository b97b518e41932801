"""Paired comparisons: every arm vs base, every adapter vs the full fine-tune.

For each (task, metric, arm, reference arm): the delta with a paired-bootstrap CI, a
p-value from the test that fits the metric (exact McNemar for 0/1 outcomes, paired
permutation otherwise), a multiple-comparison adjustment within the comparison's family
(``family``), whether the difference is significant (``stats.significant``, the one rule)
and a verdict. A missing arm is absent from the rows, never zero.

Every interval's and test's generator is seeded from the run's base seed and the content
of the statistics it resamples (``ArmStats.digest``), never from task or arm names: the
same predictions get the same intervals from ``fteval run``, ``fteval score`` and a
re-score, and adding a task does not move any other interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval import stats
from fteval._util.hashing import stable_int
from fteval.compare.family import adjust_families
from fteval.compare.options import StatsOptions
from fteval.records import base_arm_name
from fteval.scoring import ArmStats

LORA_FULL_GAP_POINTS = 5.0
"""Advice threshold for metrics on a 0-100 display scale: an adapter that trails the full
fine-tune by more than this many (percentage) points, as displayed (one decimal)."""

LORA_FULL_GAP_RELATIVE = 0.05
"""Advice threshold for metrics with no fixed range (perplexity, cross-entropy): an
adapter worse than the full fine-tune by more than this share of the full's value."""


def reference_arm(arms: Sequence[Mapping[str, Any]]) -> str | None:
    """The name of the arm every other arm is compared with (kind ``base``)."""
    return base_arm_name(arms)


def arm_pairs(arms: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(arm, reference) pairs: each non-base arm vs base, each adapter vs the full fine-tune."""
    base = reference_arm(arms)
    pairs = [(a["name"], base) for a in arms if a["kind"] != "base" and base is not None]
    full = next((a["name"] for a in arms if a["kind"] == "full"), None)
    if full is not None:
        pairs += [(a["name"], full) for a in arms if a["kind"] == "adapter"]
    return pairs


def content_seed(base: int, kind: str, *items: ArmStats) -> int:
    """The seed of one interval or test: the base seed and the statistics it resamples."""
    return stable_int(base, kind, *(item.digest for item in items))


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
            n_resamples=options.bootstrap_resamples,
            method=options.ci_method,
            seed=content_seed(options.seed, "score", item),
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
                "unit": item.metric.unit,
                "higher_is_better": item.metric.higher_is_better,
                "signature": f"{item.metric.signature()}|{ci.signature()}",
            }
        )
    return rows


@dataclass(frozen=True)
class _Measured:
    """A comparison row before correction, with what its MDE and identity need."""

    row: dict[str, Any]
    test_key: tuple[str, ...]
    se: float
    discordance_rate: float | None


def comparison_rows(
    table: Mapping[tuple[str, str, str], ArmStats],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
) -> list[dict[str, Any]]:
    """Paired comparison rows with adjusted p-values, significance and verdicts."""
    kinds = {a["name"]: a["kind"] for a in arms}
    pairs = arm_pairs(arms)
    measured = []
    for task, arm, key in table:
        for left, right in pairs:
            if arm != left or (task, right, key) not in table:
                continue
            item = _compare(table[(task, left, key)], table[(task, right, key)], options)
            item.row["reference_kind"] = kinds[right]
            measured.append(item)
    adjust_families([m.row for m in measured], [m.test_key for m in measured], options)
    for item in measured:
        item.row["mde"] = _mde(item, item.row["mde_alpha"])
        _judge(item.row, options)
    return [m.row for m in measured]


def _compare(a: ArmStats, b: ArmStats, options: StatsOptions) -> _Measured:
    seed = content_seed(options.seed, "paired", a, b)
    delta = stats.paired_bootstrap_delta(
        a.metric, a.stats, b.stats,
        confidence=options.confidence, n_resamples=options.bootstrap_resamples,
        method=options.ci_method, seed=seed,
    )  # fmt: skip
    test = stats.paired_test(
        a.metric, a.stats, b.stats, n_resamples=options.permutations, seed=seed
    )
    discordance = None
    if a.metric.binary_outcome:
        discordant = sum(stats.discordant_pairs(a.stats[:, 0], b.stats[:, 0]))
        discordance = discordant / max(1, len(a.stats))
    # Tests that read exactly the same numbers (two 0/1 metrics with equal outcomes in both
    # arms, e.g. acc and acc_norm when every choice has the same length) are one test.
    identity = (test.test, a.digest, b.digest)
    test_key = identity if a.metric.binary_outcome else (*identity, a.metric.key)
    row = {
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
        "significant": False,
        "n": len(a.stats),
        "scale": a.metric.scale,
        "unit": a.metric.unit,
        "higher_is_better": a.metric.higher_is_better,
        "signature": f"{a.metric.signature()}|{delta.signature()}|test:{test.test}"
        f"|correction:{options.correction}|scope:{options.correction_scope}",
    }
    return _Measured(row, test_key, delta.se, discordance)


def _mde(item: _Measured, alpha: float) -> float:
    """The minimum detectable effect at the level the decision used (NaN if none)."""
    if not (math.isfinite(alpha) and 0.0 < alpha < 1.0):
        return math.nan
    if item.discordance_rate is not None:
        return stats.minimum_detectable_effect(
            n_items=item.row["n"], discordance_rate=item.discordance_rate, alpha=alpha
        )
    se = item.se if math.isfinite(item.se) else 0.0
    return stats.minimum_detectable_effect(se=se, alpha=alpha)


def _margin(row: Mapping[str, Any], options: StatsOptions) -> float | None:
    margins = options.non_inferiority
    margin = margins.get(f"{row['task']}/{row['metric']}", margins.get(row["task"]))
    if margin is None or row.get("reference_kind") != "base":
        return None
    return float(margin) / row["scale"]  # user margins are in display units (points)


def _judge(row: dict[str, Any], options: StatsOptions) -> None:
    result = stats.verdict(
        row["delta"], row["ci_low"], row["ci_high"], row["p_adjusted"],
        n_items=row["n"], alpha=options.alpha, higher_is_better=row["higher_is_better"],
        non_inferiority_margin=_margin(row, options), mde=row["mde"],
        mde_alpha=row["mde_alpha"],
    )  # fmt: skip
    row["verdict"] = result.label
    row["significant"] = result.significant
    row["reason"] = result.reason
    if result.non_inferiority is not None:
        row["non_inferiority"] = result.non_inferiority
        row["non_inferiority_margin"] = _margin(row, options)


def advice(comparisons: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Advice where an adapter trails the full fine-tune by more than the threshold.

    The gap is judged as displayed: in points rounded to one decimal for metrics on a
    0-100 display scale (``unit`` ``proportion`` or ``points``; more than
    ``LORA_FULL_GAP_POINTS``), relative to the full fine-tune's value for metrics with no
    fixed range (more than ``LORA_FULL_GAP_RELATIVE``). No advice when the comparison has
    fewer items than a verdict needs; the message says whether the gap is significant.
    """
    notes = []
    for row in comparisons:
        if row.get("reference_kind") != "full" or not _enough_data(row):
            continue
        note = _gap_note(row)
        if note is not None:
            notes.append(note)
    return notes


def _enough_data(row: Mapping[str, Any]) -> bool:
    delta = row.get("delta")
    return (
        delta is not None
        and math.isfinite(delta)
        and row.get("n", 0) >= stats.DEFAULT_MIN_ITEMS
        and row.get("verdict") != stats.INSUFFICIENT_DATA
    )


def _gap_note(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The advice record for one adapter-vs-full row, or None below the threshold."""
    worse = -1.0 if row["higher_is_better"] else 1.0  # sign that makes "trails" negative
    on_display_scale = row.get("unit", "proportion") in ("proportion", "points")
    if on_display_scale:
        gap = round(row["delta"] * row["scale"] * -worse, 1)
        if not gap < -LORA_FULL_GAP_POINTS:
            return None
        unit = "percentage points" if row.get("unit", "proportion") == "proportion" else "points"
        size = f"{-gap:.1f} {unit}"
    else:
        reference = row.get("reference_value")
        if reference is None or not math.isfinite(reference) or reference == 0:
            return None
        gap = round(row["delta"] / abs(reference) * -worse * 100.0, 1)
        if not gap < -LORA_FULL_GAP_RELATIVE * 100.0:
            return None
        size = f"{-gap:.1f}% of the full fine-tune's value"
    significance = (
        "significant after multiple-comparison correction"
        if row.get("significant")
        else "not significant: it may be noise"
    )
    return {
        "task": row["task"],
        "metric": row["metric"],
        "arm": row["arm"],
        "reference_arm": row["reference_arm"],
        "gap": gap,
        "gap_kind": "points" if on_display_scale else "relative",
        "gap_points": gap if on_display_scale else None,
        "significant": bool(row.get("significant")),
        "message": (
            f"{row['arm']} trails the full fine-tune by {size} on {row['task']} "
            f"{row['metric']} ({significance}): raise the LoRA rank (r) or train longer."
        ),
    }

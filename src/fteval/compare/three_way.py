"""The main table's comparisons: every arm vs base, and every pair of the other arms.

For each (task, metric, arm, reference arm): ``engine.compare`` on the two arms'
per-item statistics (a delta with a paired-bootstrap CI and the test that fits the
metric). The correction, significance and verdict come later, once for every comparison
of the run (``engine.adjust`` in ``compare.results``). A missing arm is absent from the
rows, never zero.

Every interval's and test's generator is seeded from the run's base seed and the content
of the statistics it resamples, never from task or arm names: the same predictions get
the same intervals from ``fteval run``, ``fteval score`` and a re-score, and adding a
task does not move any other interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fteval import engine, stats
from fteval.engine import StatsOptions
from fteval.records import base_arm_name
from fteval.records.rows import Advice, Comparison, Score
from fteval.robustness.training import checkpoint_series
from fteval.scoring import ArmStats, TaskInfo

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
    """(arm, reference) pairs of the main table, each compared once.

    Each non-base arm vs the base; then every pair of non-base arms, the earlier-listed
    arm under test (adapters before the full fine-tune: each adapter vs the full
    fine-tune, adapter vs adapter). Seeds of one adapter (``lora@seed1``, ``lora@seed2``)
    and checkpoints of one series are not compared with each other here: the seed-group
    and checkpoint sections do that. A deployment form is compared with the base here and
    with the arm it derives from in the ``deployment`` section (``compare.deployment``).
    """
    base = reference_arm(arms)
    others = [a for a in arms if a["kind"] != "base"]
    pairs = [(a["name"], base) for a in others if base is not None]
    others = [a for a in others if a["kind"] != "form"]
    for index, first in enumerate(others):
        for second in others[index + 1 :]:
            if not _same_family(first, second):
                pairs.append((first["name"], second["name"]))
    return pairs


def _same_family(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Two seeds of one adapter, or two checkpoints of one series."""
    group = first.get("group")
    if group and group == second.get("group") and group not in (first["name"], second["name"]):
        return True
    series = checkpoint_series([first["name"], second["name"]])
    return bool(series)


def content_seed(base: int, kind: str, *items: ArmStats) -> int:
    """The seed of one interval or test: the base seed and the statistics it resamples."""
    return engine.seed_for(base, kind, *(item.digest for item in items))


def score_rows(
    table: Mapping[tuple[str, str, str], ArmStats], options: StatsOptions
) -> list[Score]:
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
            Score(
                task=task,
                arm=arm,
                metric=key,
                value=item.value,
                ci_low=ci.low,
                ci_high=ci.high,
                n=len(item.stats),
                scale=item.metric.scale,
                unit=item.metric.unit,
                higher_is_better=item.metric.higher_is_better,
                signature=f"{item.metric.signature()}|{ci.signature()}",
            )
        )
    return rows


def comparison_rows(
    table: Mapping[tuple[str, str, str], ArmStats],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
) -> list[Comparison]:
    """The main table's comparisons, unadjusted (``engine.adjust`` decides them)."""
    kinds = {a["name"]: a["kind"] for a in arms}
    pairs = arm_pairs(arms)
    rows = []
    for task, arm, key in table:
        for left, right in pairs:
            if arm != left or (task, right, key) not in table:
                continue
            rows.append(
                engine.compare(
                    table[(task, left, key)],
                    table[(task, right, key)],
                    options,
                    task=task,
                    arm=left,
                    reference_arm=right,
                    reference_kind=kinds[right],
                )
            )
    return rows


def advice(
    comparisons: Sequence[Comparison], tasks: Sequence[TaskInfo] | None = None
) -> list[Advice]:
    """Raise-the-rank advice where an adapter significantly trails the full fine-tune.

    Only on what the adapter was trained for: a target task (not a guardrail, not a
    member of a benchmark group such as MMLU's subjects), on its primary metric, when the
    gap is significant after correction; and never for an adapter that significantly
    leads the full fine-tune on another such task (the advice would contradict it). The
    gap is judged as displayed: in points rounded to one decimal for metrics on a 0-100
    display scale (``unit`` ``proportion`` or ``points``; more than
    ``LORA_FULL_GAP_POINTS``), relative to the full fine-tune's value for metrics with
    no fixed range (more than ``LORA_FULL_GAP_RELATIVE``).

    Args:
        comparisons: the run's decided main-table comparisons.
        tasks: the run's tasks (roles, groups, primary metrics); None: every task is a
            target and every metric primary.
    """
    eligible = [
        row
        for row in comparisons
        if row.section == "scores"
        and row.reference_kind == "full"
        and _advisable(row, tasks)
        and _enough_data(row)
    ]
    leading = {row.arm for row in eligible if row.significant and row.better}
    notes = []
    for row in eligible:
        if row.arm in leading or not row.significant:
            continue
        note = _gap_note(row)
        if note is not None:
            notes.append(note)
    return notes


def _advisable(row: Comparison, tasks: Sequence[TaskInfo] | None) -> bool:
    """A target task's primary metric (every row when the tasks are not known)."""
    if tasks is None:
        return True
    info = next((t for t in tasks if t.name == row.task), None)
    if info is None or info.role != "target" or info.groups:
        return False
    return row.metric == info.primary_key


def _enough_data(row: Comparison) -> bool:
    return (
        math.isfinite(row.delta)
        and row.n >= stats.DEFAULT_MIN_ITEMS
        and row.verdict != stats.INSUFFICIENT_DATA
    )


def _gap_note(row: Comparison) -> Advice | None:
    """The advice record for one adapter-vs-full row, or None below the threshold."""
    worse = -1.0 if row.higher_is_better else 1.0  # sign that makes "trails" negative
    on_display_scale = row.unit in ("proportion", "points")
    if on_display_scale:
        gap = round(row.delta * row.scale * -worse, 1)
        if not gap < -LORA_FULL_GAP_POINTS:
            return None
        unit = "percentage points" if row.unit == "proportion" else "points"
        size = f"{-gap:.1f} {unit}"
    else:
        reference = row.reference_value
        if not math.isfinite(reference) or reference == 0:
            return None
        gap = round(row.delta / abs(reference) * -worse * 100.0, 1)
        if not gap < -LORA_FULL_GAP_RELATIVE * 100.0:
            return None
        size = f"{-gap:.1f}% of the full fine-tune's value"
    significance = "significant after multiple-comparison correction"
    return Advice(
        task=row.task,
        metric=row.metric,
        arm=row.arm,
        reference_arm=row.reference_arm,
        gap=gap,
        gap_kind="points" if on_display_scale else "relative",
        gap_points=gap if on_display_scale else None,
        significant=row.significant,
        message=(
            f"{row.arm} trails the full fine-tune by {size} on {row.task} "
            f"{row.metric} ({significance}): raise the LoRA rank (r) or train longer."
        ),
    )


def decide(
    table: Mapping[tuple[str, str, str], ArmStats],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
    unit_of: engine.family.UnitOf | None = None,
) -> list[Comparison]:
    """The main table's comparisons decided on their own (no other section in the run)."""
    measured = comparison_rows(table, arms, options)
    return engine.adjust(measured, options, unit_of=unit_of or (lambda task: task))


def decided_comparisons(
    table: Mapping[tuple[str, str, str], ArmStats],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
    unit_of: engine.family.UnitOf | None = None,
) -> list[dict[str, Any]]:
    """``decide``'s rows as results.json holds them."""
    return [row.to_json() for row in decide(table, arms, options, unit_of)]

"""The one correction step: families, adjusted p-values, the significance rule, verdicts.

``adjust`` takes every comparison of a run — every section — and returns them decided:
each gets the family it is corrected in, the family's size, its adjusted p-value, the
level its step of the procedure used (``mde_alpha``), its minimum detectable effect at
that level, the one significance decision (``stats.significant``), a verdict and a
reason. Nothing else in fteval adjusts a p-value or labels a difference.

Families (``StatsOptions.correction_scope``; docs/statistics.md has a worked example):

* ``task`` (default): one family per section x task x arm pair, over the task's metrics
  (and, within a section, its perturbations, slices or subsets). A task group counts as
  one task: its headline rows (``mmlu``'s micro/macro rows) form one family, the rows of
  its members (subjects and categories) another. A task's verdicts therefore depend only
  on its own items and comparisons: adding a benchmark to the run changes nothing.
* ``arm-pair``: one family per section x arm pair over all tasks x metrics — "did this
  adapter beat base anywhere?" as one question.
* ``run``: every comparison of the run, every section, in one family — the strictest:
  controls the chance of any false claim in the whole run.

Within a family, comparisons whose tests read exactly the same numbers (two 0/1 metrics
with equal outcomes in both arms, e.g. ``acc`` and ``acc_norm`` when every choice has
the same length) are one test: counted once in the family size and given the same
adjusted p-value, so a metric that repeats another does not make the correction stricter.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fteval import stats
from fteval.engine.options import StatsOptions
from fteval.records.rows import Comparison

UnitOf = Callable[[str], str]
"""Task name -> the task unit its family is named after (a group's members share one)."""


def _same(task: str) -> str:
    return task


def family_name(row: Comparison, scope: str, unit_of: UnitOf = _same) -> str:
    """The readable name of the family ``row`` is corrected in."""
    pair = row.family_pair or f"{row.reference_arm}→{row.arm}"
    if scope == "run":
        return "run: every comparison of every section"
    if scope == "arm-pair":
        return f"arm-pair {pair} over tasks×metrics ({row.section})"
    return f"task {unit_of(row.task)}: {pair} ({row.section})"


def adjust(
    rows: Sequence[Comparison],
    options: StatsOptions,
    *,
    unit_of: UnitOf = _same,
) -> list[Comparison]:
    """Every comparison decided (see the module docstring), in the order given.

    Args:
        rows: unadjusted comparisons (``engine.compare``), of any sections.
        options: the correction, its scope, alpha and the non-inferiority margins.
        unit_of: the family unit of a task name (task groups; default: the task itself).

    Returns:
        New ``Comparison`` rows with the correction's fields, significance and verdict.
    """
    families: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        families.setdefault(family_name(row, options.correction_scope, unit_of), []).append(index)
    decided: list[Comparison | None] = [None] * len(rows)
    for name, members in families.items():
        distinct: dict[str, int] = {}  # test id -> position among the family's distinct tests
        for index in members:
            distinct.setdefault(rows[index].test_id or f"row{index}", len(distinct))
        raw = np.full(len(distinct), np.nan)
        for index in members:
            raw[distinct[rows[index].test_id or f"row{index}"]] = rows[index].p_value
        adjusted = stats.adjust_pvalues(raw, method=options.correction)
        levels = stats.step_levels(raw, alpha=options.alpha, method=options.correction)
        size = int(np.count_nonzero(~np.isnan(raw)))
        for index in members:
            position = distinct[rows[index].test_id or f"row{index}"]
            decided[index] = judge(
                dataclasses.replace(
                    rows[index],
                    p_adjusted=float(adjusted[position]),
                    correction_family=name,
                    family_size=size,
                    mde_alpha=float(levels[position]),
                ),
                options,
            )
    return [row for row in decided if row is not None]


def minimum_detectable(row: Comparison, alpha: float) -> float:
    """The row's minimum detectable effect at level ``alpha`` (NaN when undefined)."""
    if not (math.isfinite(alpha) and 0.0 < alpha < 1.0):
        return math.nan
    if row.discordance_rate is not None:
        return stats.minimum_detectable_effect(
            n_items=row.n, discordance_rate=row.discordance_rate, alpha=alpha
        )
    se = row.se if math.isfinite(row.se) else 0.0
    return stats.minimum_detectable_effect(se=se, alpha=alpha)


def margin_for(row: Comparison, margins: Mapping[str, float]) -> float | None:
    """The row's non-inferiority margin in metric units, or None.

    A margin set on the row itself (deployment parity) wins; otherwise main-table rows
    against the base take the run's margin for ``task/metric`` or ``task`` (given in
    display units, points).
    """
    if row.non_inferiority_margin is not None:
        return row.non_inferiority_margin
    if row.section != "scores" or row.reference_kind != "base":
        return None
    margin = margins.get(f"{row.task}/{row.metric}", margins.get(row.task))
    return None if margin is None else float(margin) / row.scale


def judge(row: Comparison, options: StatsOptions) -> Comparison:
    """The verdict of one adjusted comparison (``stats.verdict``: the one rule)."""
    mde = minimum_detectable(row, row.mde_alpha)
    margin = margin_for(row, options.non_inferiority)
    result = stats.verdict(
        row.delta, row.ci_low, row.ci_high, row.p_adjusted,
        n_items=row.n, alpha=options.alpha, higher_is_better=row.higher_is_better,
        non_inferiority_margin=margin, mde=mde, mde_alpha=row.mde_alpha,
    )  # fmt: skip
    reason = f"{result.reason}; {row.note}" if row.note else result.reason
    return dataclasses.replace(
        row,
        mde=mde,
        verdict=result.label,
        significant=result.significant,
        reason=reason,
        non_inferiority=result.non_inferiority,
        non_inferiority_margin=(
            margin if result.non_inferiority is not None else row.non_inferiority_margin
        ),
    )

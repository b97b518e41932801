"""The three-way table the terminal shows: per task and metric, each arm's score, each
arm's delta vs base, and each adapter's gap to the full fine-tune.

Numbers are in display units (``value * scale``): percent for proportions, whose metric
label says "(%)" and whose deltas are percentage points; other metrics in their own
units. One precision per metric (see ``report.numbers``). A delta is starred exactly when
its verdict is improved or regressed. A missing arm is an empty cell, never zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.records import base_arm_name
from fteval.report.numbers import (
    SIGNIFICANT,
    arm_kinds,
    decimals_for,
    delta_unit,
    fmt,
    fmt_interval,
    fmt_p,
    is_number,
    is_significant,
    metric_label,
    verdict_word,
)

__all__ = ["SIGNIFICANT", "TaskTable", "build_tables", "fmt", "render_grid", "verdict_lines"]


@dataclass(frozen=True)
class TaskTable:
    """One task's table: a header row and one row per metric (strings).

    ``tones`` holds, per row, ``"up"``, ``"down"`` or ``""`` for each cell (colour for
    significant deltas when the terminal supports it).
    """

    task: str
    n: int
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    tones: tuple[tuple[str, ...], ...] = ()


def _decimals(results: Mapping[str, Any], task: str, metric: str) -> int:
    rows = [r for r in results["scores"] if r["task"] == task and r["metric"] == metric]
    scale = rows[0].get("scale", 1.0) if rows else 1.0
    return decimals_for([r.get("value") for r in rows], scale)


def build_tables(results: Mapping[str, Any]) -> list[TaskTable]:
    """The three-way tables of a results object, one per task, in task order."""
    arms = [a["name"] for a in results["arms"]]
    base = base_arm_name(results["arms"])
    full = next((a["name"] for a in results["arms"] if a["kind"] == "full"), None)
    adapters = [a["name"] for a in results["arms"] if a["kind"] == "adapter"]
    others = [a for a in arms if a != base]
    scores = {(r["task"], r["arm"], r["metric"]): r for r in results["scores"]}
    comparisons = {
        (c["task"], c["metric"], c["arm"], c["reference_arm"]): c for c in results["comparisons"]
    }
    tables = []
    for task in dict.fromkeys(r["task"] for r in results["scores"]):
        metrics = dict.fromkeys(r["metric"] for r in results["scores"] if r["task"] == task)
        header = ["metric", *arms]
        header += [f"Δ {a} vs {base}" for a in others] if base else []
        header += [f"{a} − {full}" for a in adapters] if full else []
        rows, tones = [], []
        for metric in metrics:
            digits = _decimals(results, task, metric)
            scale = next(
                (
                    scores[(task, a, metric)].get("scale", 1.0)
                    for a in arms
                    if (task, a, metric) in scores
                ),
                1.0,
            )
            kind = next(
                (
                    scores[(task, a, metric)].get("unit")
                    for a in arms
                    if (task, a, metric) in scores
                ),
                None,
            )
            row, tone = [metric_label(metric, scale, kind)], [""]
            for arm in arms:
                score = scores.get((task, arm, metric))
                row.append(fmt(score["value"], score["scale"], decimals=digits) if score else "")
                tone.append("")
            pairs = [(a, base) for a in others] if base else []
            pairs += [(a, full) for a in adapters] if full else []
            for arm, reference in pairs:
                cell, cell_tone = _delta_cell(
                    comparisons.get((task, metric, arm, reference)), digits
                )
                row.append(cell)
                tone.append(cell_tone)
            rows.append(tuple(row))
            tones.append(tuple(tone))
        n = max((r["n"] for r in results["scores"] if r["task"] == task), default=0)
        tables.append(TaskTable(task, n, tuple(header), tuple(rows), tuple(tones)))
    return tables


def _delta_cell(row: Mapping[str, Any] | None, digits: int) -> tuple[str, str]:
    if row is None:
        return "", ""
    significant = is_significant(row)
    text = fmt(row["delta"], row["scale"], decimals=digits, signed=True)
    if not significant:
        return text, ""
    tone = {"improved": "up", "regressed": "down"}.get(str(row.get("verdict")), "")
    return text + SIGNIFICANT, tone


def verdict_lines(results: Mapping[str, Any]) -> list[str]:
    """One line per comparison: verdict, delta with CI, adjusted p, the test, the MDE."""
    kinds = arm_kinds(results)
    decimals: dict[tuple[str, str], int] = {}
    lines = []
    for row in results["comparisons"]:
        key = (row["task"], row["metric"])
        if key not in decimals:
            decimals[key] = _decimals(results, *key)
        digits, scale = decimals[key], row["scale"]
        unit = delta_unit(scale)
        interval = fmt_interval(row["ci_low"], row["ci_high"], scale, digits, signed=True)
        text = (
            f"{row['task']} {row['metric']}: {row['arm']} vs {row['reference_arm']}: "
            f"{verdict_word(row, kinds)} "
            f"(Δ {fmt(row['delta'], scale, decimals=digits, signed=True)}"
            f"{' ' + unit if unit else ''} {interval}, p_adj {fmt_p(row['p_adjusted'])}, "
            f"{row['test']}"
        )
        mde = row.get("mde")
        if row.get("verdict") in ("no significant difference", "insufficient data") and is_number(
            mde
        ):
            text += f"; MDE {fmt(mde, scale, decimals=digits)}{' ' + unit if unit else ''}"
        if row.get("non_inferiority") is not None:
            text += "; non-inferior" if row["non_inferiority"] else "; non-inferiority not shown"
        lines.append(text + ")")
    return lines


def render_grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text columns: first column left-aligned, numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for n, row in enumerate([header, *rows]):
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out

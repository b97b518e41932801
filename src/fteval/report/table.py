"""The three-way table every report shows: per task and metric, each arm's score,
each arm's delta vs base, and each adapter's gap to the full fine-tune.

Numbers are shown in display units (``value * scale``: percent for proportions, so
deltas read as percentage points). A missing arm is an empty cell, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SIGNIFICANT = "*"


@dataclass(frozen=True)
class TaskTable:
    """One task's table: a header row and one row per metric (strings)."""

    task: str
    n: int
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def fmt(value: Any, scale: float = 1.0, *, signed: bool = False) -> str:
    """A number in display units with 1 decimal (3 significant digits when small)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    shown = value * scale
    digits = 1 if abs(shown) >= 1 or shown == 0 else 3
    return f"{shown:+.{digits}f}" if signed else f"{shown:.{digits}f}"


def build_tables(results: Mapping[str, Any]) -> list[TaskTable]:
    """The three-way tables of a results object, one per task, in task order."""
    arms = [a["name"] for a in results["arms"]]
    base = next((a["name"] for a in results["arms"] if a["kind"] == "base"), None)
    full = next((a["name"] for a in results["arms"] if a["kind"] == "full"), None)
    adapters = [a["name"] for a in results["arms"] if a["kind"] == "adapter"]
    others = [a for a in arms if a != base]
    scores = {(r["task"], r["arm"], r["metric"]): r for r in results["scores"]}
    comparisons = {
        (c["task"], c["metric"], c["arm"], c["reference_arm"]): c for c in results["comparisons"]
    }
    alpha = results.get("statistics", {}).get("alpha", 0.05)
    tables = []
    for task in dict.fromkeys(r["task"] for r in results["scores"]):
        metrics = dict.fromkeys(r["metric"] for r in results["scores"] if r["task"] == task)
        header = ["metric", *arms]
        header += [f"Δ {a} vs {base}" for a in others] if base else []
        header += [f"{a} − {full}" for a in adapters] if full else []
        rows = []
        for metric in metrics:
            row = [metric]
            for arm in arms:
                score = scores.get((task, arm, metric))
                row.append(fmt(score["value"], score["scale"]) if score else "")
            if base:
                for arm in others:
                    row.append(_delta_cell(comparisons.get((task, metric, arm, base)), alpha))
            if full:
                for arm in adapters:
                    row.append(_delta_cell(comparisons.get((task, metric, arm, full)), alpha))
            rows.append(tuple(row))
        n = max((r["n"] for r in results["scores"] if r["task"] == task), default=0)
        tables.append(TaskTable(task, n, tuple(header), tuple(rows)))
    return tables


def _delta_cell(row: Mapping[str, Any] | None, alpha: float) -> str:
    if row is None:
        return ""
    mark = SIGNIFICANT if _significant(row, alpha) else ""
    return fmt(row["delta"], row["scale"], signed=True) + mark


def _significant(row: Mapping[str, Any], alpha: float) -> bool:
    p = row.get("p_adjusted")
    return p is not None and not (isinstance(p, float) and math.isnan(p)) and p < alpha


def verdict_lines(results: Mapping[str, Any]) -> list[str]:
    """One line per comparison: verdict, delta with CI, adjusted p and the test."""
    lines = []
    for row in results["comparisons"]:
        scale = row["scale"]
        lines.append(
            f"{row['task']} {row['metric']}: {row['arm']} vs {row['reference_arm']}: "
            f"{row['verdict']} (Δ {fmt(row['delta'], scale, signed=True)} "
            f"[{fmt(row['ci_low'], scale, signed=True)}, "
            f"{fmt(row['ci_high'], scale, signed=True)}], "
            f"p_adj {_fmt_p(row['p_adjusted'])}, {row['test']})"
        )
    return lines


def _fmt_p(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


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

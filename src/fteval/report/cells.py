"""Numbers as table cells: scores and deltas with intervals, verdicts, MDEs, reasons.

Every cell is in display units (``report.numbers``): a proportion's score in percent and
its delta in points, any other metric in its own units, at one precision per metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fteval.report.context import Context
from fteval.report.document import Cell
from fteval.report.numbers import (
    delta_unit,
    fmt,
    fmt_interval,
    is_number,
    is_significant,
    reason_text,
    verdict_symbol,
    verdict_word,
)


def tone(row: Mapping[str, Any]) -> str:
    """``up`` for improved, ``down`` for regressed, ``""`` otherwise."""
    return {"improved": "up", "regressed": "down"}.get(str(row.get("verdict")), "")


def delta_cell(ctx: Context, row: Mapping[str, Any], *, with_ci: bool = True) -> Cell:
    """``+68.0* [+62.0, +73.7]``: the delta, its star when significant, its interval."""
    scale = row.get("scale", 1.0)
    digits = ctx.decimals(row["task"], row["metric"], scale)
    star = "*" if is_significant(row) else ""
    text = fmt(row.get("delta"), scale, decimals=digits, signed=True) + star
    if with_ci:
        interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), scale, digits, signed=True)
        text = f"{text} {interval}".strip()
    return Cell(text, tone(row) if star else "")


def score_cell(ctx: Context, row: Mapping[str, Any] | None, *, with_ci: bool = True) -> str:
    """``87.7 [84.0, 91.3]`` in display units; empty when the arm has no score."""
    if row is None:
        return ""
    scale = row.get("scale", 1.0)
    digits = ctx.decimals(row["task"], row["metric"], scale)
    value = fmt(row.get("value"), scale, decimals=digits)
    if not with_ci:
        return value
    interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), scale, digits)
    return f"{value} {interval}".strip()


def verdict_cell(ctx: Context, row: Mapping[str, Any]) -> Cell:
    """``▲ improved`` / ``▼ trails`` ...: symbol and word, toned by the verdict."""
    return Cell(f"{verdict_symbol(row)} {verdict_word(row, ctx.kinds)}".strip(), tone(row))


def mde_text(ctx: Context, row: Mapping[str, Any]) -> str:
    """The minimum detectable effect in display units (with its unit), or "–"."""
    scale = row.get("scale", 1.0)
    mde = row.get("mde")
    if not is_number(mde):
        return "–"
    digits = ctx.decimals(row["task"], row["metric"], scale)
    return f"{fmt(mde, scale, decimals=digits)} {delta_unit(scale)}".strip()


def non_inferiority_text(row: Mapping[str, Any]) -> str:
    """``shown`` / ``not shown`` when a margin was set, else empty."""
    value = row.get("non_inferiority")
    if value is True:
        return "shown"
    if value is False:
        return "not shown"
    return ""


def reason_cell(ctx: Context, row: Mapping[str, Any]) -> str:
    """Why the verdict, in display units (``numbers.reason_text`` at the run's alpha)."""
    return reason_text(row, ctx.results.get("statistics", {}).get("alpha", 0.05))

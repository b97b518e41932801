"""The report sections behind the verdicts: task groups and every results section.

Each results section is shown through its declaration in ``report.views`` (the same
tables, captions and notes the terminal shows), followed by its charts
(``report.charts``). Sections the run has no data for are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fteval.report.charts import charts_for
from fteval.report.document import Section, Table
from fteval.report.numbers import fmt, fmt_interval
from fteval.report.views import VIEWS, tables

if TYPE_CHECKING:
    from fteval.report.sections import Context


def sections(ctx: Context) -> list[Section]:
    """Task groups, then every results section the run holds, in reading order."""
    out = []
    group = groups_section(ctx)
    if group is not None:
        out.append(group)
    for view in VIEWS:
        rendered = tables(view, ctx.results)
        if not rendered:
            continue
        blocks: list[Any] = []
        for table, notes in rendered:
            blocks += notes
            blocks.append(table)
        blocks += charts_for(view.key, ctx.results, ctx.style)
        out.append(Section(view.key.replace("_", "-"), view.title, tuple(blocks)))
    return out


def _with_ci(value: Any, low: Any, high: Any, scale: Any, digits: int) -> str:
    text = fmt(value, scale, decimals=digits)
    return f"{text} {fmt_interval(low, high, scale, digits)}".strip()


# ---- task groups ----


def groups_section(ctx: Context) -> Section | None:
    """The task groups (MMLU-style) and their member tasks, or None when the run has none."""
    groups = ctx.results.get("task_groups", [])
    if not groups:
        return None
    body = []
    for group in groups:
        depth = 0
        parent = group.get("parent")
        while parent is not None and depth < 10:
            depth += 1
            parent = next((g.get("parent") for g in groups if g["name"] == parent), None)
        metrics = [
            m for m in ("acc_micro", "acc_macro") if (group["name"], ctx.arms[0], m) in ctx.scores
        ] or sorted({k[2] for k in ctx.scores if k[0] == group["name"]})
        for metric in metrics:
            cells = []
            for arm in ctx.arms:
                row = ctx.scores.get((group["name"], arm, metric))
                if row is None:
                    cells.append("")
                    continue
                digits = ctx.decimals(group["name"], metric, row.get("scale"))
                cells.append(
                    _with_ci(
                        row.get("value"),
                        row.get("ci_low"),
                        row.get("ci_high"),
                        row.get("scale"),
                        digits,
                    )
                )
            body.append(
                (
                    "› " * depth + group["name"],
                    str(group.get("level", "")),
                    metric,
                    str(len(group.get("members", []))),
                    *cells,
                )
            )
    table = Table(
        ("group", "level", "metric", "members", *ctx.arms),
        tuple(body),
        caption="task groups (micro: item-weighted; macro: mean of members)",
        label_columns=3,
        kind="groups",
    )
    return Section("groups", "Task groups", (table,))

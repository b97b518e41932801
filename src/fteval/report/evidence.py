"""The report sections behind the verdicts: every results section the run holds.

Each results section is shown through its declarations in ``report.views`` (the same
tables, captions and notes the terminal shows), followed by its charts
(``report.charts``); views that name the same ``section`` (calibration and its flags)
share one. Rows of ungrouped tasks are shown open; the rows of a task group's members
(MMLU's subjects) are folded into one closed sub-section per group, so 57 subjects'
tables never open the section. Sections the run has no data for are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.report.charts import charts_for
from fteval.report.context import Context, restrict, slug
from fteval.report.document import Note, Section, Table
from fteval.report.views import VIEWS, View, tables


def sections(ctx: Context) -> list[Section]:
    """Every results section the run holds, in reading order."""
    out: dict[str, tuple[str, list[Any]]] = {}
    for view in VIEWS:
        key = view.section or view.key
        blocks = view_blocks(ctx, view)
        if not blocks:
            continue
        title, shown = out.setdefault(key, (view.title, []))
        shown += blocks
    merged = []
    for key, (title, blocks) in out.items():
        open_blocks = [b for b in blocks if not _folded_group(b)]
        folded = _merge_folded([b for b in blocks if _folded_group(b)])
        merged.append(Section(key.replace("_", "-"), title, tuple(open_blocks + folded)))
    return merged


def view_blocks(ctx: Context, view: View) -> list[Any]:
    """A view's tables, notes and charts: ungrouped tasks open, each group's folded."""
    rows = view.rows_of(ctx.results)
    if not rows:
        return []
    if not any("task" in row for row in rows):  # run-wide rows (training logs)
        return _blocks(view, ctx.results, ctx)
    groups = [u for u in ctx.units() if ctx.is_group(u)]
    grouped = {name for group in groups for name in ctx.members(group)}
    ungrouped = {str(r["task"]) for r in rows if r.get("task") not in grouped}
    blocks = _blocks(view, restrict(ctx.results, ungrouped), ctx) if ungrouped else []
    for group in groups:
        inner = _blocks(view, restrict(ctx.results, ctx.members(group)), ctx)
        if inner:
            blocks.append(_group_section(ctx, group, view, inner))
    return blocks


def _blocks(view: View, results: Mapping[str, Any], ctx: Context) -> list[Any]:
    blocks: list[Any] = []
    for table, notes in tables(view, results):
        blocks += notes
        blocks.append(table)
    blocks += charts_for(view.key, results, ctx.style)
    return blocks


def _group_section(ctx: Context, group: str, view: View, blocks: Sequence[Any]) -> Section:
    n = len(ctx.leaves(group))
    return Section(
        f"{slug(view.section or view.key)}-{slug(group)}",
        f"{group}: {n} member tasks",
        tuple(blocks),
        level=3,
        collapsed=True,
        summary=_flags_summary(blocks),
    )


def _folded_group(block: Any) -> bool:
    return isinstance(block, Section) and block.collapsed


def _merge_folded(sections: Sequence[Section]) -> list[Section]:
    """One folded sub-section per group when several views of a section fold the same."""
    merged: dict[str, Section] = {}
    for section in sections:
        known = merged.get(section.id)
        if known is None:
            merged[section.id] = section
            continue
        blocks = known.blocks + section.blocks
        merged[section.id] = Section(
            known.id,
            known.title,
            blocks,
            level=known.level,
            collapsed=True,
            summary=_flags_summary(blocks),
        )
    return list(merged.values())


def _flags_summary(blocks: Sequence[Any]) -> str:
    """The gist of a folded section: how many warnings, alerts and flag-table rows it holds."""
    flags = sum(1 for b in blocks if isinstance(b, Note) and b.level in ("warning", "alert"))
    flags += sum(len(b.rows) for b in blocks if isinstance(b, Table) and b.kind.endswith("flags"))
    return f"{flags} flags inside" if flags else ""

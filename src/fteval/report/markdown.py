"""report.md: the report's sections as Markdown tables and notes (the same numbers as
report.html, without the charts and the item browser)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.report.document import Chart, Note, Section, Table
from fteval.report.sections import build_document

NOTE_PREFIX = {"info": "", "warning": "> **Warning:** ", "alert": "> **⚠ Alert:** "}


def render_markdown(results: Mapping[str, Any], manifest: Mapping[str, Any] | None = None) -> str:
    """A Markdown report generated from results (and the manifest, when given)."""
    lines = ["# fteval report", ""]
    if manifest:
        arms = ", ".join(f"`{a['name']}` ({a['kind']})" for a in manifest.get("arms", []))
        lines += [
            f"- fteval {manifest.get('fteval_version')}, started {manifest.get('started_at')}, "
            f"status {manifest.get('status')}",
            f"- arms: {arms}",
            "",
        ]
    for section in build_document(results, manifest):
        lines += render_section(section)
    lines += [
        "Scores are in display units: `(%)` marks proportions shown as percent, whose "
        "differences are percentage points (pts); other metrics are in their own units. "
        "report.html in the same folder holds the charts and the item browser.",
        "",
    ]
    return "\n".join(lines)


def render_section(section: Section) -> list[str]:
    """A section's heading and blocks as Markdown lines."""
    lines = [f"{'#' * section.level} {section.title}", ""]
    for block in section.blocks:
        if isinstance(block, Table):
            lines += render_table(block)
        elif isinstance(block, Note):
            lines += [NOTE_PREFIX.get(block.level, "") + _inline(block.text), ""]
        elif isinstance(block, Section):
            lines += render_section(block)
        elif isinstance(block, Chart):
            continue  # charts are in report.html; their numbers are in the tables
    return lines


def render_table(table: Table) -> list[str]:
    """A GitHub-flavoured Markdown table, label columns left-aligned, numbers right."""
    if not table.rows:
        return []
    lines = [f"*{_inline(table.caption)}*", ""] if table.caption else []
    align = [":---" if table.aligned_left(i) else "---:" for i in range(len(table.header))]
    lines.append("| " + " | ".join(_cell(h) for h in table.header) + " |")
    lines.append("|" + "|".join(align) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return [*lines, ""]


def _cell(value: Any) -> str:
    return _inline(str(value)).replace("|", "\\|")


def _inline(text: str) -> str:
    return " ".join(text.split())


def render_tables(tables: Sequence[Table]) -> str:
    """Several tables as one Markdown string (for embedding elsewhere)."""
    return "\n".join(line for table in tables for line in render_table(table))

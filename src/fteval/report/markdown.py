"""report.md: the run's tables, verdicts, advice and provenance in Markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fteval.report.sections import section_lines
from fteval.report.table import build_tables, verdict_lines


def render_markdown(results: Mapping[str, Any], manifest: Mapping[str, Any] | None = None) -> str:
    """A Markdown report generated from results (and the manifest, when given)."""
    lines = ["# fteval report", ""]
    if manifest:
        lines += [
            f"- fteval {manifest.get('fteval_version')}, started {manifest.get('started_at')}",
            "- arms: "
            + ", ".join(f"`{a['name']}` ({a['kind']})" for a in manifest.get("arms", [])),
            "",
        ]
    for table in build_tables(results):
        lines += [f"## {table.task} (n = {table.n})", ""]
        lines.append("| " + " | ".join(table.header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(table.header) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines.append("")
    lines += [
        "Scores in display units (percent for proportions); Δ in points; `*` = significant "
        "after multiple-comparison correction.",
        "",
    ]
    verdicts = verdict_lines(results)
    if verdicts:
        lines += ["## Verdicts", ""] + [f"- {v}" for v in verdicts] + [""]
    extra = section_lines(results)
    if extra:
        lines += [
            "## What the clean score hides",
            "",
            "```",
            *[x.lstrip("\n") for x in extra],
            "```",
            "",
        ]
    advice = results.get("advice", [])
    if advice:
        lines += ["## Advice", ""] + [f"- {a['message']}" for a in advice] + [""]
    return "\n".join(lines)

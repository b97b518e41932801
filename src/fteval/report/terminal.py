"""The terminal summary printed after a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fteval.report.sections import section_lines
from fteval.report.table import build_tables, fmt, render_grid, verdict_lines


def render_terminal(results: Mapping[str, Any], run_dir: str | None = None) -> str:
    """Tables per task, then verdicts and advice, as plain text."""
    lines: list[str] = []
    for table in build_tables(results):
        lines.append(
            f"\n{table.task}  (n={table.n}; scores in %, Δ in points; "
            "* = significant after correction)"
        )
        lines.extend(render_grid(table.header, table.rows))
    verdicts = verdict_lines(results)
    if verdicts:
        lines.append("\nverdicts:")
        lines.extend(f"  {line}" for line in verdicts)
    for row in results.get("seed_groups", []):
        scale = row["scale"]
        warning = "  (seed spread ≥ effect: not credited)" if row["spread_exceeds_effect"] else ""
        lines.append(
            f"\nseeds {row['group']} {row['task']} {row['metric']}: "
            f"{fmt(row['mean'], scale)} ± {fmt(row['std'], scale)} over {row['n_seeds']} seeds, "
            f"Δ vs base {fmt(row['mean_delta_vs_reference'], scale, signed=True)}{warning}"
        )
    lines.extend(section_lines(results))
    for note in results.get("advice", []):
        lines.append(f"\nadvice: {note['message']}")
    for report in results.get("classification", []):
        if report["imbalanced"] and report["arm"] == "base":
            lines.append(
                f"\nnote: {report['task']} is imbalanced (largest/smallest class = "
                f"{report['imbalance_ratio']:.1f}); read f1_macro/f1_weighted beside acc."
            )
    if run_dir:
        lines.append(f"\nrun directory: {run_dir}")
    return "\n".join(lines).lstrip("\n") + "\n"

"""Write a run directory's reports (report.md and report.html) from its records alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.records import SampleResult, atomic_write_text
from fteval.records.rundir import REPORT_HTML, REPORT_MD, RunDirectory
from fteval.report.html import render_html
from fteval.report.markdown import render_markdown


def write_reports(
    run_dir: RunDirectory,
    results: Mapping[str, Any],
    manifest: Mapping[str, Any] | None,
    *,
    samples: Sequence[SampleResult] | None = None,
    items: Sequence[Mapping[str, Any]] | None = None,
    html_path: str | Path | None = None,
    md_path: str | Path | None = None,
) -> list[Path]:
    """Render report.md and report.html (atomically); return the paths written.

    Samples and items are read from the run directory when not given. ``html_path`` and
    ``md_path`` default to the run directory's report.html and report.md.
    """
    if samples is None:
        samples = run_dir.read_samples()
    if items is None:
        items = run_dir.read_items()
    md = Path(md_path) if md_path is not None else run_dir.path / REPORT_MD
    html = Path(html_path) if html_path is not None else run_dir.path / REPORT_HTML
    title = f"fteval report: {run_dir.path.name}"
    atomic_write_text(md, render_markdown(results, manifest))
    atomic_write_text(html, render_html(results, manifest, samples, items, title=title))
    return [md, html]

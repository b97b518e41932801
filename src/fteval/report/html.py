"""report.html: one self-contained file that opens offline, from disk, with no request to
any network address.

Everything is inline: the CSS, the charts (SVG written by ``report.svg``), the items as
JSON and a little vanilla JavaScript for the item browser. A Content-Security-Policy in
the page forbids loading anything from anywhere (``default-src 'none'``), so even a
stray URL in model output cannot make the page fetch it. Tables and charts read without
JavaScript; only the item browser needs it. The page prints (controls hidden, charts
kept whole, folded sections opened) and reads without colour (every mark has a shape, a
pattern or a word).

The answer comes first: a one-line page header, then the document's first section (the
headline) at the top of the screen, then the contents, then the evidence. Sections the
document marks ``collapsed`` (a group's member tasks, long tables of facts) are
``<details>`` elements, closed until the reader opens them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from fteval.records import SampleResult
from fteval.report import svg
from fteval.report.document import Cell, Chart, Note, Section, Table
from fteval.report.items import browser_data, embed_json
from fteval.report.sections import build_document
from fteval.version import __version__

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
)
OUTCOMES = (
    ("all", "all outcomes"),
    ("flips", "flips (either way)"),
    ("broken", "base right → arm wrong"),
    ("fixed", "base wrong → arm right"),
    ("both-right", "both right"),
    ("both-wrong", "both wrong"),
    ("perturbation-flips", "changed by the perturbation"),
)


PRINT_OPENS_FOLDS = (
    'addEventListener("beforeprint", function () {'
    ' document.querySelectorAll("details").forEach(function (d) { d.open = true; }); });'
)


@cache
def _static(name: str) -> str:
    return resources.files("fteval.report").joinpath("static").joinpath(name).read_text("utf-8")


def render_html(
    results: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
    samples: Sequence[SampleResult] = (),
    items: Sequence[Mapping[str, Any]] = (),
    *,
    title: str | None = None,
) -> str:
    """The report as one HTML document (see the module docstring).

    Args:
        results: the results object (results.json).
        manifest: the run's manifest (identities, versions, timings, cache), if any.
        samples: the run's samples, for the item browser (none: no browser).
        items: items.jsonl records (the prompts) for the browser's input column.
        title: the page title (default: "fteval report").
    """
    manifest = manifest or {}
    sections = build_document(results, manifest)
    heading = title or "fteval report"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="fteval {escape(__version__)}">',
        f"<title>{escape(heading)}</title>",
        f"<style>{_static('report.css')}</style>",
        "</head><body>",
        svg.defs(),
        f'<header class="top"><h1>{escape(heading)}</h1>{_meta_line(manifest)}</header>',
        "<main>",
    ]
    body = [section for section in sections if section.id != "facts"]
    parts += [_section(section) for section in body[:1]]
    parts.append(_toc(sections, browser=bool(samples)))
    parts += [_section(section) for section in body[1:]]
    if samples:
        parts.append(_browser())
    parts += [_section(section) for section in sections if section.id == "facts"]
    parts.append("</main>")
    if samples:
        data = browser_data(results, samples, items)
        parts.append(
            f'<script type="application/json" id="fteval-items">{embed_json(data)}</script>'
        )
        parts.append(f"<script>{_static('report.js')}</script>")
    parts.append(f"<script>{PRINT_OPENS_FOLDS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _meta_line(manifest: Mapping[str, Any]) -> str:
    facts = []
    if manifest.get("fteval_version"):
        facts.append(f"fteval {manifest['fteval_version']}")
    if manifest.get("started_at"):
        facts.append(f"started {manifest['started_at']}")
    if manifest.get("status"):
        facts.append(f"status {manifest['status']}")
    arms = manifest.get("arms", [])
    if arms:
        facts.append("arms: " + ", ".join(f"{a['name']} ({a.get('kind', '')})" for a in arms))
    return f'<span class="meta">{escape(" · ".join(facts))}</span>' if facts else ""


def _toc(sections: Sequence[Section], *, browser: bool) -> str:
    links = [(s.id, s.title) for s in sections if s.id != "facts"]
    if browser:
        links.append(("items", "Item browser"))
    links += [(s.id, s.title) for s in sections if s.id == "facts"]
    body = "".join(f'<a href="#{escape(i)}">{escape(t)}</a>' for i, t in links)
    return f'<nav class="toc" aria-label="contents">{body}</nav>'


def _section(section: Section) -> str:
    tag = f"h{min(6, section.level)}"
    heading = f"<{tag}>{escape(section.title)}</{tag}>"
    if section.collapsed:
        gist = f' <span class="gist">{escape(section.summary)}</span>' if section.summary else ""
        opening = f'<details class="fold" id="{escape(section.id)}">'
        out = [f"{opening}<summary>{heading}{gist}</summary>"]
    else:
        out = [f'<section id="{escape(section.id)}">{heading}']
    charts: list[str] = []
    for block in section.blocks:
        if isinstance(block, Chart):
            charts.append(_chart(block))
            continue
        if charts:
            out.append(f'<div class="charts">{"".join(charts)}</div>')
            charts = []
        if isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Note):
            out.append(f'<p class="note {escape(block.level)}">{escape(block.text)}</p>')
        elif isinstance(block, Section):
            out.append(_section(block))
    if charts:
        out.append(f'<div class="charts">{"".join(charts)}</div>')
    out.append("</details>" if section.collapsed else "</section>")
    return "\n".join(out)


def _chart(chart: Chart) -> str:
    if not chart.svg:
        return ""
    caption = f"<figcaption>{escape(chart.caption)}</figcaption>" if chart.caption else ""
    return f'<figure class="chart" data-chart="{escape(chart.kind)}">{chart.svg}{caption}</figure>'


def _table(table: Table) -> str:
    if not table.rows:
        return ""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in table.header)
    rows = []
    for row in table.rows:
        cells = []
        for index, cell in enumerate(row):
            classes = [] if table.aligned_left(index) else ["num"]
            if isinstance(cell, Cell) and cell.tone:
                classes.append(f"tone-{cell.tone}")
            klass = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{klass}>{escape(str(cell))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    caption = f'<p class="caption">{escape(table.caption)}</p>' if table.caption else ""
    label = f' aria-label="{escape(table.caption)}"' if table.caption else ""
    kind = f' data-kind="{escape(table.kind)}"' if table.kind else ""
    return (
        f'{caption}<div class="table-wrap"><table{kind}{label}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _browser() -> str:
    outcomes = "".join(f'<option value="{v}">{escape(label)}</option>' for v, label in OUTCOMES)
    sizes = "".join(f'<option value="{v}">{v}</option>' for v in ("50", "200", "1000", "all"))
    return f"""<section id="items"><h2>Item browser</h2>
<noscript><p class="note warning">The item browser needs JavaScript; every table and chart
above does not.</p></noscript>
<div id="item-browser">
<div class="controls">
<label>task<select id="f-task"><option value="">all tasks</option></select></label>
<label>arm<select id="f-arm"><option value="">all arms vs base</option></select></label>
<label>outcome<select id="f-outcome">{outcomes}</select></label>
<label>slice<select id="f-slice"><option value="">all slices</option></select></label>
<label>perturbation<select id="f-perturbation"><option value="">all inputs</option>
<option value="(clean)">clean only</option></select></label>
<label>search<input id="f-search" type="search"
 placeholder="text in id, input, target, outputs"></label>
<label>rows per page<select id="f-page-size">{sizes}</select></label>
</div>
<p id="items-count" aria-live="polite"></p>
<div class="table-wrap"><table class="items"><thead id="items-head"></thead>
<tbody id="items-body"></tbody></table></div>
<div class="pager"><button id="page-prev" type="button">previous</button>
<span id="page-info"></span><button id="page-next" type="button">next</button></div>
</div></section>"""

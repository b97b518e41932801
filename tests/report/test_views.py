"""Each results section is declared once (report.views) and the terminal, report.md and
report.html show the same captions, labels, signs and numbers from that declaration."""

from __future__ import annotations

import html
import re
import typing

from fteval.report import render_html, render_markdown, render_terminal
from fteval.report.views import VIEWS, primary_metrics, tables
from fteval.results import RESULTS_SECTIONS
from tests.report.fixtures import full_results


def _flat(text: str) -> str:
    return " ".join(text.split())


def _terminal_text(results) -> str:
    return _flat(render_terminal(results, width=200, details=True))


def test_every_caption_and_label_reads_the_same_in_every_renderer():
    results = full_results()
    markdown = _flat(render_markdown(results))
    page = _flat(html.unescape(re.sub(r"<[^>]+>", " ", render_html(results))))
    terminal = _terminal_text(results)
    checked = 0
    for view in VIEWS:
        for table, _ in tables(view, results):
            caption = _flat(table.caption)
            assert caption in markdown, (view.key, caption)
            assert caption in page, (view.key, caption)
            checked += 1
        for table, _ in tables(view, results, narrow=True, primary=primary_metrics(results)):
            assert _flat(table.caption) in terminal, (view.key, table.caption)
            for label in table.header:
                assert label in terminal, (view.key, label)
    assert checked >= len(VIEWS)  # the fixture holds every section


def test_a_delta_shows_the_sign_of_the_record_everywhere():
    results = full_results()
    lora = next(r for r in results["robustness"] if r["arm"] == "lora")
    assert lora["under_perturbation"]["delta"] < 0  # the record: perturbed − clean
    (robustness,) = tables(next(v for v in VIEWS if v.key == "robustness"), results)
    table, _ = robustness
    shown = dict(zip(table.header, next(r for r in table.rows if str(r[0]) == "lora")))
    assert str(shown["Δ [CI]"]).startswith("-12.0")
    assert "Δ = perturbed − clean" in table.caption
    for rendered in (render_markdown(results), _terminal_text(results)):
        assert "-12.0" in rendered and "Δ = perturbed − clean" in _flat(rendered)


def test_every_section_with_rows_has_a_view_and_every_view_a_section():
    results = full_results()
    shown = {v.key for v in VIEWS}
    for section, _row_type in RESULTS_SECTIONS.items():
        if section in ("arms", "tasks", "scores", "comparisons", "advice", "classification",
                       "seed_groups", "generation", "task_groups", "cost"):  # fmt: skip
            continue  # the main table, tasks, health and cost have their own renderers
        assert section in shown, section
    views_on_sections = {v.key for v in VIEWS if v.rows is None}
    assert views_on_sections <= set(RESULTS_SECTIONS)
    assert all(results.get(v.key) for v in VIEWS if v.rows is None)


def test_every_column_reads_a_field_of_its_sections_row_type():
    checked = 0
    for view in VIEWS:
        row_type = RESULTS_SECTIONS.get(view.key)
        if row_type is None:
            continue
        hints = typing.get_type_hints(row_type)
        for column in view.columns:
            if not column.field:
                continue
            head, _, rest = column.field.partition(".")
            assert head in hints, (view.key, column.field)
            if rest:  # a comparison nested in a mapping: vs_base.ece
                assert "Mapping" in str(hints[head]) and "Comparison" in str(hints[head])
            checked += 1
    assert checked > 30

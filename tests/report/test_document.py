"""The report people read: the answer first, one section per task, task groups folded,
verdict reasons in the tables' units, calibration flags in one table, flags with their
numbers."""

from __future__ import annotations

import re

import pytest

from fteval.report import render_html, render_markdown
from fteval.report.document import Note, Section, Table
from fteval.report.numbers import reason_text
from fteval.report.sections import build_document
from tests.report.fixtures import all_table_cells, full_results, grouped_results


def _walk(blocks):
    """Every block of a document, sections included, depth first."""
    for block in blocks:
        yield block
        if isinstance(block, Section):
            yield from _walk(block.blocks)


def _section(sections, section_id) -> Section:
    return next(b for b in _walk(sections) if isinstance(b, Section) and b.id == section_id)


def _tables(blocks, kind: str) -> list[Table]:
    return [b for b in _walk(blocks) if isinstance(b, Table) and b.kind == kind]


# ---- reasons in the tables' units ----


def test_verdict_reasons_speak_in_the_tables_units():
    results = full_results()
    row = next(
        c
        for c in results["comparisons"]
        if (c["task"], c["metric"], c["arm"], c["reference_arm"])
        == ("intents", "acc", "lora", "base")
    )
    row.update(
        delta=0.4667,
        ci_low=0.3167,
        ci_high=0.6167,
        reason="delta +0.4667, adjusted p = 0.004 < 0.05, CI [0.3167, 0.6167]",
        non_inferiority=True,
        non_inferiority_margin=0.01,
    )
    document = build_document(results)
    task = _section(document, "task-intents")
    (verdicts,) = _tables(task.blocks, "verdicts")
    shown = dict(
        zip(verdicts.header, next(r for r in verdicts.rows if r[:3] == ("acc (%)", "lora", "base")))
    )
    assert str(shown["Δ [CI]"]) == "+46.7* [+31.7, +61.7]"
    assert shown["reason"] == (
        "adjusted p = 0.004, below α = 0.05, and the CI excludes 0; "
        "non-inferior within 1.0 pts (CI low +31.7 > -1.0)"
    )
    cells = " ".join(all_table_cells(document))
    assert "0.4667" not in cells and "0.3167" not in cells  # no metric-unit numbers anywhere


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "adjusted p = 0.004, below α = 0.05, and the CI excludes 0"),
        (
            {"significant": False, "verdict": "no significant difference", "ci_low": -0.01},
            "adjusted p = 0.004, below α = 0.05, but the CI includes 0 (both must hold)",
        ),
        (
            {"significant": False, "verdict": "no significant difference", "p_adjusted": 0.2},
            "the CI excludes 0 but adjusted p = 0.2, not below α = 0.05, after correction",
        ),
        (
            {
                "significant": False,
                "verdict": "no significant difference",
                "ci_low": -0.01,
                "p_adjusted": 0.2,
            },
            "adjusted p = 0.2, not below α = 0.05, and the CI includes 0",
        ),
        ({"p_adjusted": 0.0001}, "adjusted p < 0.001, below α = 0.05, and the CI excludes 0"),
        (
            {"verdict": "insufficient data", "reason": "only 12 items; at least 30 are needed"},
            "only 12 items; at least 30 are needed",
        ),
        (
            {"note": "3 items held by only one arm were left out of the pairing"},
            "; 3 items held by only one arm were left out of the pairing",
        ),
        (
            {"non_inferiority": False, "non_inferiority_margin": 0.005, "ci_low": -0.02},
            "non-inferiority not shown at 0.5 pts (CI low -2.0 ≤ -0.5)",
        ),
    ],
)
def test_a_reason_names_the_criterion_that_decided(change, expected):
    row = {
        "verdict": "improved",
        "significant": True,
        "delta": 0.05,
        "ci_low": 0.02,
        "ci_high": 0.08,
        "p_adjusted": 0.004,
        "scale": 100.0,
        "higher_is_better": True,
    }
    row.update(change)
    text = reason_text(row, 0.05)
    assert expected in text, text


# ---- one section per task; groups folded ----


def test_each_task_has_its_section_with_every_verdict_and_the_summary_keeps_the_primary_metric():
    document = build_document(full_results())
    assert [s.id for s in document][:5] == [
        "headline",
        "summary",
        "task-intents",
        "task-summaries",
        "group-mmlu",
    ]
    task = _section(document, "task-intents")
    (verdicts,) = _tables(task.blocks, "verdicts")
    assert {(r[0], r[2]) for r in verdicts.rows} == {
        (m, ref) for m in ("acc (%)", "f1_macro (%)") for ref in ("base", "full")
    }
    summary = _section(document, "summary")
    metrics = {
        (row[0], row[1]) for table in _tables(summary.blocks, "verdicts") for row in table.rows
    }
    assert ("intents", "f1_macro (%)") not in metrics and ("intents", "acc (%)") in metrics


def test_a_task_group_is_one_section_with_its_members_folded():
    results = grouped_results(8)
    document = build_document(results)
    top = [s.id for s in document]
    assert "group-mmlu" in top and not any(i.startswith("task-mmlu_subject") for i in top)
    category = _section(document, "group-mmlu_stem")
    assert category.collapsed and category.summary.startswith("8 tasks")
    members = [b for b in category.blocks if isinstance(b, Section)]
    assert [m.id for m in members] == [f"task-mmlu_subject_{i}" for i in range(8)]
    assert all(m.collapsed and m.summary.startswith("acc Δ vs base (pts)") for m in members)
    (overview,) = [b for b in category.blocks if isinstance(b, Table) and b.kind == "members"]
    assert [row[0] for row in overview.rows] == [f"mmlu_subject_{i}" for i in range(8)]
    group = _section(document, "group-mmlu")
    (own,) = [t for t in group.blocks if isinstance(t, Table) and t.kind == "verdicts"]
    assert {row[0] for row in own.rows} == {"acc_micro (%)"}  # the group's own rows only


def test_results_sections_fold_a_groups_members_and_show_the_rest_open():
    document = build_document(grouped_results(8))
    calibration = _section(document, "calibration")
    open_tables = [b for b in calibration.blocks if isinstance(b, Table)]
    folded = [b for b in calibration.blocks if isinstance(b, Section)]
    assert all("mmlu_subject" not in t.caption for t in open_tables)
    assert [f.collapsed for f in folded] == [True] and folded[0].title == "mmlu: 8 member tasks"
    inner = _tables(folded[0].blocks, "calibration")
    assert len(inner) == 8 and folded[0].summary == "8 flags inside"


def test_calibration_flags_are_one_table_not_a_box_per_arm():
    results = grouped_results(0)
    lora = next(r for r in results["calibration"] if r["arm"] == "lora")
    results["calibration"] += [{**lora, "task": f"extra_{i}"} for i in range(12)]
    document = build_document(results)
    calibration = _section(document, "calibration")
    (flags,) = _tables(calibration.blocks, "calibration_flags")
    assert len(flags.rows) == 13 and calibration.blocks[0] == flags
    assert dict(zip(flags.header, flags.rows[0]))["conf − acc [CI]"] == "+17.0 [+15.0, +19.0]"
    notes = [b for b in _walk(calibration.blocks) if isinstance(b, Note)]
    assert not any("overconfident" in n.text for n in notes)
    assert render_markdown(results).count("overconfident arms:") == 1


def test_brittle_is_a_flag_with_its_numbers_never_a_word_beside_a_verdict():
    document = build_document(full_results())
    (robustness,) = _tables(_section(document, "robustness").blocks, "robustness")
    lora = dict(zip(robustness.header, next(r for r in robustness.rows if r[0] == "lora")))
    assert str(lora["brittle"]) == "brittle: 0.85 < 0.90"
    words = ("improved", "regressed", "no significant difference")
    for cell in all_table_cells(document):
        assert not (any(w in cell for w in words) and "brittle" in cell.lower()), cell


# ---- the page ----


def test_the_first_section_opens_the_page_and_the_contents_follow_it():
    page = render_html(full_results(), {"status": "complete", "arms": full_results()["arms"]})
    header = page.index('<header class="top">')
    first = page.index('<section id="headline">')
    contents = page.index('<nav class="toc"')
    second = page.index('<section id="summary">')
    assert header < first < contents < second
    assert "<nav" not in page[header:first]


def test_folded_sections_are_closed_details_in_html_and_whole_in_markdown():
    results = grouped_results(8)
    document = build_document(results)
    folded = [b for b in _walk(document) if isinstance(b, Section) and b.collapsed]
    page = render_html(results)
    opened = re.findall(r'<details class="fold" id="([^"]+)"( open)?>', page)
    assert sorted(i for i, _ in opened) == sorted(s.id for s in folded)
    assert not any(flag for _, flag in opened)
    markdown = render_markdown(results)
    for section in folded:
        assert f" {section.title}\n" in markdown
    for cell in all_table_cells(document):
        assert cell.replace("|", "\\|") in markdown, cell


def test_many_families_and_many_pieces_of_advice_fold_into_one_table_each():
    results = full_results()
    advice = results["advice"][0]
    results["advice"] = [{**advice, "task": f"t{i}"} for i in range(6)]
    summary = _section(build_document(results), "summary")
    notes = [b.text for b in summary.blocks if isinstance(b, Note)]
    assert sum(text.startswith("Advice") for text in notes) == 1
    folded = {b.id: b for b in summary.blocks if isinstance(b, Section)}
    assert folded["advice"].collapsed and len(folded["advice"].blocks[0].rows) == 6
    families = folded["families"].blocks[0]
    assert folded["families"].collapsed and len(families.rows) == 5  # the five arm pairs
    assert any("5 families" in text for text in notes)
    results["advice"] = results["advice"][:2]
    summary = _section(build_document(results), "summary")
    assert [b.text for b in summary.blocks if isinstance(b, Note)].count(
        f"Advice: {advice['message']}"
    ) == 2

"""report.html and report.md: every section of the results contract, the same numbers in
both, one self-contained page, the item data escaped (the model card: test_modelcard.py)."""

from __future__ import annotations

import json
import re
from html import unescape

from fteval.records import SampleResult
from fteval.report import render_html, render_markdown
from fteval.report.items import browser_data
from fteval.report.sections import build_document
from tests.report.fixtures import all_table_cells, full_results

EXPECTED_CHARTS = {  # chart kind -> how many the fixture's sections call for
    "scores": 5,  # one per task x metric (intents acc, f1_macro; summaries bleu; mmlu; mmlu_stem)
    "deltas": 5,
    "confusion": 4,  # one per arm of the classification task
    "reliability": 2,
    "robustness": 1,
    "slices": 1,
    "training": 2,  # the lora loss curves and the checkpoint series
    "contamination": 1,
    "judge": 1,
    "cost": 4,  # trainable params, size on disk, wall time, peak memory
}


def _samples() -> list[SampleResult]:
    out = []
    for i in range(4):
        for arm, right in (("base", i % 2 == 0), ("lora", True)):
            out.append(
                SampleResult(
                    task="intents",
                    example_id=f"e{i}",
                    arm=arm,
                    prompt_hash=f"h{i}",
                    target="login",
                    prediction="login" if right else "billing",
                    choice_logprobs=[-0.5, -1.5] if right else [-1.5, -0.5],
                    scores={"acc": float(right), "f1_macro": float(right)},
                    meta={"channel": "chat" if i < 2 else "email"},
                )
            )
    return out


def test_every_contract_section_gets_its_charts_and_tables():
    html = render_html(full_results(), {"status": "complete"}, _samples())
    kinds = re.findall(r'<figure class="chart" data-chart="([a-z-]+)"', html)
    assert {k: kinds.count(k) for k in EXPECTED_CHARTS} == EXPECTED_CHARTS
    for section in (
        "summary",
        "group-mmlu",
        "calibration",
        "robustness",
        "slices",
        "training",
        "contamination",
        "judge",
        "cost",
        "health",
        "items",
        "facts",
    ):
        assert f'<section id="{section}">' in html
    assert "hit max_new_tokens on 90% of summaries outputs (180 of 200)" in html
    assert "lora regressed on intents channel=chat (acc) while the task as a whole improved" in html


def test_markdown_and_html_hold_the_same_numbers():
    results = full_results()
    markdown = render_markdown(results)
    html = unescape(render_html(results))
    for cell in all_table_cells(build_document(results)):
        assert cell.replace("|", "\\|") in markdown, cell
        assert cell in html, cell


def test_the_page_loads_nothing_from_anywhere():
    html = render_html(full_results(), {}, _samples())
    assert "default-src 'none'" in html
    assert re.search(r"\b(src|href)=\"(?!#)", html) is None  # only in-page links
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html and "url(http" not in html


def test_item_data_cannot_close_the_script_element():
    samples = _samples()
    samples[0].prediction = "</script><script>alert(1)</script>\u2028"
    html = render_html(full_results(), {}, samples)
    payload = html.split('<script type="application/json" id="fteval-items">')[1]
    payload = payload.split("</script>")[0]
    data = json.loads(payload)
    assert data["items"][0][7][0][0] == "</script><script>alert(1)</script>\u2028"


def test_browser_data_pairs_arms_and_marks_outcomes():
    data = browser_data(
        full_results(),
        _samples(),
        [
            {
                "task": "intents",
                "example_id": "e1",
                "prompt_hash": "h1",
                "prompt": "Q1?",
                "choices": ["login", "billing"],
            }
        ],
    )
    assert data["base"] == "base" and data["tasks"][0]["outcome"] == "acc"
    assert data["slice_fields"] == ["channel"]
    by_id = {item[1]: item for item in data["items"]}
    base, lora = data["arms"].index("base"), data["arms"].index("lora")
    flips = sorted(i for i, item in by_id.items() if item[7][base][1] != item[7][lora][1])
    assert flips == ["e1", "e3"]
    assert by_id["e1"][2] == "Q1?" and by_id["e1"][4] == ["login", "billing"]
    assert by_id["e1"][5] == {"channel": "chat"}


def test_fteval_report_rebuilds_the_reports_from_the_run_directory_alone(tmp_path, task_file):
    from fteval.cli import main
    from tests.pipeline.test_compare_runs import fake_run

    run = fake_run(tmp_path / "run", task_file, {"lora": ("x", 0.8)})
    written = (run / "report.html").read_text()
    assert "status complete" in written and 'id="fteval-items"' in written
    (run / "report.html").unlink()
    (run / "report.md").unlink()
    assert main(["report", str(run), "--html", str(tmp_path / "out.html")]) == 0
    assert not (run / "report.md").exists()
    rebuilt = (tmp_path / "out.html").read_text()
    tables = re.compile(r'<table data-kind="(?!timings)[^"]*".*?</table>', re.S)
    assert tables.findall(rebuilt) == tables.findall(written)  # the run's timings grew after
    assert main(["report", str(run)]) == 0
    assert (run / "report.md").exists() and (run / "report.html").exists()

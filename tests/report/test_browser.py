"""report.html in headless Chromium, at 1400 x 900: the demo's page (no console errors,
no network requests, every chart and the item browser present, the "flips" filter
exact), the answer on the first screen, no chart text crossing its chart's edge (on the
demo and on a page of every section with long names), task groups folded, and the item
browser's clean-vs-perturbed view checked against samples.jsonl and items.jsonl.

Screenshots are saved as test artefacts in ``$FTEVAL_TEST_ARTIFACTS`` (default
``test-artifacts/`` at the repository root): ``report-demo.png`` (the whole page),
``report-demo-top.png`` (the first screen), ``report-demo-flips.png`` (the item browser
filtered to flips) and ``report-demo-perturbed.png`` (clean beside perturbed).

The headline section (id ``headline``) is the first section of ``build_document`` once
``report.headline`` provides it; until then these tests put a stand-in of the same kind
(a short table of each arm's primary-metric verdicts) first, so that the page's layout
is what is checked.

The demo is run through ``fteval demo`` itself, on models built with a few optimizer
steps (the full fine-tune at a high learning rate, so that it answers differently from
the base on some items and there are flips to find), on the first 60 of its 300 test
items: seconds rather than minutes. The report of all 300 items is the same page with
five times the item data (about 200 kB).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from fteval.cli import main
from fteval.records.rundir import RunDirectory
from fteval.report.document import Note, Section, Table
from tests.report.cdp import Browser, find_chromium
from tests.report.fixtures import grouped_results, renamed

pytestmark = [pytest.mark.browser, pytest.mark.real_model]

ARTIFACTS = Path(
    os.environ.get("FTEVAL_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)
MAX_REPORT_BYTES = 5 * 1024 * 1024
VIEWPORT = (1400, 900)
HEADER_PX = 80  # the page header above the headline: one line, not a table of contents


DEMO_ITEMS = 60  # of the demo's 300 test items: the same page, a fifth of the inference


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fteval demo --out RUN`` on quickly built demo models (see the module docstring)."""
    import fteval.demo.assets as assets
    import fteval.demo.run as demo
    from fteval.api import run as api_run
    from fteval.demo.train import TrainSettings

    settings = dataclasses.replace(TrainSettings.tiny(), full_steps=6, full_lr=0.1)
    build = assets.build_demo_assets
    patch = pytest.MonkeyPatch()
    patch.setattr(
        assets,
        "build_demo_assets",
        lambda cache_dir=None, *, progress=True: build(
            cache_dir, progress=False, settings=settings
        ),
    )
    patch.setattr(
        demo,
        "run",
        lambda config, **kw: api_run(config.model_copy(update={"limit": DEMO_ITEMS}), **kw),
    )
    run = tmp_path_factory.mktemp("demo") / "run"
    try:
        assert main(["demo", "--out", str(run), "--quiet"]) == 0
    finally:
        patch.undo()
    return run


def _expected_flips(run: Path, arm: str | None) -> list[str]:
    """Example ids whose accuracy differs between base and ``arm`` (any arm when None)."""
    acc: dict[str, dict[str, float]] = {}
    for line in (run / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        if "~" in sample["task"]:  # a perturbed or validation variant, not the clean item
            continue
        acc.setdefault(sample["arm"], {})[sample["example_id"]] = sample["scores"]["acc"]
    arms = [arm] if arm else [a for a in acc if a != "base"]
    return sorted(i for i in acc["base"] if any(acc[a][i] != acc["base"][i] for a in arms))


SELECT = """(() => {{
  const set = (id, value) => {{
    const el = document.getElementById(id);
    el.value = value;
    el.dispatchEvent(new Event("change"));
  }};
  set("f-page-size", "all");
  set("f-perturbation", {perturbation});
  set("f-arm", {arm});
  set("f-outcome", {outcome});
  return {{
    count: Number(document.getElementById("items-count").dataset.count),
    ids: [...document.querySelectorAll("#items-body tr")].map(r => r.dataset.id).sort(),
  }};
}})()"""


def _browser() -> Browser:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("chromium is not installed: run `make system-deps` (Debian package chromium)")
    browser = Browser(chromium)
    browser.open_page()
    browser.set_viewport(*VIEWPORT)
    return browser


def test_demo_report_in_headless_chromium(demo_run):
    report = demo_run / "report.html"
    assert report.stat().st_size < MAX_REPORT_BYTES
    results = json.loads((demo_run / "results.json").read_text())
    arms = [a["name"] for a in results["arms"]]
    browser = _browser()
    try:
        browser.navigate(report.resolve().as_uri())
        assert browser.evaluate("document.getElementById('item-browser').dataset.ready") == "true"
        browser.screenshot(ARTIFACTS / "report-demo.png")

        # every chart the results call for, and the item browser with every item
        charts = browser.evaluate(
            "[...document.querySelectorAll('figure.chart svg')].map(s => s.dataset.kind)"
        )
        metrics = {(r["task"], r["metric"]) for r in results["scores"]}
        assert charts.count("scores") == charts.count("deltas") == len(metrics)
        assert charts.count("confusion") == len(results["classification"]) == len(arms)
        for section, kind in (
            ("calibration", "reliability"),
            ("robustness", "robustness"),
            ("slices", "slices"),
            ("training", "training"),
        ):
            assert (kind in charts) == bool(results.get(section)), kind
        assert "cost" in charts
        clean = '"(clean)"'
        total = browser.evaluate(SELECT.format(arm='""', outcome='"all"', perturbation=clean))
        assert total["count"] == len(total["ids"]) == results["scores"][0]["n"]
        perturbed = {r["perturbation"] for r in results.get("robustness", [])}
        for name in perturbed:  # each perturbation's variants, one per item and variant
            shown = browser.evaluate(
                SELECT.format(arm='""', outcome='"all"', perturbation=json.dumps(name))
            )
            assert shown["count"] == results["scores"][0]["n"], name

        # "flips" shows exactly the items whose outcome differs from base's
        flipped_any = 0
        for arm in [None, *arms[1:]]:
            shown = browser.evaluate(
                SELECT.format(
                    arm=json.dumps(str(arms.index(arm)) if arm else ""),
                    outcome='"flips"',
                    perturbation=clean,
                )
            )
            expected = _expected_flips(demo_run, arm)
            assert shown["ids"] == expected and shown["count"] == len(expected), arm
            flipped_any = max(flipped_any, len(expected))
        assert flipped_any > 0  # the demo build gives the filter something to find
        browser.evaluate("document.getElementById('items').scrollIntoView(); true")
        browser.screenshot(ARTIFACTS / "report-demo-flips.png", full_page=False)

        assert browser.console_errors() == []
        requests = browser.requests()
        assert requests == [report.resolve().as_uri()], requests  # the page itself, nothing else
    finally:
        browser.close()
    assert (ARTIFACTS / "report-demo.png").stat().st_size > 10_000


# ---- the page as people read it ----


def _stand_in_headline(results) -> Section:
    """A headline-shaped first section: each arm's primary-metric verdict vs base."""
    primary = {t["name"]: t.get("primary_metric") for t in results.get("tasks", [])}
    rows = tuple(
        (c["arm"], c["task"], str(c["verdict"]), f"{100 * c['delta']:+.1f}")
        for c in results["comparisons"]
        if c.get("reference_kind") == "base" and c["metric"] == primary.get(c["task"], "acc")
    )[:12]
    table = Table(("arm", "task", "verdict", "Δ"), rows, caption="did the fine-tune help?")
    return Section("headline", "Did the fine-tune help?", (table, Note("stand-in")))


def _page(path: Path, results, manifest=None, samples=(), items=()) -> Path:
    """report.html of ``results`` with the headline first (see the module docstring)."""
    import fteval.report.html as page

    document = page.build_document

    def headline_first(results, manifest=None):
        sections = document(results, manifest)
        if sections and sections[0].id == "headline":
            return sections
        return [_stand_in_headline(results), *sections]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(page, "build_document", headline_first)
        path.write_text(page.render_html(results, manifest, samples, items, title="fteval"))
    return path


@pytest.fixture(scope="module")
def demo_page(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run's report.html, rendered from its run directory, headline first."""
    run = RunDirectory(demo_run)
    path = tmp_path_factory.mktemp("pages") / "demo.html"
    return _page(
        path, run.read_results(), run.read_manifest(), run.read_samples(), run.read_items()
    )


@pytest.fixture(scope="module")
def stress_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every results section, a task group of eight members, long names everywhere."""
    long = {
        "qlora-r64": "qlora-r64-rank-sixty-four-on-every-projection-seed-1234",
        "intents": "customer_support_intents_from_the_2024_helpdesk_export",
        "login": "login_problem_with_two_factor_authentication",
        "billing": "billing_question_about_an_invoice_or_a_refund",
        "chat": "chat_widget_on_the_mobile_application_for_android",
        "typo": "typo_with_keyboard_neighbours_and_swapped_letters",
        "lora": "lora",
    }
    results = renamed(grouped_results(8), long)
    return _page(tmp_path_factory.mktemp("pages") / "stress.html", results, {"status": "x"})


@pytest.fixture(scope="module")
def grouped_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every results section, four arms and a task group of eight members."""
    path = tmp_path_factory.mktemp("pages") / "grouped.html"
    return _page(path, grouped_results(8), {"status": "x"})


HEADLINE_BOX = """(() => {
  window.scrollTo(0, 0);
  const box = document.getElementById("headline").getBoundingClientRect();
  const first = document.querySelector("main > section, main > details");
  return {top: box.top, bottom: box.bottom, height: window.innerHeight,
          first: first && first.id};
})()"""

TEXT_OVERFLOW = """(() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const out = {charts: 0, texts: 0, overflow: []};
  document.querySelectorAll("svg.chart-svg").forEach(svg => {
    out.charts += 1;
    const box = svg.getBoundingClientRect();
    svg.querySelectorAll("text").forEach(text => {
      out.texts += 1;
      const r = text.getBoundingClientRect();
      const past = Math.max(box.left - r.left, r.right - box.right,
                            box.top - r.top, r.bottom - box.bottom);
      if (past > 0.5) { out.overflow.push([svg.dataset.kind, text.textContent, past]); }
    });
  });
  return out;
})()"""


@pytest.mark.parametrize("page", ["demo_page", "stress_page"])
def test_the_headline_is_on_the_first_screen(page, request):
    path = request.getfixturevalue(page)
    browser = _browser()
    try:
        browser.navigate(path.resolve().as_uri())
        box = browser.evaluate(HEADLINE_BOX)
        if page == "demo_page":
            browser.screenshot(ARTIFACTS / "report-demo-top.png", full_page=False)
        assert browser.console_errors() == []
    finally:
        browser.close()
    assert box["first"] == "headline"
    assert box["bottom"] <= box["height"] == VIEWPORT[1], box  # whole, without scrolling
    assert 0 <= box["top"] <= HEADER_PX, box  # under a short page header


@pytest.mark.parametrize("page", ["demo_page", "stress_page"])
def test_no_chart_text_crosses_its_charts_edge(page, request):
    path = request.getfixturevalue(page)
    browser = _browser()
    try:
        browser.navigate(path.resolve().as_uri())
        found = browser.evaluate(TEXT_OVERFLOW)
    finally:
        browser.close()
    assert found["overflow"] == [], found["overflow"][:10]
    assert found["charts"] >= 15 and found["texts"] >= 200, found  # every chart was measured


WIDE_VERDICTS = """[...document.querySelectorAll("table[data-kind=verdicts]")]
  .filter(t => t.checkVisibility())
  .map(t => [t.parentElement.scrollWidth, t.parentElement.clientWidth])"""


@pytest.mark.parametrize("page", ["demo_page", "grouped_page"])
def test_verdict_tables_fit_the_page_without_scrolling_sideways(page, request):
    path = request.getfixturevalue(page)
    browser = _browser()
    try:
        browser.navigate(path.resolve().as_uri())
        widths = browser.evaluate(WIDE_VERDICTS)
    finally:
        browser.close()
    assert widths and all(scroll <= client for scroll, client in widths), widths


FOLDS = """(() => {
  const visible = el => el.checkVisibility();  // false inside a closed <details>
  const folds = [...document.querySelectorAll("details.fold")];
  const group = document.getElementById("group-mmlu");
  const members = [...group.querySelectorAll("details[id^='task-']")];
  const state = {
    folds: folds.length, open: folds.filter(d => d.open).length,
    group: visible(group), members: members.length,
    membersShown: members.filter(visible).length,
    calibrationFolded: [...document.querySelectorAll("#calibration details.fold")]
      .filter(d => !d.open && d.querySelector("table")).length,
  };
  document.getElementById("group-mmlu_stem").open = true;
  state.membersShownAfter = members.filter(visible).length;
  state.memberTablesShownAfter = members.filter(m => visible(m.querySelector("table"))).length;
  return state;
})()"""


def test_task_groups_start_folded_and_open_on_demand(stress_page):
    browser = _browser()
    try:
        browser.navigate(stress_page.resolve().as_uri())
        state = browser.evaluate(FOLDS)
    finally:
        browser.close()
    assert state["folds"] >= 8 + 3 and state["open"] == 0, state
    assert state["group"] and state["members"] == 8 and state["membersShown"] == 0, state
    assert state["calibrationFolded"] == 1, state  # the members' calibration, one fold
    assert state["membersShownAfter"] == 8 and state["memberTablesShownAfter"] == 0, state


PERTURBED_ROWS = """(() => {{
  const set = (id, value) => {{
    const el = document.getElementById(id);
    el.value = value;
    el.dispatchEvent(new Event("change"));
  }};
  const task = [...document.getElementById("f-task").options]
    .find(o => o.textContent === {task}).value;
  set("f-page-size", "all");
  set("f-arm", "");
  set("f-outcome", "all");
  set("f-task", task);
  set("f-perturbation", "");
  const both = Number(document.getElementById("items-count").dataset.count);
  set("f-perturbation", {perturbation});
  const rows = [...document.querySelectorAll("#items-body tr")].map(row => ({{
    id: row.dataset.id,
    task: row.dataset.task,
    clean: row.querySelector(".clean-input pre").textContent,
    perturbed: row.querySelector(".perturbed-input pre").textContent,
    marks: row.querySelectorAll(".perturbed-input mark").length,
    answers: Object.fromEntries([...row.querySelectorAll("td[data-arm]")].map(td => [
      td.dataset.arm,
      [td.querySelector("pre").textContent, td.querySelector(".clean-answer pre").textContent],
    ])),
  }}));
  set("f-outcome", "perturbation-flips");
  const changed = [...document.querySelectorAll("#items-body tr")].map(r => r.dataset.id).sort();
  return {{both, rows, changed, tasks: [...document.getElementById("f-task").options]
    .map(o => o.textContent)}};
}})()"""


def _records(run: Path) -> tuple[dict, dict]:
    """(task, id, arm) -> sample and (task, id) -> prompt, from the run directory."""
    samples = {}
    for line in (run / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        samples[(row["task"], row["example_id"], row["arm"])] = row
    prompts = {}
    for line in (run / "items.jsonl").read_text().splitlines():
        row = json.loads(line)
        prompts[(row["task"], row["example_id"])] = row["prompt"]
    return samples, prompts


def test_item_browser_shows_each_perturbed_item_beside_its_clean_one(demo_run, demo_page):
    results = json.loads((demo_run / "results.json").read_text())
    task = results["tasks"][0]["name"]
    (label,) = {r["perturbation"] for r in results["robustness"]}
    copy = f"{task}~{label}"
    arms = [a["name"] for a in results["arms"]]
    samples, prompts = _records(demo_run)
    n = results["scores"][0]["n"]
    browser = _browser()
    try:
        browser.navigate(demo_page.resolve().as_uri())
        shown = browser.evaluate(
            PERTURBED_ROWS.format(task=json.dumps(task), perturbation=json.dumps(label))
        )
        browser.evaluate("document.getElementById('items').scrollIntoView(); true")
        browser.screenshot(ARTIFACTS / "report-demo-perturbed.png", full_page=False)
        assert browser.console_errors() == []
    finally:
        browser.close()
    assert copy not in shown["tasks"]  # perturbed copies are filed under their task
    assert shown["both"] == 2 * n and len(shown["rows"]) == n
    for row in shown["rows"]:
        item = row["id"]
        assert row["task"] == task
        assert row["clean"] == prompts[(task, item)]
        assert row["perturbed"] == prompts[(copy, item)]
        for arm in arms:
            perturbed, clean = samples[(copy, item, arm)], samples[(task, item, arm)]
            assert row["answers"][arm] == [perturbed["prediction"], clean["prediction"]]
    assert sum(1 for row in shown["rows"] if row["marks"]) > n // 2  # the typos are marked
    expected = sorted(
        item
        for (name, item, arm), sample in samples.items()
        if name == copy and sample["scores"]["acc"] != samples[(task, item, arm)]["scores"]["acc"]
    )
    assert shown["changed"] == sorted(set(expected)) and expected  # the demo has such items

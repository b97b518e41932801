"""The demo's report.html in headless Chromium: no console errors, no network requests,
every chart and the item browser present, the "flips" filter exact, and a screenshot.

The screenshot is saved as a test artefact in ``$FTEVAL_TEST_ARTIFACTS`` (default
``test-artifacts/`` at the repository root): ``report-demo.png`` (the whole page) and
``report-demo-flips.png`` (the item browser filtered to flips).

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
from tests.report.cdp import Browser, find_chromium

pytestmark = [pytest.mark.browser, pytest.mark.real_model]

ARTIFACTS = Path(
    os.environ.get("FTEVAL_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)
MAX_REPORT_BYTES = 5 * 1024 * 1024


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


def test_demo_report_in_headless_chromium(demo_run):
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("chromium is not installed: run `make system-deps` (Debian package chromium)")
    report = demo_run / "report.html"
    assert report.stat().st_size < MAX_REPORT_BYTES
    results = json.loads((demo_run / "results.json").read_text())
    arms = [a["name"] for a in results["arms"]]
    browser = Browser(chromium)
    try:
        browser.open_page()
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

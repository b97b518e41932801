"""How report.html copes with a large run: 15,000 items x 3 arms by default.

Builds a synthetic results object with samples and prompts of realistic length, renders
report.html, and prints its size and the render time; with Chromium installed it also
opens the page headless and times the page load and the item browser's filters (all
items, flips, a text search) as the browser reports them.

    python benchmarks/report_items.py                 # 15,000 items x 3 arms
    python benchmarks/report_items.py --items 500     # a quick check that it runs

Timings mean something only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from fteval.records import SampleResult  # noqa: E402
from fteval.report import render_html  # noqa: E402

ARMS = ("base", "lora", "full")
LABELS = ("login", "billing", "refund", "shipping", "cancellation")
WORDS = [
    "account",
    "charge",
    "order",
    "refund",
    "package",
    "password",
    "delivery",
    "invoice",
    "card",
    "login",
    "reset",
]


def synthetic(n_items: int, seed: int = 0) -> tuple[dict, list[SampleResult], list[dict]]:
    """Results, samples and items of a 5-way classification task with ``n_items`` items."""
    rng = random.Random(seed)
    skill = {"base": 0.3, "lora": 0.8, "full": 0.85}
    samples, items = [], []
    for i in range(n_items):
        target = rng.choice(LABELS)
        prompt = "Message: " + " ".join(rng.choice(WORDS) for _ in range(40)) + "\nIntent:"
        items.append(
            {
                "task": "t",
                "example_id": f"e{i}",
                "prompt_hash": f"h{i}",
                "prompt": prompt,
                "choices": list(LABELS),
            }
        )
        for arm in ARMS:
            right = rng.random() < skill[arm]
            prediction = target if right else rng.choice([x for x in LABELS if x != target])
            logprobs = [round(-rng.random() * 10, 4) for _ in LABELS]
            samples.append(
                SampleResult(
                    "t",
                    f"e{i}",
                    arm,
                    f"h{i}",
                    target,
                    prediction,
                    logprobs,
                    scores={"acc": float(right), "f1_macro": float(right)},
                    meta={"channel": rng.choice(("email", "chat"))},
                )
            )
    results = {
        "arms": [{"name": a, "kind": k} for a, k in zip(ARMS, ("base", "adapter", "full"))],
        "tasks": [
            {
                "name": "t",
                "kind": "multiple_choice",
                "metrics": ["acc", "f1_macro"],
                "labels": list(LABELS),
                "n_examples": n_items,
            }
        ],
        "scores": [
            {
                "task": "t",
                "arm": a,
                "metric": m,
                "value": skill[a],
                "ci_low": skill[a] - 0.01,
                "ci_high": skill[a] + 0.01,
                "n": n_items,
                "scale": 100.0,
                "higher_is_better": True,
            }
            for a in ARMS
            for m in ("acc", "f1_macro")
        ],
        "comparisons": [],
        "statistics": {"alpha": 0.05, "correction": "holm", "confidence": 0.95},
    }
    return results, samples, items


TIMED = """(() => {
  const t0 = performance.now();
  const set = (id, v) => { const e = document.getElementById(id); e.value = v;
                            e.dispatchEvent(new Event("change")); };
  const out = {};
  let t = performance.now(); set("f-outcome", "flips"); out.flips_ms = performance.now() - t;
  t = performance.now(); set("f-search", "refund package"); out.search_ms = performance.now() - t;
  t = performance.now(); set("f-search", ""); set("f-outcome", "all");
  out.reset_ms = performance.now() - t;
  out.count = document.getElementById("items-count").textContent;
  return out;
})()"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=15_000)
    args = parser.parse_args()
    results, samples, items = synthetic(args.items)
    began = time.perf_counter()
    html = render_html(results, {}, samples, items)
    render_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory(prefix="fteval-report-bench-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(html, encoding="utf-8")
        size = page.stat().st_size
        print(
            f"{args.items} items x {len(ARMS)} arms: report.html {size / 1e6:.2f} MB, "
            f"rendered in {render_s:.2f} s"
        )
        return _browser_timings(page)


def _browser_timings(page: Path) -> int:
    from tests.report.cdp import Browser, find_chromium

    chromium = find_chromium()
    if chromium is None:
        print("chromium not found: browser timings skipped")
        return 0
    browser = Browser(chromium, timeout_s=120)
    try:
        browser.open_page()
        began = time.perf_counter()
        browser.navigate(page.as_uri())
        load_s = time.perf_counter() - began
        timings = browser.evaluate(TIMED)
        print(
            f"page load {load_s:.2f} s; flips filter {timings['flips_ms']:.0f} ms; text search "
            f"{timings['search_ms']:.0f} ms; reset {timings['reset_ms']:.0f} ms "
            f"({timings['count']})"
        )
        errors = browser.console_errors()
        if errors:
            print("console errors:", errors)
            return 1
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

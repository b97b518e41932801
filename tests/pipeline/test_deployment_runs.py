"""Whole runs with deployment forms: each form is an arm compared with the base and, for
parity, with the arm it derives from by the engine; an int8 form gets its parity verdict;
a served copy of the adapter runs beside the local weights and is compared item by item."""

from __future__ import annotations

import json
import math

import pytest

from fteval.api import evaluate
from fteval.backends.fake import FakeBackend
from fteval.cli import main
from fteval.config import build_config
from fteval.records.rows import VERDICTS
from fteval.report.headline import HEADLINE_LINES, build_headline
from fteval.report.terminal import headline_lines
from fteval.tasks import load_task
from tests.backends.openai_stub import StubServer, TorchModel
from tests.conftest import intent_rows, write_task

FAST = {"bootstrap_resamples": 200, "permutations": 200}
ITEMS = 60  # enough for a verdict (stats.DEFAULT_MIN_ITEMS), few for speed


@pytest.fixture
def task_file(tmp_path):
    return write_task(tmp_path, intent_rows(ITEMS))


def fake_run(tmp_path, task_file, forms, skill, **options) -> dict:
    config = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": [str(task_file)],
                           "forms": forms})  # fmt: skip
    task = load_task(str(task_file))
    knowledge = {e.prompt: e.continuations[e.choices.index(e.target)] for e in task.examples}
    backend = FakeBackend(config.arms(), skill=skill, knowledge=knowledge)
    return evaluate(
        "b", adapters={"lora": "a"}, tasks=[str(task_file)], out=tmp_path / "run",
        backend=backend, progress=False, forms=forms, **FAST, **options,
    ).to_dict()  # fmt: skip


def held_by_the_margin(parity: dict) -> bool:
    """The non-inferiority rule, read off the record: the interval's low end above minus
    the margin (every metric here is higher-is-better)."""
    return parity["ci_low"] > -parity["non_inferiority_margin"]


@pytest.mark.parametrize("margin", [None, 2.5, 100.0])
def test_each_form_is_compared_with_its_source_at_the_parity_margin(tmp_path, task_file, margin):
    forms = {"lora-m": "lora:merged", "lora-int8": "lora:merged-int8"}
    skill = {"base": 0.2, "lora": 0.9, "lora-m": 0.9, "lora-int8": 0.5}
    options = {} if margin is None else {"parity_margin": margin}
    results = fake_run(tmp_path, task_file, forms, skill, **options)
    rows = results["deployment"]
    assert {(r["arm"], r["source_arm"], r["form"]) for r in rows} == {
        ("lora-m", "lora", "merged"), ("lora-int8", "lora", "merged-int8"),
    }  # fmt: skip
    assert {r["metric"] for r in rows} == {"acc", "acc_norm", "f1_macro"}
    for row in rows:
        parity = row["parity"]
        assert parity["section"] == "deployment" and parity["reference_arm"] == "lora"
        assert parity["correction_family"] == f"task intents: lora→{row['arm']} (deployment)"
        assert parity["non_inferiority_margin"] == pytest.approx((margin or 1.0) / 100)
        assert parity["verdict"] in VERDICTS and parity["p_adjusted"] is not None
        assert row["held"] is parity["non_inferiority"] is held_by_the_margin(parity)
        scores = {(s["arm"], s["metric"]): s["value"] for s in results["scores"]}
        assert parity["delta"] == pytest.approx(
            scores[(row["arm"], row["metric"])] - scores[("lora", row["metric"])]
        )
    int8 = next(r for r in rows if r["arm"] == "lora-int8" and r["metric"] == "acc")
    assert int8["held"] is (margin == 100.0)  # 0.9 vs 0.5 skill: lost unless the margin is huge
    # forms are arms of the main table against the base, never against other arms there
    pairs = {(c["arm"], c["reference_arm"]) for c in results["comparisons"]}
    assert {("lora-m", "base"), ("lora-int8", "base"), ("lora", "base")} == pairs
    arms = {a["name"]: a for a in results["arms"]}
    assert arms["lora-int8"]["form"] == "merged-int8" and arms["lora-int8"]["kind"] == "form"
    assert "form" not in arms["lora"]


def test_the_headline_says_parity_held_or_lost_per_form_within_its_budget(tmp_path, task_file):
    forms = {f"f{i}": "lora:merged" for i in range(5)}
    skill = {"base": 0.2, "lora": 0.9, **{f"f{i}": 0.9 - 0.2 * (i % 2) for i in range(5)}}
    results = fake_run(tmp_path, task_file, forms, skill)
    headline = build_headline(results)
    blocks = {b.arm: b for b in headline.blocks}
    assert blocks["f0"].title == "f0 (merged of lora: deployment parity)"
    words = {arm: block.lines[0].word for arm, block in blocks.items() if arm != "lora"}
    held = {r["arm"]: r["held"] for r in results["deployment"] if r["metric"] == "acc"}
    assert words == {arm: "parity held" if held[arm] else "parity LOST" for arm in held}
    assert "parity LOST" in words.values()
    assert blocks["f1"].lines[0].note == "margin 1.0 pts"
    lines = headline_lines(results, str(tmp_path / "run"), width=80, color=False)
    assert len(lines) <= HEADLINE_LINES
    assert sum("parity held" in line or "parity LOST" in line for line in lines) == 5


def test_a_lost_parity_fails_the_ci_gate(tmp_path, task_file):
    from fteval.compare.gate import check

    forms = {"lora-int8": "lora:merged-int8"}
    results = fake_run(tmp_path, task_file, forms, {"base": 0.9, "lora": 0.9, "lora-int8": 0.3})
    reasons = check(results, fail_on="regression")
    assert any("@lora-int8 vs lora: deployment parity lost" in r for r in reasons)
    assert check(results, fail_on="none") == []


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--form", "x=lora:nope"], "form 'nope' does not apply to an arm of kind 'adapter'"),
        (["--form", "x=other:merged"], "'x' derives from 'other', which is not an adapter"),
        (["--form", "lora=lora:merged"], "must be a new arm name"),
        (["--form", "x:merged"], "--form expects NAME=ARM:FORM"),
        (["--base-quantization", "nf4"], "base_quantization 'nf4' needs the hf backend"),
        (["--parity-margin", "-1"], "parity_margin"),
    ],
)
def test_bad_deployment_flags_are_refused_before_any_run(tmp_path, task_file, capsys, flags, said):
    out = tmp_path / "run"
    code = main(["run", "--backend", "fake", "--base", "b", "--adapter", "lora=a",
                 "--task", str(task_file), "--out", str(out), "--quiet", *flags])  # fmt: skip
    assert code == 2
    assert said in capsys.readouterr().err
    assert not out.exists()


def test_a_served_base_beside_local_forms_is_refused_before_the_run_directory(
    tmp_path, task_file, tiny_models, capsys
):
    out = tmp_path / "run"
    code = main(["run", "--base", "openai:base@http://127.0.0.1:9/v1", "--adapter",
                 f"lora={tiny_models['lora']}", "--task", str(task_file), "--out", str(out),
                 "--quiet"])  # fmt: skip
    assert code == 2
    assert "local adapters, forms and fine-tunes need local base weights" in capsys.readouterr().err
    assert not out.exists()


# ---- on tiny real models ----


@pytest.mark.real_model
def test_an_int8_form_gets_its_parity_verdict_from_the_engine(tmp_path, task_file, tiny_models):
    pytest.importorskip("bitsandbytes")
    forms = {"lora-merged": "lora:merged", "lora-int8": "lora:merged-int8"}
    results = evaluate(
        str(tiny_models["base"]), adapters={"lora": str(tiny_models["lora"])},
        tasks=[str(task_file)], out=tmp_path / "run", progress=False, device="cpu",
        dtype="float32", forms=forms, cache_dir=str(tmp_path / "cache"), **FAST,
    ).to_dict()  # fmt: skip
    rows = {(r["arm"], r["metric"]): r for r in results["deployment"]}
    int8 = rows[("lora-int8", "acc")]
    parity = int8["parity"]
    assert parity["correction_family"] == "task intents: lora→lora-int8 (deployment)"
    assert parity["test"] == "mcnemar_exact" and parity["n"] == ITEMS
    assert parity["verdict"] in VERDICTS and parity["reason"]
    assert parity["non_inferiority_margin"] == pytest.approx(0.01)
    assert int8["held"] is parity["non_inferiority"] is held_by_the_margin(parity)
    merged = rows[("lora-merged", "acc")]
    assert merged["parity"]["delta"] == 0.0 and merged["held"] is True  # same predictions
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").open()]
    by_arm: dict[str, dict[str, list[float]]] = {}
    for sample in samples:
        by_arm.setdefault(sample["arm"], {})[sample["example_id"]] = sample["choice_logprobs"]
    for example, logprobs in by_arm["lora"].items():
        assert by_arm["lora-merged"][example] == pytest.approx(logprobs, abs=1e-4)
    assert any(
        not math.isclose(a, b, abs_tol=1e-4)
        for ex, logprobs in by_arm["lora"].items()
        for a, b in zip(logprobs, by_arm["lora-int8"][ex])
    )
    cost = {r["arm"]: r for r in results["cost"]}
    assert cost["lora-int8"]["form"] == "merged-int8"
    assert (
        cost["lora-int8"]["memory_footprint_bytes"] < cost["lora-merged"]["memory_footprint_bytes"]
    )
    assert cost["lora-int8"]["size_on_disk_bytes"] < cost["lora-merged"]["size_on_disk_bytes"]
    assert cost["lora-merged"]["total_params"] == cost["base"]["total_params"]
    assert int8["memory_bytes"] == cost["lora-int8"]["memory_footprint_bytes"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    identity = next(a for a in manifest["arms"] if a["name"] == "lora-int8")["identity"]
    assert identity["quantization"]["method"] == "int8" and identity["form"] == "merged-int8"


@pytest.mark.real_model
def test_a_served_copy_of_the_adapter_is_compared_with_the_local_weights_item_by_item(
    tmp_path, task_file, tiny_models, monkeypatch
):
    """The stub serves the adapter merged into the base (as a deployment would); fteval
    runs base and adapter locally beside it, each part behind its own cache."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    merged = (
        PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_models["base"]), tiny_models["lora"]
        )
        .merge_and_unload()
        .eval()
    )
    cache = tmp_path / "cache"
    with StubServer({"lora-prod": TorchModel(merged)}, max_model_len=128) as server:

        def run(out: str) -> int:
            return main(["run", "--base", str(tiny_models["base"]), "--adapter",
                         f"lora={tiny_models['lora']}", "--form",
                         f"prod=lora:openai:lora-prod@{server.url}", "--task", str(task_file),
                         "--out", str(tmp_path / out), "--cache-dir", str(cache), "--device",
                         "cpu", "--dtype", "float32", "--quiet", "--bootstrap", "200",
                         "--permutations", "200"])  # fmt: skip

        assert run("first") == 0
        asked = len(server.completions())
        assert run("again") == 0
        probes = len(server.completions()) - asked
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())
    backends = {a["name"]: a["identity"]["backend"] for a in manifest["arms"]}
    assert backends == {"base": "hf", "lora": "hf", "prod": "openai"}
    prod = next(a for a in manifest["arms"] if a["name"] == "prod")
    assert prod["kind"] == "form" and prod["source_arm"] == "lora"
    assert prod["identity"]["endpoint"]["model"] == "lora-prod"
    samples = [json.loads(line) for line in (tmp_path / "first" / "samples.jsonl").open()]
    local = {s["example_id"]: s["choice_logprobs"] for s in samples if s["arm"] == "lora"}
    served = {s["example_id"]: s["choice_logprobs"] for s in samples if s["arm"] == "prod"}
    assert set(served) == set(local) and len(local) == ITEMS
    for example, logprobs in local.items():
        assert served[example] == pytest.approx(logprobs, abs=1e-4)
    results = json.loads((tmp_path / "first" / "results.json").read_text())
    parity = next(r for r in results["deployment"] if r["metric"] == "acc")
    assert parity["arm"] == "prod" and parity["held"] is True and parity["parity"]["delta"] == 0
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert {arm: stats["misses"] for arm, stats in again["response_cache"].items()} == {
        "base": 0, "lora": 0, "prod": 0,
    }  # fmt: skip
    assert probes < ITEMS  # the second run asked the server for its probe only

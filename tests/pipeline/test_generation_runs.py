"""Generation tasks end to end on tiny real models: text metrics per arm, with deltas."""

from __future__ import annotations

import json

import pytest
import yaml

from fteval.api import evaluate, rescore
from fteval.report import render_terminal
from tests.conftest import write_jsonl

pytestmark = pytest.mark.real_model

ROWS = [
    {"id": i, "question": q, "answer": a}
    for i, (q, a) in enumerate(
        [
            ("Where is my parcel?", "Your parcel ships tomorrow."),
            ("How do I reset my password?", "Use the reset link on the login page."),
            ("Can I get a refund?", ["Yes, within 30 days.", "Refunds are possible for 30 days."]),
            ("Cancel my plan", "Your plan is cancelled."),
            ("Why was I charged twice?", "We will refund the duplicate charge."),
            ("Bonjour, où est ma commande ?", "Votre commande arrive demain."),
        ]
        * 6
    )
]


def generation_task(tmp_path, metrics):
    rows = [{**r, "id": n} for n, r in enumerate(ROWS)]
    write_jsonl(tmp_path / "qa.jsonl", rows)
    spec = {
        "name": "support_qa", "type": "generate", "data": "qa.jsonl", "id_field": "id",
        "template": "Q: {question}\nA:", "reference_field": "answer", "stop": ["\n"],
        "max_new_tokens": 12, "metrics": metrics,
    }  # fmt: skip
    path = tmp_path / "qa.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    return path


def test_generation_task_reports_text_metrics_per_arm_with_deltas(tmp_path, tiny_models):
    metrics = ["bleu", "chrf", {"name": "rougeL", "tokenizer": "unicode"}, "meteor", "bertscore"]
    results = evaluate(
        str(tiny_models["base"]), adapters={"lora": str(tiny_models["lora"])},
        full=str(tiny_models["full"]), tasks=[str(generation_task(tmp_path, metrics))],
        out=tmp_path / "run", device="cpu", batch_size=8, progress=False, cache_dir="off",
    )  # fmt: skip
    keys = {(r["arm"], r["metric"]) for r in results["scores"]}
    for arm in ("base", "lora", "full"):
        for metric in ("bleu", "chrf", "rougeL", "meteor", "bertscore"):
            assert (arm, metric) in keys
    pairs = {(c["arm"], c["reference_arm"], c["metric"]) for c in results["comparisons"]}
    assert ("lora", "base", "bertscore") in pairs and ("lora", "full", "bleu") in pairs
    table = render_terminal(results, details=True)
    assert "Δ lora vs base" in table and "meteor" in table
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert all("generation" in s and not s["generation"].startswith("Q:") for s in samples)
    assert all("bertscore" in s["stats"] for s in samples)
    summary = {r["arm"]: r for r in results["generation"]}
    assert summary["base"]["n"] == len(ROWS)
    assert 0 <= summary["base"]["empty_predictions"] <= len(ROWS)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    counters = manifest["decode_counters"]
    assert counters["generated_tokens"] > 0
    assert counters["row_steps"] <= counters["generated_tokens"]
    # re-scoring reads the stored BERTScore statistics: same numbers, no model needed
    again = rescore(tmp_path / "run")
    assert [r["value"] for r in again["scores"]] == [r["value"] for r in results["scores"]]


def test_non_latin_references_with_ascii_rouge_fail_before_models_load(tmp_path):
    from fteval.config import build_config
    from fteval.errors import ConfigError
    from fteval.pipeline.run import load_tasks

    rows = [{"id": i, "question": "问题", "answer": "您的包裹明天发货"} for i in range(3)]
    write_jsonl(tmp_path / "qa.jsonl", rows)
    spec = {
        "name": "zh",
        "type": "generate",
        "data": "qa.jsonl",
        "id_field": "id",
        "template": "{question}",
        "reference_field": "answer",
        "metrics": ["rougeL"],
    }
    (tmp_path / "zh.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    config = build_config({"base": "missing", "tasks": [str(tmp_path / "zh.yaml")]})
    with pytest.raises(ConfigError, match="tokenizer='unicode'"):
        load_tasks(config)

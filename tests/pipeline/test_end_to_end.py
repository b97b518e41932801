"""End to end with the deterministic fake backend: records, pairing, comparisons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fteval.api import evaluate, load_run, rescore
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.pipeline.requests import choice_predictions
from fteval.pipeline.run import execute
from fteval.tasks import load_task


def knowing_backend(task_file: Path, skills: dict[str, float], arms):
    task = load_task(str(task_file))
    knowledge = {ex.prompt: ex.continuations[ex.choices.index(ex.target)] for ex in task.examples}
    return FakeBackend(arms, skill=skills, knowledge=knowledge)


def run_fake(tmp_path: Path, task_file: Path, skills: dict[str, float], **extra):
    config = build_config(
        {
            "base": "b",
            "adapters": {"lora": "a"},
            "full": "f",
            "tasks": [str(task_file)],
            "backend": "fake",
            "out": str(tmp_path / "run"),
            **extra,
        }
    )
    backend = knowing_backend(task_file, skills, config.arms())
    return evaluate(
        "b",
        adapters={"lora": "a"},
        full="f",
        tasks=[str(task_file)],
        out=tmp_path / "run",
        backend=backend,
        progress=False,
        **extra,
    )


def test_run_writes_the_record_contract(tmp_path, task_file):
    results = run_fake(tmp_path, task_file, {"base": 0.0, "lora": 0.9, "full": 0.95})
    run = Path(results["run_dir"])
    assert {p.name for p in run.iterdir()} >= {
        "manifest.json",
        "samples.jsonl",
        "results.json",
        "report.md",
    }
    saved = json.loads((run / "results.json").read_text())
    assert saved["schema_version"] == "1"
    assert [a["name"] for a in saved["arms"]] == ["base", "lora", "full"]
    for row in saved["scores"]:
        assert set(row) >= {"task", "arm", "metric", "value", "ci_low", "ci_high", "n", "signature"}
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
    for row in saved["comparisons"]:
        assert set(row) >= {
            "task",
            "metric",
            "arm",
            "reference_arm",
            "delta",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "test",
            "verdict",
        }
    pairs = {(c["arm"], c["reference_arm"]) for c in saved["comparisons"]}
    assert pairs == {("lora", "base"), ("full", "base"), ("lora", "full")}
    lines = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 24 * 3
    for line in lines:
        assert set(line) >= {
            "task",
            "example_id",
            "arm",
            "prompt_hash",
            "target",
            "prediction",
            "choice_logprobs",
            "scores",
            "meta",
        }
        assert len(line["choice_logprobs"]) == 3
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["tasks"][0]["data_sha256"]


def test_every_arm_is_scored_on_exactly_the_same_items(tmp_path, task_file):
    results = run_fake(tmp_path, task_file, {"lora": 0.5})
    samples = load_run(results["run_dir"]).samples
    by_arm = {}
    for s in samples:
        by_arm.setdefault(s.arm, []).append((s.example_id, s.prompt_hash))
    assert by_arm["base"] == by_arm["lora"] == by_arm["full"]


def test_a_helpful_adapter_is_judged_improved(tmp_path):
    from tests.conftest import intent_rows, write_task

    task_file = write_task(tmp_path, intent_rows(150))
    results = run_fake(tmp_path, task_file, {"base": 0.0, "lora": 0.9, "full": 0.9})
    acc = next(
        c
        for c in results["comparisons"]
        if (c["metric"], c["arm"], c["reference_arm"]) == ("acc", "lora", "base")
    )
    assert acc["verdict"] == "improved"
    assert acc["delta"] > 0.4
    assert acc["test"] == "mcnemar_exact"
    assert acc["p_adjusted"] < 0.001


def test_lora_far_behind_full_gets_advice(tmp_path):
    from tests.conftest import intent_rows, write_task

    task_file = write_task(tmp_path, intent_rows(120))
    results = run_fake(tmp_path, task_file, {"base": 0.0, "lora": 0.3, "full": 0.95})
    assert any(
        a["arm"] == "lora" and "raise the LoRA rank" in a["message"] for a in results["advice"]
    )
    close = run_fake(tmp_path / "close", task_file, {"base": 0.0, "lora": 0.94, "full": 0.95})
    assert close["advice"] == []


def test_missing_full_arm_is_absent_not_zero(tmp_path, task_file):
    backend = knowing_backend(
        task_file,
        {"lora": 0.8},
        build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": [str(task_file)]}).arms(),
    )
    results = evaluate(
        "b",
        adapters={"lora": "a"},
        tasks=[str(task_file)],
        out=tmp_path / "r",
        backend=backend,
        progress=False,
    )
    assert {r["arm"] for r in results["scores"]} == {"base", "lora"}
    assert all(c["reference_arm"] == "base" for c in results["comparisons"])


def test_rescore_from_saved_run_reproduces_results(tmp_path, task_file):
    results = run_fake(tmp_path, task_file, {"lora": 0.7, "full": 0.8})
    again = rescore(results["run_dir"])
    saved = load_run(results["run_dir"]).results
    assert json.dumps(again["scores"], sort_keys=True, default=str) == json.dumps(
        saved["scores"], sort_keys=True, default=str
    )
    assert [c["p_adjusted"] for c in again["comparisons"]] == pytest.approx(
        [c["p_adjusted"] for c in saved["comparisons"]]
    )


def test_same_seed_gives_identical_samples_file(tmp_path, task_file):
    first = run_fake(tmp_path / "a", task_file, {"lora": 0.6})
    second = run_fake(tmp_path / "b", task_file, {"lora": 0.6})
    a = (Path(first["run_dir"]) / "samples.jsonl").read_bytes()
    b = (Path(second["run_dir"]) / "samples.jsonl").read_bytes()
    assert a == b


def test_existing_run_directory_is_refused(tmp_path, task_file):
    from fteval.errors import FtevalError

    run_fake(tmp_path, task_file, {})
    with pytest.raises(FtevalError, match="already holds a complete run"):
        run_fake(tmp_path, task_file, {})


def test_choice_predictions_normalise_by_choice_length():
    # raw favours the short choice; per character the long one wins
    raw, norm = choice_predictions(["a", "bbbbbbbbbb"], [-2.0, -5.0], [1, 10])
    assert (raw, norm) == ("a", "bbbbbbbbbb")
    # ties go to the first choice
    assert choice_predictions(["x", "y"], [-1.0, -1.0], [1, 1]) == ("x", "x")


def test_adapters_trained_with_several_seeds_are_grouped(tmp_path, task_file):
    adapters = {"lora@seed1": "a1", "lora@seed2": "a2", "lora@seed3": "a3"}
    config = build_config({"base": "b", "adapters": adapters, "tasks": [str(task_file)]})
    backend = knowing_backend(
        task_file, {"lora@seed1": 0.5, "lora@seed2": 0.7, "lora@seed3": 0.9}, config.arms()
    )
    results = evaluate(
        "b",
        adapters=adapters,
        tasks=[str(task_file)],
        out=tmp_path / "r",
        backend=backend,
        progress=False,
    )
    rows = [r for r in results["seed_groups"] if r["metric"] == "acc"]
    assert len(rows) == 1
    row = rows[0]
    assert row["group"] == "lora" and row["n_seeds"] == 3
    values = [
        s["value"] for s in results["scores"] if s["metric"] == "acc" and s["arm"] in adapters
    ]
    assert row["mean"] == pytest.approx(sum(values) / 3)
    assert isinstance(row["spread_exceeds_effect"], bool)


def test_imbalanced_task_gets_macro_and_weighted_f1_and_a_note(tmp_path):
    from fteval.report import render_terminal
    from tests.conftest import write_task

    rows = [
        {"id": f"r{i}", "text": f"msg {i}", "label": "login" if i % 10 else "refund"}
        for i in range(60)
    ]
    task_file = write_task(tmp_path, rows, metrics=["acc"])
    results = run_fake(tmp_path, task_file, {"lora": 0.5})
    assert {"acc", "f1_macro", "f1_weighted"} <= {r["metric"] for r in results["scores"]}
    report = next(r for r in results["classification"] if r["arm"] == "base")
    assert report["class_counts"] == {"login": 54, "billing": 0, "refund": 6}
    assert report["imbalanced"] is True
    assert "is imbalanced" in render_terminal(results, details=True)


def test_nan_log_likelihoods_never_win_and_all_nan_predicts_nothing():
    nan = float("nan")
    assert choice_predictions(["a", "b", "c"], [nan, -1.0, -0.5], [1, 1, 1]) == ("c", "c")
    assert choice_predictions(["a", "b"], [nan, nan], [1, 1]) == (None, None)


def test_a_backend_that_cannot_answer_a_task_fails_before_any_model_loads(tmp_path):
    from fteval.backends.base import LOGLIKELIHOOD
    from fteval.errors import ConfigError

    class ChoicesOnly(FakeBackend):
        supports = frozenset({LOGLIKELIHOOD})

        def prepare(self):
            raise AssertionError("prepare (model loading) must not run")

    rows = [{"id": str(i), "text": f"hello {i}", "ref": "hello"} for i in range(4)]
    data = tmp_path / "gen.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "gen.yaml"
    task.write_text(
        f"name: gen\ntype: generate\ndata: {data}\ntemplate: '{{text}}'\n"
        "reference_field: ref\nmetrics: [exact_match]\n"
    )
    config = build_config({"base": "b", "tasks": [str(task)], "out": str(tmp_path / "run")})
    arms = config.arms()
    with pytest.raises(ConfigError, match="cannot answer generate requests"):
        execute(config, backend=ChoicesOnly(arms), progress=False)
    assert not (tmp_path / "run").exists()

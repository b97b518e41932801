"""--log-to mlflow: every results section logged under findable names (every comparison with
its CI and verdict), the headline's verdicts as tags, config and statistics as parameters,
the reports as artefacts, and the store kept in the run directory unless
MLFLOW_TRACKING_URI names one (a SQLite store: it works offline)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from fteval.cli import main
from fteval.pipeline.tracking import (
    COMPARISON_SECTION,
    PARAMETER_SECTIONS,
    SECTION_KEYS,
    logged_values,
    parameters,
    safe_name,
    tracking_store,
)
from fteval.records.rows import comparisons_in
from fteval.report.headline import VERDICT_WORDS
from fteval.results import RESULTS_SECTIONS
from tests.pipeline.test_compare_runs import fake_run
from tests.report.fixtures import full_results

mlflow = pytest.importorskip("mlflow")


def _losses(results: dict) -> list[tuple[int, float]]:
    """The lora training log's (step, train loss) pairs in the results."""
    (row,) = (r for r in results["training"] if r["arm"] == "lora")
    return [(s, v) for s, v in zip(row["steps"], row["train_loss"], strict=True) if v is not None]


def test_metric_names_keep_only_what_mlflow_accepts():
    assert safe_name("score/t/acc/a:lora@seed1") == "score/t/acc/a:lora_seed1"
    assert ".." not in safe_name("score/../x")
    long_a, long_b = "slices/" + "a" * 300, "slices/" + "a" * 299 + "b"
    assert len(safe_name(long_a)) == 250 and safe_name(long_a) != safe_name(long_b)


def test_every_results_section_is_logged_or_declared_a_parameter():
    declared = set(SECTION_KEYS) | set(PARAMETER_SECTIONS) | {COMPARISON_SECTION}
    assert set(RESULTS_SECTIONS) <= declared  # a new section needs a decision here
    for section, keys in SECTION_KEYS.items():
        fields = {f.name for f in dataclasses.fields(RESULTS_SECTIONS[section])}
        assert set(keys) <= fields, section
    logged = logged_values(full_results(), RESULTS_SECTIONS)
    sections = {name.split("/")[0] for name in logged.metrics} | {
        name.split("/")[0] for name in logged.series
    }
    measured = {
        s for s in RESULTS_SECTIONS if full_results().get(s) and s not in PARAMETER_SECTIONS
    }
    assert sections == measured


def test_every_comparison_in_every_section_is_logged_with_its_interval_and_verdict():
    results = full_results()
    logged = logged_values(results, RESULTS_SECTIONS)
    comparisons = [
        c
        for section, row_type in RESULTS_SECTIONS.items()
        for row in results.get(section) or []
        for c in comparisons_in(row_type.from_json(row))
    ]
    verdicts = {k: v for k, v in logged.tags.items() if k.endswith("/verdict")}
    assert len(verdicts) == len(comparisons)
    assert sorted(verdicts.values()) == sorted(c.verdict for c in comparisons)
    for name in verdicts:
        stem = name.removesuffix("/verdict")
        assert {f"{stem}/delta", f"{stem}/ci_low", f"{stem}/ci_high"} <= set(logged.metrics)


def test_numbers_are_logged_under_their_section_row_and_field():
    results = full_results()
    logged = logged_values(results, RESULTS_SECTIONS)
    robustness = next(
        r for r in results["robustness"] if (r["arm"], r["metric"]) == ("lora", "acc")
    )
    expected = {
        "scores/intents/lora/acc/value": 0.8,
        "comparisons/intents/lora_vs_base/acc/delta": next(
            c["delta"]
            for c in results["comparisons"]
            if (c["task"], c["arm"], c["reference_arm"], c["metric"])
            == ("intents", "lora", "base", "acc")
        ),
        "robustness/intents/typo/lora/acc/vs_base/delta": robustness["vs_base"]["delta"],
        "robustness/intents/typo/lora/acc/ratio": robustness["ratio"],
        "truncation/mmlu_stem/share_question_cut": 0.75,
        "truncation/mmlu_stem/verdicts_withheld": 1.0,
        "judge/summaries/lora/base/win_rate": 0.65,
        "generation/summaries/lora/finish_reasons/length": 10.0,
        "training/lora/best_step": 20.0,
        "cost/lora/trainable_params": 4194304.0,
    }
    for name, value in expected.items():
        assert logged.metrics[name] == pytest.approx(value), name
    contamination = "contamination/intents/train.jsonl/by_arm/lora/acc/clean_vs_base/delta"
    assert logged.metrics[contamination] == pytest.approx(0.39)
    assert logged.series["training/lora/train_loss"] == _losses(results)
    assert "training/lora/train_loss" not in logged.metrics  # a series, at its steps
    assert not any(n.endswith(("/scale", "/higher_is_better")) for n in logged.metrics)
    assert all(math.isfinite(v) for v in logged.metrics.values())


def test_a_run_is_logged_into_its_own_directory_offline(tmp_path, task_file, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "fteval-test")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run_dir = fake_run(tmp_path / "run", task_file, {"lora": ("x", 0.8)})
    assert main(["report", str(run_dir), "--log-to", "mlflow"]) == 0
    assert list(elsewhere.iterdir()) == []  # nothing left in the current folder

    uri, artifacts = tracking_store(run_dir)
    assert uri == f"sqlite:///{run_dir.resolve() / 'mlruns' / 'mlflow.db'}"
    assert artifacts == (run_dir.resolve() / "mlruns" / "artifacts").as_uri()
    assert (run_dir / "mlruns" / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=uri)
    (logged,) = client.search_runs([client.get_experiment_by_name("fteval-test").experiment_id])
    results = json.loads((run_dir / "results.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert logged.data.metrics == pytest.approx(logged_values(results, RESULTS_SECTIONS).metrics)
    acc = next(c for c in results["comparisons"] if c["metric"] == "acc")
    assert logged.data.metrics["comparisons/intents/lora_vs_base/acc/ci_low"] == pytest.approx(
        acc["ci_low"]
    )
    assert logged.data.tags["comparisons/intents/lora_vs_base/acc/verdict"] == acc["verdict"]
    headline = logged.data.tags["headline/lora/intents acc"]  # the verdict as it reads there
    assert headline.startswith(tuple(f"{w} " for w in VERDICT_WORDS.values())), headline
    assert " pts [" in headline
    assert "Did the fine-tune help?" in logged.data.tags["mlflow.note.content"]
    assert logged.data.tags["gate"] in ("passes", "fails")
    assert logged.data.params == parameters(manifest, results)
    assert logged.data.params["task.intents.split"] == "test"
    assert logged.data.params["arm.lora.kind"] == "adapter"
    assert logged.data.params["config.backend"] == "fake"
    assert logged.data.params["statistics.alpha"] == str(results["statistics"]["alpha"])
    artefacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artefacts >= {"report.html", "report.md", "results.json", "manifest.json"}
    assert list((run_dir / "mlruns" / "artifacts").rglob("results.json"))


def test_a_tracking_uri_in_the_environment_wins_and_series_keep_their_steps(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = full_results()
    (run_dir / "results.json").write_text(json.dumps(results))
    manifest = {
        "schema_version": "1",
        "config": {},
        "kind": "run",
        "status": "complete",
        "arms": results["arms"],
        "tasks": [],
    }  # records that agree (no samples)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    uri = f"sqlite:///{tmp_path / 'server.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite server's artefacts beside the cwd
    assert main(["report", str(run_dir), "--md", str(tmp_path / "r.md"), "--log-to", "mlflow"]) == 0
    assert not (run_dir / "mlruns").exists()

    client = MlflowClient(tracking_uri=uri)
    (logged,) = client.search_runs([client.get_experiment_by_name("fteval").experiment_id])
    history = client.get_metric_history(logged.info.run_id, "training/lora/train_loss")
    assert sorted((m.step, m.value) for m in history) == _losses(full_results())
    assert logged.data.metrics["truncation/mmlu_stem/share_cut"] == pytest.approx(0.9)
    assert logged.data.tags["robustness/intents/typo/lora/acc/vs_base/verdict"] == "regressed"

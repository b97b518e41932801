"""--log-to mlflow: parameters, every score and delta with its CI, the report as an artefact
(a local SQLite tracking store: MLflow 3 refuses a plain folder store)."""

from __future__ import annotations

import json

import pytest

from fteval.cli import main
from fteval.pipeline.tracking import metrics, safe_name
from tests.pipeline.test_compare_runs import fake_run


def test_metric_names_keep_only_what_mlflow_accepts():
    assert safe_name("score/t/acc/a:lora@seed1") == "score/t/acc/a:lora_seed1"
    assert ".." not in safe_name("score/../x")


def test_every_score_and_delta_is_logged_with_its_interval(tmp_path, task_file, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "fteval-test")
    monkeypatch.chdir(tmp_path)  # MLflow puts artefacts of a SQLite store beside the cwd
    run_dir = fake_run(tmp_path / "run", task_file, {"lora": ("x", 0.8)})
    assert main(["report", str(run_dir), "--log-to", "mlflow"]) == 0

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("fteval-test")
    (logged,) = client.search_runs([experiment.experiment_id])
    results = json.loads((run_dir / "results.json").read_text())
    assert logged.data.metrics == pytest.approx(metrics(results))
    acc = next(c for c in results["comparisons"] if c["metric"] == "acc")
    key = "delta/intents/acc/lora_vs_base"
    assert logged.data.metrics[f"{key}/ci_low"] == pytest.approx(acc["ci_low"])
    assert logged.data.tags["verdict/intents/acc/lora_vs_base"] == acc["verdict"]
    assert logged.data.params["arm.lora.kind"] == "adapter"
    assert logged.data.params["config.backend"] == "fake"
    artefacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artefacts >= {"report.html", "report.md", "results.json", "manifest.json"}

"""Training logs with a known best step; checkpoint series; bad logs are clear errors."""

from __future__ import annotations

import json

import pytest

from fteval.api import evaluate
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.errors import InputError
from fteval.robustness.training import checkpoint_series, read_training_log, training_row
from tests.conftest import intent_rows, write_task


def trainer_state(tmp_path, evals, trains):
    history = [{"step": s, "loss": v, "learning_rate": 1e-4} for s, v in trains]
    history += [{"step": s, "eval_loss": v, "eval_runtime": 1.0} for s, v in evals]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history, "global_step": 500}), encoding="utf-8")
    return path


def test_trainer_state_with_a_known_best_step_is_flagged_as_overfitting(tmp_path):
    trains = [(50, 2.0), (100, 1.6), (150, 1.3), (200, 1.1), (250, 0.9), (300, 0.6), (350, 0.4)]
    evals = [(100, 1.7), (200, 1.25), (300, 1.4), (350, 1.6)]
    row = training_row("lora", read_training_log(trainer_state(tmp_path, evals, trains))).to_json()
    assert (row["best_step"], row["best_eval_loss"]) == (200, 1.25)
    assert (row["final_step"], row["final_eval_loss"]) == (350, 1.6)
    assert row["steps"] == [50, 100, 150, 200, 250, 300, 350]
    assert row["eval_loss"] == [None, 1.7, None, 1.25, None, 1.4, 1.6]
    assert row["train_val_gap"] == pytest.approx(1.6 - 0.4)
    assert row["overfitting"] is True and "step 200" in row["message"]


def test_a_csv_log_still_improving_is_not_overfitting(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,train_loss,eval_loss\n1,3.0,3.1\n2,2.0,\n3,1.5,1.8\n4,1.2,1.6\n")
    row = training_row("full", read_training_log(path)).to_json()
    assert (row["best_step"], row["final_step"]) == (4, 4)
    assert row["overfitting"] is False and row["train_val_gap"] == pytest.approx(0.4)
    assert row["eval_loss"] == [3.1, None, 1.8, 1.6]


def test_a_malformed_log_names_file_row_and_field(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,train_loss,eval_loss\n1,3.0,3.1\n2,oops,2.0\n")
    with pytest.raises(InputError, match=r"log.csv, row 2, field 'train_loss'.*'oops'"):
        read_training_log(path)
    with pytest.raises(InputError, match="log_history"):
        (tmp_path / "x.json").write_text("{}")
        read_training_log(tmp_path / "x.json")


def test_checkpoint_arms_form_a_series_compared_last_vs_best(tmp_path):
    assert checkpoint_series(["base", "step100", "step300", "step200", "lora@seed1"]) == {
        "checkpoints": [(100, "step100"), (200, "step200"), (300, "step300")]
    }
    task = write_task(tmp_path, intent_rows(60))
    adapters = {"step100": "a1", "step200": "a2", "step300": "a3"}
    config = build_config({"base": "b", "adapters": adapters, "tasks": [str(task)]})
    from fteval.tasks import load_task

    loaded = load_task(str(task))
    knowledge = {e.prompt: e.continuations[e.choices.index(e.target)] for e in loaded.examples}
    skill = {"base": 0.0, "step100": 0.5, "step200": 0.95, "step300": 0.6}
    backend = FakeBackend(config.arms(), skill=skill, knowledge=knowledge)
    log = trainer_state(tmp_path, [(100, 1.0), (200, 0.8), (300, 0.9)], [(100, 1), (300, 0.5)])
    results = evaluate(
        "b", adapters=adapters, tasks=[str(task)], out=tmp_path / "run", backend=backend,
        progress=False, bootstrap_resamples=200, permutations=200,
        training_logs={"step300": str(log)},
    )  # fmt: skip
    (acc,) = [r for r in results["checkpoints"] if r["metric"] == "acc"]
    assert acc["steps"] == [100, 200, 300] and acc["best_arm"] == "step200"
    assert acc["values"][1] > acc["values"][2]
    assert acc["last_vs_best"]["delta"] == pytest.approx(acc["values"][2] - acc["values"][1])
    assert acc["last_vs_best"]["verdict"] == "regressed"
    (training,) = results["training"]
    assert training["arm"] == "step300" and training["best_step"] == 200

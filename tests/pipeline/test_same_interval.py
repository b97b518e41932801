"""Same data, same interval: the predictions of a run, scored again by ``fteval score``,
get exactly the run's intervals (seeds come from the content, not the path taken)."""

from __future__ import annotations

import json

from fteval.api import evaluate, rescore
from fteval.backends.fake import FakeBackend
from fteval.cli import main
from fteval.config import build_config
from fteval.records.rundir import RunDirectory
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_jsonl, write_task


def test_fteval_score_on_a_runs_predictions_gives_the_runs_intervals(tmp_path, capsys):
    task_file = write_task(tmp_path, intent_rows(60), metrics=["acc"])
    task = load_task(str(task_file))
    knowledge = {ex.prompt: ex.continuations[ex.choices.index(ex.target)] for ex in task.examples}
    arms = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": ["t"]}).arms()
    backend = FakeBackend(arms, skill={"base": 0.3, "lora": 0.7}, knowledge=knowledge)
    run = evaluate("b", adapters={"lora": "a"}, tasks=[str(task_file)], out=tmp_path / "run",
                   backend=backend, progress=False)  # fmt: skip

    files = []
    for arm in ("base", "lora"):
        samples = [s for s in RunDirectory(run.run_dir).read_samples() if s.arm == arm]
        rows = [
            {"id": s.example_id, "prediction": s.prediction, "reference": s.target} for s in samples
        ]
        files.append(f"{arm}={write_jsonl(tmp_path / f'{arm}.jsonl', rows)}")
    assert (
        main(["score", *files, "--metric", "acc", "--out", str(tmp_path / "scored"), "--json"]) == 0
    )
    scored = json.loads(capsys.readouterr().out)

    for arm in ("base", "lora"):
        ours, theirs = run.score("intents", "acc", arm), _score(scored, arm)
        assert (theirs["value"], theirs["ci_low"], theirs["ci_high"]) == (
            ours.value,
            ours.ci_low,
            ours.ci_high,
        )
    ours = run.comparison("intents", "acc", "lora")
    (theirs,) = scored["comparisons"]
    assert (theirs["delta"], theirs["ci_low"], theirs["ci_high"], theirs["p_value"]) == (
        ours.delta,
        ours.ci_low,
        ours.ci_high,
        ours.p_value,
    )
    assert ours.ci_low < ours.ci_high  # a real interval, not a degenerate one
    assert rescore(run.run_dir).comparison("intents", "acc", "lora") == ours


def _score(results: dict, arm: str) -> dict:
    return next(s for s in results["scores"] if s["arm"] == arm)

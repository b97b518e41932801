"""MMLU's groups: micro and macro aggregates as ordinary rows, with CIs and comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fteval.api import evaluate, rescore
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.tasks import TaskOptions, load_tasks

DATA = Path("/work/shared/data/mmlu")
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")


@pytest.fixture(scope="module")
def mmlu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mmlu") / "run"
    options = {"data": {"mmlu": str(DATA)}, "limit": 3, "num_fewshot": 0}
    tasks = load_tasks("mmlu", limit=3, options=TaskOptions(data=str(DATA), num_fewshot=0))
    knowledge = {
        ex.prompt: ex.continuations[ex.choices.index(ex.target)] for t in tasks for ex in t.examples
    }
    config = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": ["mmlu"]})
    backend = FakeBackend(config.arms(), skill={"lora": 0.8}, knowledge=knowledge)
    results = evaluate(
        "b", adapters={"lora": "a"}, tasks=["mmlu"], out=out, backend=backend, progress=False,
        bootstrap_resamples=200, permutations=200, **options,
    )  # fmt: skip
    return results, tasks


def _row(rows, **match):
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, match
    return found[0]


def test_micro_is_item_weighted_and_macro_is_the_mean_of_subjects(mmlu_run):
    results, tasks = mmlu_run
    scores = results["scores"]
    for arm in ("base", "lora"):
        subject = {t.name: _row(scores, task=t.name, arm=arm, metric="acc")["value"] for t in tasks}
        stem = [t.name for t in tasks if t.groups[1] == "mmlu_stem"]
        micro = _row(scores, task="mmlu", arm=arm, metric="acc_micro")
        macro = _row(scores, task="mmlu_stem", arm=arm, metric="acc_macro")
        # every subject has 3 items here, so micro over all = mean of subject means
        assert micro["value"] == pytest.approx(np.mean(list(subject.values())))
        assert micro["n"] == 57 * 3
        assert macro["value"] == pytest.approx(np.mean([subject[s] for s in stem]))
        assert micro["ci_low"] <= micro["value"] <= micro["ci_high"]
        assert "group:mmlu" in micro["signature"] and "weight:items" in micro["signature"]


def test_group_comparisons_are_paired_rows_in_the_correction_family(mmlu_run):
    results, _ = mmlu_run
    row = _row(results["comparisons"], task="mmlu", metric="acc_micro", arm="lora")
    assert row["reference_arm"] == "base"
    assert row["delta"] > 0 and row["test"] == "mcnemar_exact"
    family = [c for c in results["comparisons"] if c["arm"] == "lora"]
    assert len(family) == 57 + 5 * 2  # subjects + (overall and 4 categories) x micro/macro
    assert row["p_adjusted"] >= row["p_value"]


def test_task_groups_record_the_tree(mmlu_run):
    results, _ = mmlu_run
    groups = {g["name"]: g for g in results["task_groups"]}
    assert groups["mmlu"]["parent"] is None and groups["mmlu"]["level"] == "group"
    assert sorted(groups["mmlu"]["members"]) == sorted(
        ["mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other"]
    )
    assert groups["mmlu_stem"]["level"] == "category" and groups["mmlu_stem"]["parent"] == "mmlu"
    assert "mmlu_abstract_algebra" in groups["mmlu_stem"]["members"]
    assert groups["mmlu_other"]["aggregations"] == ["micro", "macro"]


def test_rescoring_the_run_directory_rebuilds_the_group_rows(mmlu_run):
    results, _ = mmlu_run
    again = rescore(results["run_dir"])
    assert again["task_groups"] == results["task_groups"]
    mine = [r for r in results["scores"] if r["task"] == "mmlu"]
    assert mine == [r for r in again["scores"] if r["task"] == "mmlu"]

"""Contamination (exact and near matches, duplicates reported, scores on both subsets) and
guardrail tasks (role, default 1-point non-inferiority margin, the CI gate)."""

from __future__ import annotations

import json

import pytest

from fteval.api import evaluate
from fteval.backends.fake import FakeBackend
from fteval.compare.gate import check
from fteval.config import build_config
from fteval.robustness.contamination import overlaps
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_jsonl, write_task

FAST = {"bootstrap_resamples": 200, "permutations": 200}


def test_exact_after_case_and_whitespace_near_by_eight_gram_overlap():
    training = [
        ["Where is my PARCEL?", "shipping"],
        ["the quick brown fox jumps over the lazy dog near the river bank today"],
    ]
    inputs = [
        "where  is my parcel?",  # exact after case and whitespace
        "the quick brown fox jumps over the lazy dog near the river bank",  # all 8-grams seen
        "a quick brown fox jumps over the lazy dog in my garden this morning",  # some
        "completely unrelated words here",
    ]
    found = overlaps(inputs, training)
    assert found[0] == (True, 0.0)  # four words: no 8-gram, so exact or nothing
    assert found[1] == (False, 1.0)
    assert found[2][0] is False and 0 < found[2][1] < 0.7
    assert found[3] == (False, 0.0)


def test_a_short_input_found_in_training_data_is_not_a_near_match():
    # a six-word question occurs inside a training response: no 8-gram, so no overlap
    training = [["Sure. What is the capital of France? Paris is, and always was."]]
    found = overlaps(["What is the capital of France?"], training)
    assert found == [(False, 0.0)]
    found = overlaps(["what is the capital of france?"], [["What is the capital of France?"]])
    assert found == [(True, 0.0)]  # the whole input repeated is still an exact match


def test_contamination_rows_report_subsets_and_duplicates_never_merged(tmp_path):
    rows = intent_rows(40)
    rows[5]["text"] = rows[4]["text"]  # a duplicate test item
    task_path = write_task(tmp_path, rows)
    train = write_jsonl(
        tmp_path / "train.jsonl",
        [{"prompt": r["text"].upper(), "completion": r["label"]} for r in rows[:10]],
    )
    config = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": [str(task_path)]})
    task = load_task(str(task_path))
    knowledge = {e.prompt: e.continuations[e.choices.index(e.target)] for e in task.examples}
    backend = FakeBackend(config.arms(), skill={"lora": 0.8}, knowledge=knowledge)
    results = evaluate(
        "b", adapters={"lora": "a"}, tasks=[str(task_path)], out=tmp_path / "run",
        backend=backend, progress=False, train_data={"lora": str(train)}, **FAST,
    )  # fmt: skip
    (row,) = results["contamination"]
    assert (row["source"], row["arms"], row["n"]) == (str(train), ["lora"], 40)
    assert row["exact"] == 10 and row["near"] == 0 and row["threshold"] == 0.7
    assert row["duplicates_in_test"] == 2 and row["duplicate_groups"] == [["r4", "r5"]]
    assert results["scores"][0]["n"] == 40  # the duplicate is still scored twice
    lora = next(r for r in row["by_arm"] if (r["arm"], r["metric"]) == ("lora", "acc"))
    assert (lora["clean_n"], lora["overlap_n"]) == (30, 10)
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    overlap = {s["example_id"] for s in samples if s["meta"]["contamination"][str(train)][0]}
    by_id = {s["example_id"]: s for s in samples if s["arm"] == "lora"}
    expected = sum(by_id[i]["scores"]["acc"] for i in overlap) / 10
    assert lora["overlap_value"] == pytest.approx(expected)
    base = next(r for r in row["by_arm"] if (r["arm"], r["metric"]) == ("base", "acc"))
    assert lora["overlap_vs_base"]["delta"] == pytest.approx(
        lora["overlap_value"] - base["overlap_value"]
    )
    assert lora["overlap_vs_base"]["n"] == 10 and lora["clean_vs_base"]["n"] == 30
    assert lora["overlap_vs_base"]["verdict"] == "insufficient data"  # 10 items
    assert lora["clean_vs_base"]["correction_family"] == "task intents: base→lora (contamination)"
    assert base["overlap_vs_base"] is None


def test_a_guardrail_gets_a_one_point_margin_and_fails_the_gate_when_it_is_not_shown(tmp_path):
    target = write_task(tmp_path, intent_rows(60))
    (tmp_path / "g").mkdir()
    guard = write_task(tmp_path / "g", intent_rows(60), name="general")
    config = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": [str(target)]})
    knowledge = {}
    for path in (target, guard):
        task = load_task(str(path))
        knowledge |= {e.prompt: e.continuations[e.choices.index(e.target)] for e in task.examples}
    backend = FakeBackend(config.arms(), skill={"base": 0.9, "lora": 0.6}, knowledge=knowledge)
    results = evaluate(
        "b", adapters={"lora": "a"}, tasks=[str(target)], guardrails=[str(guard)],
        out=tmp_path / "run", backend=backend, progress=False, **FAST,
    )  # fmt: skip
    roles = {t["name"]: t["role"] for t in results["tasks"]}
    assert roles == {"intents": "target", "general": "guardrail"}
    guarded = [c for c in results["comparisons"] if c["task"] == "general"]
    assert guarded and all(c["non_inferiority"] is False for c in guarded)
    assert all(
        c["non_inferiority"] is None for c in results["comparisons"] if c["task"] == "intents"
    )
    failures = check(results, fail_on="regression")
    assert any("general" in f and "non-inferiority" in f for f in failures)


def test_the_terminal_report_lists_guardrails_apart(tmp_path):
    from fteval.report import render_terminal

    results = {
        "arms": [{"name": "base", "kind": "base"}, {"name": "lora", "kind": "adapter"}],
        "tasks": [{"name": "t", "role": "target"}, {"name": "g", "role": "guardrail"}],
        "scores": [],
        "comparisons": [
            {
                "task": "g",
                "metric": "acc",
                "arm": "lora",
                "reference_arm": "base",
                "reference_kind": "base",
                "delta": -0.03,
                "ci_low": -0.05,
                "ci_high": -0.01,
                "scale": 100.0,
                "non_inferiority": False,
                "verdict": "regressed",
                "p_adjusted": 0.01,
                "test": "mcnemar_exact",
            },
        ],
    }
    text = render_terminal(results, details=True)
    assert "guardrails (must not get worse than base):" in text
    assert "g acc: lora vs base -3.0 [-5.0, -1.0]: NON-INFERIORITY NOT SHOWN" in text

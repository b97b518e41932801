"""Prompts the context window will cut are found before any model runs, said loudly in
results, and a task whose items lost their question gets no verdict."""

from __future__ import annotations

import dataclasses

from fteval.api import evaluate
from fteval.backends.base import TokenBudget
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.pipeline.truncation import tag_task
from fteval.report import render_terminal
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_jsonl, write_task

FAST = {"bootstrap_resamples": 200, "permutations": 200}
CHARS = TokenBudget(lambda texts: [len(t) for t in texts], 0, "chars")


def fewshot_task(tmp_path, n=60):
    write_jsonl(tmp_path / "train.jsonl", intent_rows(12))
    write_jsonl(tmp_path / "test.jsonl", intent_rows(n))
    return write_task(
        tmp_path, [], data={"train": "train.jsonl", "test": "test.jsonl"},
        fewshot={"split": "train", "n": 3, "sampler": "first_n"},
    )  # fmt: skip


def test_a_cut_that_reaches_the_question_is_told_apart_from_one_that_does_not(tmp_path):
    task = load_task(str(fewshot_task(tmp_path, 6)))
    example = task.examples[0]
    start = example.input_spans[0][0]  # the item's own text begins after the shots
    longest = max(len(c) for c in example.continuations)
    whole = len(example.prompt) + longest - 1
    shots_only = dataclasses.replace(CHARS, max_length=whole - start // 2)
    into_question = dataclasses.replace(CHARS, max_length=whole - start - 5)
    fits = dataclasses.replace(CHARS, max_length=whole + 10)
    assert "context_cut" not in tag_task(task, [fits]).examples[0].meta
    cut = tag_task(task, [shots_only]).examples[0].meta["context_cut"]
    assert cut["tokens"] == start // 2 and cut["question"] is False
    deep = tag_task(task, [into_question, fits]).examples[0].meta["context_cut"]
    assert deep == {"tokens": start + 5, "question": True, "max_length": into_question.max_length}


def run(tmp_path, window: int | None):
    path = fewshot_task(tmp_path)
    config = build_config({"base": "b", "adapters": {"lora": "a"}, "tasks": [str(path)]})
    task = load_task(str(path))
    knowledge = {e.prompt: e.continuations[e.choices.index(e.target)] for e in task.examples}
    backend = FakeBackend(config.arms(), skill={"lora": 0.9}, knowledge=knowledge,
                          context_window=window)  # fmt: skip
    return evaluate(
        "b", adapters={"lora": "a"}, tasks=[str(path)], out=tmp_path / f"run{window}",
        backend=backend, progress=False, **FAST,
    ).to_dict()  # fmt: skip


def test_most_questions_cut_means_no_verdict_and_it_is_said(tmp_path):
    whole = run(tmp_path, None)
    assert whole["truncation"] == []
    lora = next(c for c in whole["comparisons"] if c["metric"] == "acc")
    assert lora["verdict"] == "improved"
    kept = run(tmp_path, 120)  # the shots are cut, every question is whole
    (row,) = kept["truncation"]
    assert row["cut"] == 60 and row["question_cut"] == 0 and not row["verdicts_withheld"]
    assert next(c for c in kept["comparisons"] if c["metric"] == "acc")["verdict"] == "improved"
    cut = run(tmp_path, 30)  # shorter than the question itself
    (row,) = cut["truncation"]
    assert row["task"] == "intents" and row["cut"] == row["n"] == 60
    assert row["question_cut"] == 60 and row["verdicts_withheld"] is True
    assert row["max_length"] == 30 and row["median_tokens_cut"] > 0
    for comparison in cut["comparisons"]:
        assert comparison["verdict"] == "insufficient data"
        assert comparison["significant"] is False
        assert "lost part of their question to the 30-token context window" in comparison["reason"]
    assert cut["scores"] == whole["scores"]  # the numbers stay; only the verdict is withheld
    headline = render_terminal(cut, "runs/x").splitlines()
    (row,) = [line for line in headline if line.startswith("  intents acc ")]
    assert "NO VERDICT" in row and row.endswith("prompts cut")
    assert any(
        line.startswith("TRUNCATED: intents: 100% of prompts cut to 30") for line in headline
    )

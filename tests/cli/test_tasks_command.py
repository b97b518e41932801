"""``fteval tasks``: the catalogue, and prompts shown exactly as the model sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from fteval.cli import main

DATA = Path("/work/shared/data")


def test_the_catalogue_lists_every_builtin_with_type_metrics_shots_and_source(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and line[0].isalpha()}
    names = ["mmlu", "sst2", "trec", "trec50", "squad", "cnn_dailymail", "gsm8k", "humaneval"]
    names += ["codexglue_java_cs", "codexglue_refinement", "alpaca_eval"]
    for name in names:
        assert name in lines, name
    assert "multiple_choice" in lines["mmlu"] and "acc_micro" in lines["mmlu"]
    assert "cais/mmlu/all@c30699e8356d" in lines["mmlu"] and "  5  " in lines["mmlu"]
    assert "strict_match,flexible_extract" in lines["gsm8k"]
    assert "mmlu_anatomy" not in lines
    assert main(["tasks", "--all"]) == 0
    assert "mmlu_anatomy" in capsys.readouterr().out


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
def test_show_prints_the_prompts_and_continuations_exactly(capsys):
    assert main(["tasks", "sst2", "--show", "2", "--data", str(DATA / "sst2")]) == 0
    out = capsys.readouterr().out
    prompt = (
        "=== sst2 / 0 : prompt ===\nit 's a charming and often affecting journey . \n"
        "Question: Is this sentence positive or negative?\nAnswer:\n=== end of prompt ===\n"
        "  negative: loglikelihood of ' negative'\n* positive: loglikelihood of ' positive'\n"
    )
    assert prompt in out
    assert "=== sst2 / 1 : prompt ===" in out and "=== sst2 / 2 :" not in out
    assert "--data sst2=PATH: GLUE's SST-2 dev.tsv" in out


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
def test_show_of_a_generation_task_gives_decoding_and_target(capsys):
    argv = ["tasks", "gsm8k", "--show", "1", "--data", str(DATA / "gsm8k"), "--num-fewshot", "0",
            "--task-option", "max_new_tokens=64"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "generate: stop=['Question:', '</s>', '<|im_end|>'] max_new_tokens=64" in out
    assert "target: 'Janet sells 16 - 3 - 4" in out


def test_an_unknown_task_is_a_usage_error(capsys):
    assert main(["tasks", "mmlx"]) == 2
    assert "unknown task 'mmlx'" in capsys.readouterr().err

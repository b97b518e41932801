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


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
def test_data_takes_name_equals_path_as_run_does(capsys):
    sst2 = DATA / "sst2" / "dev.tsv"
    assert main(["tasks", "sst2", "--show", "1", "--data", f"sst2={sst2}"]) == 0
    assert "=== sst2 / 0 : prompt ===" in capsys.readouterr().out
    mmlu = ["tasks", "mmlu_anatomy", "--show", "1", "--num-fewshot", "0"]
    assert main([*mmlu, "--data", f"mmlu={DATA / 'mmlu'}"]) == 0  # the data family's name
    assert "about anatomy" in capsys.readouterr().out
    assert main(["tasks", "sst2", "--data", f"trec={sst2}"]) == 2
    assert "--data trec=...: the task shown is 'sst2'; give --data sst2=PATH" in (
        capsys.readouterr().err
    )
    assert main(["tasks", "--data", str(sst2)]) == 2
    assert "need a task" in capsys.readouterr().err


@pytest.mark.parametrize("count", ["-1", "-5"])
def test_a_negative_show_count_is_a_usage_error(capsys, count):
    assert main(["tasks", "sst2", "--show", count]) == 2
    assert f"--show expects a number of examples >= 0, got {count}" in capsys.readouterr().err


def test_a_missing_lmeval_include_folder_is_named_not_blamed_on_the_task(tmp_path, capsys):
    missing = str(tmp_path / "nope")
    assert main(["tasks", "lmeval:anything", "--lmeval-include", missing]) == 2
    err = capsys.readouterr().err
    assert f"--lmeval-include {missing}: no such folder" in err and "anything" not in err
    (tmp_path / "file.yaml").write_text("task: x\n")
    assert main(["tasks", "lmeval:x", "--lmeval-include", str(tmp_path / "file.yaml")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    run = ["run", "--backend", "fake", "--base", "b", "--task", "sst2"]
    assert main([*run, "--lmeval-include", missing, "--out", str(tmp_path / "r")]) == 2
    assert f"--lmeval-include {missing}: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_an_unreachable_hub_fails_within_seconds_with_the_data_hint(tmp_path):
    import os
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    # a closed local port: without the probe, huggingface_hub retries for 25-50 s
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fteval", "tasks", "sst2", "--show", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    assert "no connection to 127.0.0.1:9" in done.stderr
    assert "--data sst2=PATH" in done.stderr
    # seconds, interpreter start included: about 1.5 s idle; under 20 even on a busy
    # machine, where the retries it replaces take 25-50 s
    assert elapsed < 20


@pytest.mark.real_model
def test_show_with_base_says_what_the_models_window_cuts(tmp_path, tiny_models, capsys):
    from tests.conftest import intent_rows, write_jsonl, write_task

    write_jsonl(tmp_path / "train.jsonl", intent_rows(12))
    write_jsonl(tmp_path / "test.jsonl", intent_rows(6))
    task = write_task(
        tmp_path, [], data={"train": "train.jsonl", "test": "test.jsonl"},
        fewshot={"split": "train", "n": 4, "sampler": "first_n"},
    )  # fmt: skip
    base = str(tiny_models["base"])  # byte tokens, a 128-token window
    assert main(["tasks", str(task), "--show", "2", "--base", base]) == 0
    out = capsys.readouterr().out
    assert f"with {base}'s 128-token context window: 2 of the 2 shown prompts are cut" in out
    assert "(the 128-token context window cuts" in out
    assert main(["tasks", str(task), "--show", "1", "--base", base, "--max-length", "40"]) == 0
    out = capsys.readouterr().out
    assert "the question itself is cut" in out and "40-token context window" in out
    assert main(["tasks", str(task), "--base", base]) == 2  # nothing shown, nothing measured

"""Every built-in task end to end on tiny real models (base, LoRA, full), through the
command line and ``--data`` on the shared public data, with ``--limit`` small."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fteval.cli import main

DATA = Path("/work/shared/data")
pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present"),
]
SHORT = 6  # new tokens per generation: the tiny models' window is 128 byte tokens

LOCAL = {
    "mmlu": "mmlu",
    "sst2": "sst2/dev.tsv",
    "trec": "trec/TREC_10.label",
    "trec50": "trec",
    "squad": "squad/dev-v1.1.json",
    "cnn_dailymail": "cnn_dailymail/cnndm_mini-dataset.tsv",
    "gsm8k": "gsm8k",
    "codexglue_java_cs": "codexglue",
    "codexglue_refinement": "codexglue",
}
GENERATED = ("squad", "cnn_dailymail", "gsm8k", "codexglue_java_cs", "codexglue_refinement")


def _arm_flags(models: dict[str, Path]) -> list[str]:
    return ["--base", str(models["base"]), "--adapter", f"lora={models['lora']}",
            "--full", str(models["full"])]  # fmt: skip


def _run(tmp_path: Path, models, tasks, extra: list[str]) -> dict:
    out = tmp_path / "run"
    argv = ["run", *_arm_flags(models), "--out", str(out), "--limit", "2", "--quiet",
            "--bootstrap", "100", "--permutations", "100", "--cache-dir", "off"]  # fmt: skip
    for task in tasks:
        argv += ["--task", task]
    assert main(argv + extra) == 0
    return json.loads((out / "results.json").read_text())


def test_every_builtin_task_runs_for_base_lora_and_full(tmp_path, tiny_models):
    extra = ["--num-fewshot", "0"]
    for name, path in LOCAL.items():
        extra += ["--data", f"{name}={DATA / path}"]
    for name in GENERATED:
        extra += ["--task-option", f"{name}:max_new_tokens={SHORT}"]
    # MMLU's humanities (13 subjects) keeps CI fast; `--data mmlu=` serves it as its
    # family; all 57 subjects and the top group run in benchmarks/builtin_tasks.py and,
    # with the fake backend, in tests/compare/test_groups.py
    tasks = ["mmlu_humanities", *[name for name in LOCAL if name != "mmlu"]]
    results = _run(tmp_path, tiny_models, tasks, extra)
    headline = {
        "mmlu_humanities": "acc_micro", "sst2": "acc", "trec": "acc", "trec50": "acc",
        "squad": "squad_f1", "cnn_dailymail": "rouge1", "gsm8k": "strict_match",
        "codexglue_java_cs": "codebleu", "codexglue_refinement": "codexglue_bleu",
    }  # fmt: skip
    rows = {(r["task"], r["arm"], r["metric"]) for r in results["scores"]}
    for task, metric in headline.items():
        for arm in ("base", "lora", "full"):
            assert (task, arm, metric) in rows, (task, arm, metric)
    pairs = {(c["task"], c["arm"], c["reference_arm"]) for c in results["comparisons"]}
    assert ("mmlu_humanities", "lora", "full") in pairs and ("squad", "full", "base") in pairs
    assert [g["name"] for g in results["task_groups"]] == ["mmlu_humanities"]
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").open()]
    cnn = [s for s in samples if s["task"] == "cnn_dailymail"]
    assert all(s["meta"]["truncation"]["max_length"] == 128 for s in cnn)
    assert all(s["meta"]["truncation"]["cut"] for s in cnn)


def test_alpaca_eval_with_a_tiny_judge(tmp_path, tiny_models):
    import torch
    from transformers import GPT2LMHeadModel

    judge = tmp_path / "judge"
    torch.manual_seed(7)
    base = GPT2LMHeadModel.from_pretrained(tiny_models["base"])
    model = GPT2LMHeadModel(base.config)
    model.save_pretrained(judge)
    shutil.copy(tiny_models["base"] / "tokenizer_config.json", judge / "tokenizer_config.json")
    for file in tiny_models["base"].iterdir():
        if "token" in file.name or file.name.endswith(".model"):
            shutil.copy(file, judge / file.name)
    results = _run(
        tmp_path, tiny_models, ["alpaca_eval"],
        ["--data", f"alpaca_eval={DATA / 'alpaca_eval' / 'alpaca_eval.jsonl'}",
         "--task-option", f"alpaca_eval:max_new_tokens={SHORT}", "--judge", str(judge)],
    )  # fmt: skip
    rows = {r["arm"]: r for r in results["judge"]}
    assert set(rows) == {"base", "lora", "full"}
    for row in rows.values():
        assert row["n"] + row["unreadable"] == 2
        assert row["wins"] + row["ties"] + row["losses"] == row["n"]
        assert 0 <= row["win_rate"] <= 1 and 0 <= row["lc_win_rate"] <= 1
    judgments = (tmp_path / "run" / "judgments.jsonl").read_text().splitlines()
    assert len(judgments) == 3 * 2 * 2
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["judge"]["path"] == str(judge)


@pytest.mark.sandbox
def test_humaneval_samples_run_in_the_sandbox(tmp_path, tiny_models):
    results = _run(
        tmp_path, tiny_models, ["humaneval"],
        ["--task-option", "humaneval:n_samples=2", "--task-option", "humaneval:temperature=0.8",
         "--task-option", f"humaneval:max_new_tokens={SHORT}"],
    )  # fmt: skip
    rows = {(r["arm"], r["metric"]): r for r in results["scores"] if r["task"] == "humaneval"}
    assert set(rows) == {(arm, "pass@1") for arm in ("base", "lora", "full")}
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").open()]
    for sample in samples:
        assert len(sample["meta"]["passed"]) == 2
        assert sample["meta"]["isolation"] == "bubblewrap"
        assert set(sample["meta"]["outcomes"]) <= {"passed", "failed", "timeout"}

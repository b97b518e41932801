"""Selecting work in runs: per-task limits and shots, random limits with a recorded seed,
glob task names, and built-ins' train and validation splits in contamination and
calibration (the fake backend: no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fteval.api import evaluate, load_run
from fteval.cli import main
from fteval.config import build_config
from fteval.pipeline.task_setup import tasks_of
from tests.conftest import intent_rows, write_jsonl

DATA = Path("/work/shared/data")
needs_data = pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
FAST = ["--bootstrap", "100", "--permutations", "100"]


def _task(folder: Path, name: str, n: int, n_train: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "test.jsonl", intent_rows(n))
    train = [{**r, "id": f"t{i}"} for i, r in enumerate(intent_rows(n_train))]
    write_jsonl(folder / "train.jsonl", train)
    spec = {
        "name": name,
        "data": {"train": "train.jsonl", "test": "test.jsonl"},
        "id_field": "id",
        "template": "Message: {text}\nIntent:",
        "choices": ["login", "billing", "refund"],
        "label_field": "label",
        "fewshot": {"split": "train", "n": 0},
        "metrics": ["acc"],
    }
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _run(tmp_path: Path, *flags: str, out: str = "run") -> tuple[int, dict]:
    a, b = _task(tmp_path / "a", "a", 12), _task(tmp_path / "b", "b", 12)
    argv = ["run", "--backend", "fake", "--base", "b", "--adapter", "lora=x", "--task", str(a),
            "--task", str(b), "--out", str(tmp_path / out), "--quiet", *FAST, *flags]  # fmt: skip
    code = main(argv)
    manifest = tmp_path / out / "manifest.json"
    return code, json.loads(manifest.read_text()) if manifest.exists() else {}


def _recorded(manifest: dict) -> dict[str, dict]:
    return {t["name"]: t for t in manifest["tasks"]}


def test_per_task_limits_and_shots_apply_to_their_task_and_are_recorded(tmp_path):
    code, manifest = _run(tmp_path, "--limit", "5", "--limit", "a=2", "--num-fewshot", "a=3")
    assert code == 0
    tasks = _recorded(manifest)
    assert tasks["a"]["n_examples"] == 2 and tasks["a"]["limit"] == 2
    assert tasks["a"]["num_fewshot"] == 3 and tasks["a"]["n_available"] == 12
    assert tasks["b"]["n_examples"] == 5 and tasks["b"]["limit"] == 5
    assert tasks["b"]["num_fewshot"] == 0 and tasks["a"]["limit_sampling"] == "first"
    samples = load_run(tmp_path / "run").samples
    assert {s.example_id for s in samples if s.task == "a"} == {"r0", "r1"}


def test_random_limits_draw_the_same_items_for_the_same_seed(tmp_path):
    flags = ["--limit", "4", "--limit-sampling", "random"]
    _, first = _run(tmp_path, *flags, "--limit-seed", "3", out="one")
    _, again = _run(tmp_path, *flags, "--limit-seed", "3", out="two")
    _, other = _run(tmp_path, *flags, "--limit-seed", "4", out="three")

    def ids(run: str) -> set[str]:
        return {s.example_id for s in load_run(tmp_path / run).samples if s.task == "a"}

    assert ids("one") == ids("two") and len(ids("one")) == 4
    assert ids("one") != ids("three")
    assert ids("one") != {"r0", "r1", "r2", "r3"}
    assert _recorded(first)["a"]["limit_seed"] == 3 == _recorded(again)["a"]["limit_seed"]
    assert _recorded(other)["b"]["limit_sampling"] == "random"


def test_a_yaml_config_takes_the_same_per_task_keys(tmp_path):
    a, b = _task(tmp_path / "a", "a", 12), _task(tmp_path / "b", "b", 12)
    config = {"base": "b", "backend": "fake", "tasks": [str(a), str(b)], "out": "run",
              "limit": {"*": 5, "a": 2}, "num_fewshot": {"a": 1}, "limit_sampling": "random",
              "limit_seed": 9, "bootstrap_resamples": 100, "permutations": 100}  # fmt: skip
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "run.yaml"), "--quiet"]) == 0
    tasks = _recorded(load_run(tmp_path / "run").manifest)
    assert (tasks["a"]["n_examples"], tasks["a"]["num_fewshot"]) == (2, 1)
    assert (tasks["b"]["n_examples"], tasks["b"]["limit_seed"]) == (5, 9)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--limit", "nosuch=3"], ["--limit nosuch=...", "no task of this run"]),
        (["--num-fewshot", "x*=1"], ["--num-fewshot x*=...", "no task of this run"]),
        (["--limit", "a=0"], ["key 'limit'", ">= 1"]),
        (["--num-fewshot", "a=-1"], ["key 'num_fewshot'", ">= 0"]),
        (["--limit", "a=two"], ["--limit expects N or TASK=N", "'a=two'"]),
        (["--num-fewshot", "1000000000"], ["task 'a'", "1000000000 few-shot", "has 4 rows"]),
        (["--task", "nosuch_*"], ["task 'nosuch_*': the glob matches no built-in task"]),
    ],
)
def test_bad_selections_exit_2_before_a_run_directory_is_made(tmp_path, capsys, flags, words):
    code, manifest = _run(tmp_path, *flags)
    err = capsys.readouterr().err
    assert code == 2 and not manifest and not (tmp_path / "run").exists()
    for word in words:
        assert word in err, err


@needs_data
def test_glob_task_names_find_their_data_family_and_per_task_values(tmp_path):
    config = build_config(
        {"base": "b", "tasks": ["mmlu_high_school_p*"], "data": {"mmlu": str(DATA / "mmlu")},
         "limit": {"*": 3, "mmlu_high_school_ph*": 1}, "num_fewshot": {"*physics": 0}}
    )  # fmt: skip
    tasks = {t.name: t for t in tasks_of(config)}
    assert sorted(tasks) == ["mmlu_high_school_physics", "mmlu_high_school_psychology"]
    physics, psychology = tasks["mmlu_high_school_physics"], tasks["mmlu_high_school_psychology"]
    assert (len(physics.examples), physics.num_fewshot) == (1, 0)
    assert (len(psychology.examples), psychology.num_fewshot) == (3, 5)


@needs_data
def test_mmlu_fits_a_temperature_on_its_validation_split_in_a_run(tmp_path):
    results = evaluate(
        "b", adapters={"lora": "x"}, tasks=["mmlu_anatomy"], backend="fake",
        out=tmp_path / "run", progress=False, data={"mmlu": str(DATA / "mmlu")},
        limit=4, bootstrap_resamples=100, permutations=100,
    ).to_dict()  # fmt: skip
    rows = [r for r in results["calibration"] if r["task"] == "mmlu_anatomy"]
    assert rows and all(r["n_validation"] == 4 for r in rows)
    assert all(r["temperature"] is not None for r in rows)
    variants = load_run(tmp_path / "run").manifest["variants"]
    assert [v["name"] for v in variants] == ["mmlu_anatomy~validation"]


@needs_data
def test_no_temperature_scaling_scores_no_validation_split(tmp_path):
    out = tmp_path / "run"
    code = main(["run", "--backend", "fake", "--base", "b", "--adapter", "lora=x",
                 "--task", "mmlu_anatomy", "--data", f"mmlu={DATA / 'mmlu'}", "--limit", "4",
                 "--no-temperature-scaling", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    run = load_run(out)
    assert not run.manifest.get("variants")
    assert not any(s.task.endswith("~validation") for s in run.samples)
    rows = [r for r in run.results.to_dict()["calibration"] if r["task"] == "mmlu_anatomy"]
    assert rows and all(r["temperature"] is None for r in rows)


@needs_data
def test_sst2_items_found_in_its_train_split_are_counted_in_a_run(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    dev = (DATA / "sst2" / "dev.tsv").read_text()
    (folder / "dev.tsv").write_text(dev)
    first = dev.splitlines()[1]  # the first dev sentence, copied into train
    (folder / "train.tsv").write_text(f"sentence\tlabel\n{first}\nunrelated words here \t0\n")
    results = evaluate(
        "b", adapters={"lora": "x"}, tasks=["sst2"], backend="fake", out=tmp_path / "run",
        progress=False, data={"sst2": str(folder)}, limit=5,
        bootstrap_resamples=100, permutations=100,
    ).to_dict()  # fmt: skip
    (row,) = [r for r in results["contamination"] if r["task"] == "sst2"]
    assert row["source"] == "train split" and row["n"] == 5 and row["exact"] == 1


@needs_data
def test_a_guardrail_glob_loads_and_marks_the_tasks_it_matches(tmp_path):
    from fteval.pipeline.robustness_setup import with_guardrails

    mine = _task(tmp_path / "a", "a", 6)
    config = build_config(
        {"base": "b", "tasks": [str(mine)], "guardrails": ["mmlu_high_school_p*"],
         "data": {"mmlu": str(DATA / "mmlu")}, "limit": 2}
    )  # fmt: skip
    roles = {t.name: t.role for t in with_guardrails(tasks_of(config), config)}
    assert roles == {
        "a": "target",
        "mmlu_high_school_physics": "guardrail",
        "mmlu_high_school_psychology": "guardrail",
    }


@needs_data
def test_a_validation_split_too_small_for_its_own_shots_skips_calibration_with_a_warning(
    tmp_path, caplog
):
    copy = tmp_path / "mmlu"  # test/ and dev/ but no val/: "dev" is the only other split
    for split in ("test", "dev"):
        (copy / split).mkdir(parents=True)
        name = f"anatomy_{split}.csv"
        (copy / split / name).write_bytes((DATA / "mmlu" / split / name).read_bytes())
    results = evaluate(
        "b", adapters={"lora": "x"}, tasks=["mmlu_anatomy"], backend="fake",
        out=tmp_path / "run", progress=False, data={"mmlu": str(copy)}, limit=3,
        bootstrap_resamples=100, permutations=100,
    ).to_dict()  # fmt: skip
    assert "no temperature scaling" in caplog.text and "has 5 rows" in caplog.text
    assert all(r["n_validation"] == 0 for r in results["calibration"])
    assert {s["n"] for s in results["scores"]} == {3}

"""The ``fteval`` command: flags, YAML config, --json, exit codes; real models included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fteval.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fteval", *args], capture_output=True, text=True, timeout=300
    )


def test_run_prints_the_headline_and_with_details_the_three_way_table(tmp_path, task_file, capsys):
    flags = [
        "run",
            "--backend",
            "fake",
            "--base",
            "b",
            "--adapter",
            "lora=a",
            "--full",
            "f",
            "--task",
            str(task_file),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
    ]  # fmt: skip
    assert main(flags) == 0
    out = capsys.readouterr().out
    assert out.startswith("Did the fine-tune help?")
    assert "\nlora (adapter)\n  intents acc " in out and "\nfull (full fine-tune)\n" in out
    assert "Δ lora vs base" not in out and len(out.splitlines()) <= 25
    assert "details: --details, or report.html in" in out and str(tmp_path / "run") in out
    assert main([*flags, "--details", "--out", str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Did the fine-tune help?")
    assert "Δ lora vs base" in out and "lora − full" in out
    assert "acc_norm" in out and "f1_macro" in out
    assert (tmp_path / "run" / "results.json").exists()


def test_run_from_yaml_config_with_flag_override(tmp_path, task_file, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "base": "b",
                "adapters": {"lora": "a"},
                "tasks": [str(task_file)],
                "backend": "fake",
                "out": "out",
                "limit": 5,
            }
        )
    )
    code = main(["run", str(config), "--limit", "7", "--json", "--quiet"])
    results = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {r["n"] for r in results["scores"]} == {7}
    assert Path(results["run_dir"]) == tmp_path / "out"


def test_unknown_yaml_key_exits_2_naming_the_key(tmp_path, task_file, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"base": "b", "tasks": [str(task_file)], "batchsize": 8}))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'batchsize'" in err and "run.yaml" in err


def test_bad_task_row_exits_2_before_loading_any_model(tmp_path, capsys):
    from tests.conftest import intent_rows, write_task

    rows = intent_rows(5)
    rows[3]["label"] = "refnd"
    task = write_task(tmp_path, rows)
    code = main(
        [
            "run",
            "--base",
            str(tmp_path / "no-such-model"),
            "--task",
            str(task),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "data.jsonl, row 4, field 'label'" in err and "'refnd'" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.real_model
def test_real_models_end_to_end_json_follows_the_record_contract(tmp_path, task_file, tiny_models):
    proc = run_cli(
        "run",
        "--base",
        str(tiny_models["base"]),
        "--adapter",
        f"a={tiny_models['lora']}",
        "--full",
        str(tiny_models["full"]),
        "--task",
        str(task_file),
        "--json",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "--batch-size",
        "4",
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["schema_version"] == "1"
    assert {a["name"] for a in results["arms"]} == {"base", "a", "full"}
    adapter = next(a for a in results["arms"] if a["name"] == "a")
    assert adapter["identity"]["adapter_serving"] == "merge_restore"
    assert {(c["arm"], c["reference_arm"]) for c in results["comparisons"]} == {
        ("a", "base"),
        ("full", "base"),
        ("a", "full"),
    }
    assert proc.stderr.startswith("Did the fine-tune help?")  # the headline, on stderr
    assert "\na (adapter, " in proc.stderr and "params trained)\n  intents acc " in proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["arms"][0]["identity"]["weights_sha256"]


@pytest.mark.real_model
def test_untrained_adapter_fails_the_run_with_exit_2(tmp_path, task_file, tiny_models):
    zero = f"z={tiny_models['zero_lora']}"
    proc = run_cli(
        "run",
        "--base",
        str(tiny_models["base"]),
        "--adapter",
        zero,
        "--task",
        str(task_file),
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    )
    assert proc.returncode == 2
    assert "does not change the model's outputs" in proc.stderr
    assert not (tmp_path / "run").exists()  # a refused run leaves no run directory


def test_run_help_is_grouped_and_every_option_says_what_it_does():
    import argparse

    from fteval.cli import _parser

    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run = sub.choices["run"]
    titles = [group.title for group in run._action_groups]
    for wanted in ("models", "tasks", "statistics", "robustness", "gate", "output",
                   "performance", "scale"):  # fmt: skip
        assert wanted in titles
    options = [a for a in run._actions if a.option_strings and a.dest != "help"]
    assert len(options) > 40
    silent = [a.option_strings[0] for a in options if not a.help or a.help == argparse.SUPPRESS]
    assert silent == []
    grouped = {a.dest for g in run._action_groups if g.title not in ("options",)
               for a in g._group_actions}  # fmt: skip
    assert {a.dest for a in options} <= grouped  # none left in the catch-all "options"

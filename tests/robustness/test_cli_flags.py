"""The robustness flags of ``fteval run``: they reach the results, bad values exit 2."""

from __future__ import annotations

import json

from fteval.cli import main


def test_flags_reach_the_results_sections(tmp_path, task_file, capsys):
    log = tmp_path / "log.csv"
    log.write_text("step,loss,val_loss\n1,2.0,2.1\n2,1.0,1.5\n", encoding="utf-8")
    code = main(
        ["run", "--backend", "fake", "--base", "b", "--adapter", "lora=a",
         "--task", str(task_file), "--out", str(tmp_path / "run"), "--quiet", "--json",
         "--bootstrap", "200", "--permutations", "200", "--perturb", "typo:rate=0.2",
         "--perturb", "expansion", "--slice", "length", "--training-log", f"lora={log}",
         "--brittle-threshold", "0.5"]
    )  # fmt: skip
    results = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {r["perturbation"] for r in results["robustness"]} == {"typo:rate=0.2", "expansion"}
    assert {r["brittle_threshold"] for r in results["robustness"]} == {0.5}
    assert {r["field"] for r in results["slices"]} == {"length"}
    assert results["training"][0]["best_step"] == 2


def test_a_misspelt_perturbation_exits_2_naming_it(tmp_path, task_file, capsys):
    code = main(
        ["run", "--backend", "fake", "--base", "b", "--task", str(task_file),
         "--out", str(tmp_path / "run"), "--perturb", "tpyo"]
    )  # fmt: skip
    assert code == 2
    assert "unknown perturbation 'tpyo'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_training_log_for_an_unknown_arm_exits_2(tmp_path, task_file, capsys):
    code = main(
        ["run", "--backend", "fake", "--base", "b", "--task", str(task_file),
         "--training-log", "lora=x.csv"]
    )  # fmt: skip
    assert code == 2 and "no arm named 'lora'" in capsys.readouterr().err


def test_tasks_show_prints_perturbed_prompts(task_file, capsys):
    code = main(["tasks", str(task_file), "--show", "2", "--perturb", "casing:mode=upper"])
    out = capsys.readouterr().out
    assert code == 0
    assert "##### perturbed: casing:mode=upper" in out
    assert "=== intents~casing:mode=upper / r1 : prompt ===" in out
    assert "Message: WHY WAS MY CARD CHARGED TWICE #1\nIntent:" in out

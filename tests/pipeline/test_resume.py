"""Never lose work: SIGKILL and resume, the directory lock, torn lines, config changes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fteval.errors import FtevalError
from fteval.records.rundir import RunDirectory
from tests.conftest import intent_rows, write_task


def command(task: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "fteval", "run", "--backend", "fake", "--base", "b",
        "--adapter", "lora=a", "--full", "f", "--task", str(task), "--out", str(out),
        "--quiet", "--flush-every", "20",
    ]  # fmt: skip


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_run_killed_with_sigkill_resumes_to_identical_samples(tmp_path):
    task = write_task(tmp_path, intent_rows(200))
    reference = tmp_path / "reference"
    subprocess.run(command(task, reference), check=True, capture_output=True, timeout=120)

    out = tmp_path / "killed"
    env = {**os.environ, "FTEVAL_FAKE_DELAY_S": "0.004"}
    proc = subprocess.Popen(command(task, out), env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while lines(out / "samples.jsonl") < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = lines(out / "samples.jsonl")
    assert 0 < killed_at < 600, "the run should have been killed midway"
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"

    resumed = subprocess.run(command(task, out), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "samples.jsonl").read_bytes() == (reference / "samples.jsonl").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["resumed_at"]
    ours = json.loads((out / "results.json").read_text())
    theirs = json.loads((reference / "results.json").read_text())
    assert ours["scores"] == theirs["scores"]
    assert ours["comparisons"] == theirs["comparisons"]


def test_a_second_run_on_the_same_directory_fails_on_the_lock(tmp_path):
    task = write_task(tmp_path, intent_rows(300))
    out = tmp_path / "run"
    env = {**os.environ, "FTEVAL_FAKE_DELAY_S": "0.01"}
    first = subprocess.Popen(command(task, out), env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / "manifest.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        second = subprocess.run(command(task, out), capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "another fteval process" in second.stderr
    finally:
        first.kill()
        first.wait(timeout=30)


def test_torn_last_line_is_cut_before_appending(tmp_path):
    run = RunDirectory(tmp_path)
    run.samples_path.write_text('{"a": 1}\n{"b": 2')
    run.repair_samples()
    assert run.samples_path.read_text() == '{"a": 1}\n'


def test_resume_with_another_config_is_refused(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.path.mkdir()
    run.write_manifest({"status": "running", "config": {"base": "b", "seed": 1}})
    with pytest.raises(FtevalError, match=r"another config .*seed"):
        run.open_for({"base": "b", "seed": 2})
    assert run.open_for({"base": "b", "seed": 1, "batch_size": 64}) is True


def test_complete_run_directory_is_not_overwritten(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.path.mkdir()
    run.write_manifest({"status": "complete", "config": {}})
    with pytest.raises(FtevalError, match="complete run"):
        run.open_for({})


def test_resume_refuses_data_that_changed_since_the_run_started(tmp_path):
    task = write_task(tmp_path, intent_rows(30))
    out = tmp_path / "run"
    assert subprocess.run(command(task, out), capture_output=True, timeout=120).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"] = "running"
    (out / "manifest.json").write_text(json.dumps(manifest))
    lines_kept = (out / "samples.jsonl").read_text().splitlines()[:6]
    (out / "samples.jsonl").write_text("\n".join(lines_kept) + "\n")
    rows = intent_rows(30)
    for row in rows:
        row["label"] = "login"
    write_task(tmp_path, rows)
    again = subprocess.run(command(task, out), capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert "data of task 'intents' changed" in again.stderr


def test_a_damaged_line_in_the_middle_is_named(tmp_path):
    from fteval.records import read_jsonl

    path = tmp_path / "samples.jsonl"
    path.write_text('{"a": 1}\n{"b": \n{"c": 3}\n')
    with pytest.raises(FtevalError, match=r"samples.jsonl, line 2"):
        list(read_jsonl(path))

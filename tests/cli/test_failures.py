"""Failures leave a clean state: a failed ``score`` marks its manifest; a bug is exit 1 with
one line on stderr and the traceback in the run directory's fteval.log (or on stderr with
``--verbose``)."""

from __future__ import annotations

import json

import pytest

import fteval.pipeline.run as runner
import fteval.pipeline.score_files as score_files
from fteval.errors import OutputError
from tests.cli.test_hostile_inputs import invoke
from tests.conftest import intent_rows, write_jsonl, write_task


def _preds(tmp_path):
    rows = [{"id": i, "prediction": "a", "reference": "ab"[i % 2]} for i in range(4)]
    return str(write_jsonl(tmp_path / "p.jsonl", rows))


def _boom(*args, **kwargs):
    raise RuntimeError("boom\nsecond line")


def test_a_bug_in_score_is_exit_1_in_one_line_with_the_traceback_in_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(score_files, "build_results", _boom)
    out = tmp_path / "run"
    code, _, err = invoke(["score", _preds(tmp_path), "--metric", "acc", "--out", str(out)])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "internal error" in lines[0] and "RuntimeError: boom second line" in lines[0]
    assert f"the traceback is in {out / 'fteval.log'}" in lines[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == "RuntimeError: boom\nsecond line"
    log = (out / "fteval.log").read_text()
    assert "Traceback (most recent call last)" in log and "_boom" in log
    assert not (out / "results.json").exists()


def test_verbose_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(score_files, "build_results", _boom)
    argv = ["score", _preds(tmp_path), "--metric", "acc", "--out", str(tmp_path / "run")]
    code, _, err = invoke([*argv, "--verbose"])
    assert code == 1
    assert "Traceback (most recent call last)" in err and "_boom" in err
    assert err.strip().splitlines()[-1].startswith("fteval: internal error")


def test_a_bug_before_any_run_directory_points_to_verbose(tmp_path, monkeypatch):
    monkeypatch.setattr(score_files, "load_samples", _boom)
    code, _, err = invoke(["score", _preds(tmp_path), "--metric", "acc", "--out",
                           str(tmp_path / "run")])  # fmt: skip
    assert code == 1
    assert "the traceback is shown with --verbose" in err
    assert not (tmp_path / "run").exists()


def test_a_write_error_in_score_is_exit_2_and_marks_the_manifest_failed(tmp_path, monkeypatch):
    def refuse(self, results):
        raise OutputError(f"cannot write {self.path / 'results.json'}: No space left on device")

    monkeypatch.setattr(score_files.RunDirectory, "write_results", refuse)
    out = tmp_path / "run"
    code, _, err = invoke(["score", _preds(tmp_path), "--metric", "acc", "--out", str(out)])
    assert code == 2
    assert "No space left on device" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "No space left" in manifest["error"]


def test_a_metric_that_refuses_the_data_leaves_no_run_directory(tmp_path, monkeypatch):
    from fteval.metrics.text import ExactMatch

    def refuse(self, targets, predictions):
        raise ValueError("exact_match: item 0 cannot be scored")

    monkeypatch.setattr(ExactMatch, "item_stats", refuse)
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "prediction": "x", "reference": "y"}])
    code, _, err = invoke(["score", str(path), "--metric", "exact_match",
                           "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    assert "p.jsonl: cannot be scored: exact_match: item 0 cannot be scored" in err
    assert not (tmp_path / "run").exists()


def test_a_bug_in_a_run_is_exit_1_with_the_log_in_the_run_directory(tmp_path, monkeypatch):
    task = write_task(tmp_path, intent_rows(6))
    monkeypatch.setattr(runner, "build_results", _boom)
    out = tmp_path / "run"
    code, _, err = invoke(["run", "--backend", "fake", "--base", "b", "--task", str(task),
                           "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 1
    assert f"the traceback is in {out / 'fteval.log'}" in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
    assert "Traceback" in (out / "fteval.log").read_text()


@pytest.mark.parametrize("command", ["score", "check", "split", "run", "demo"])
def test_every_command_takes_verbose(command):
    import argparse

    from fteval.cli import _parser

    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "--verbose" in sub.choices[command]._option_string_actions

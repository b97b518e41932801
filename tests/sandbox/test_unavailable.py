"""Without a usable bubblewrap, code runs only with an explicit unsafe flag."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fteval.sandbox import (
    Isolation,
    Outcome,
    Sandbox,
    SandboxLimits,
    SandboxUnavailableError,
    evaluate_code_samples,
)
from tests.conftest import write_jsonl
from tests.sandbox.conftest import processes_with, run_then_kill_the_evaluator

pytestmark = pytest.mark.sandbox


def test_a_missing_bwrap_refuses_execution_and_says_how_to_install(tmp_path: Path):
    missing = str(tmp_path / "no-such-bwrap")
    with pytest.raises(SandboxUnavailableError) as caught:
        Sandbox(bwrap_path=missing)
    message = str(caught.value)
    assert missing in message
    assert "apt-get install bubblewrap" in message
    assert "dnf install bubblewrap" in message
    assert "allow_unsafe=True" in message
    assert "--allow-unsafe-execution" in message


def test_the_bwrap_path_can_come_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FTEVAL_BWRAP", str(tmp_path / "no-such-bwrap"))
    with pytest.raises(SandboxUnavailableError, match="no-such-bwrap"):
        Sandbox()


def test_an_unusable_bwrap_is_detected_by_the_probe(tmp_path: Path):
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailableError, match="uid map: Permission denied"):
        Sandbox(bwrap_path=str(fake))


def test_allow_unsafe_runs_with_limits_only_and_records_no_isolation(tmp_path: Path):
    unsafe = Sandbox(
        SandboxLimits(timeout_s=5.0), allow_unsafe=True, bwrap_path=str(tmp_path / "missing")
    )
    assert unsafe.isolation is Isolation.NONE
    passed, failed = unsafe.run_many(["print('hello')", "raise ValueError('no')"])
    assert passed.outcome is Outcome.PASSED and passed.stdout == "hello\n"
    assert passed.isolation is Isolation.NONE
    assert failed.outcome is Outcome.FAILED and "ValueError: no" in failed.stderr


def test_allow_unsafe_still_enforces_the_timeout_and_kills_detached_children(tmp_path: Path):
    marker = f"fteval-unsafe-{uuid.uuid4().hex}"
    unsafe = Sandbox(
        SandboxLimits(timeout_s=1.5), allow_unsafe=True, bwrap_path=str(tmp_path / "missing")
    )
    result = unsafe.run(
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)',"
        f" {marker!r}])\n"
        "    os._exit(0)\n"
        "while True:\n"
        "    pass\n"
    )
    assert result.outcome is Outcome.TIMEOUT, result
    assert processes_with(marker) == []


def test_code_scoring_refuses_without_bwrap_unless_unsafe_is_allowed(tmp_path: Path):
    problems = write_jsonl(
        tmp_path / "problems.jsonl",
        [
            {
                "task_id": "t/0",
                "prompt": "def f():\n",
                "test": "def check(f):\n    assert f() == 1\n",
                "entry_point": "f",
            }
        ],
    )
    samples = write_jsonl(
        tmp_path / "samples.jsonl", [{"task_id": "t/0", "completion": "    return 1\n"}]
    )
    missing = str(tmp_path / "missing")
    with pytest.raises(SandboxUnavailableError):
        evaluate_code_samples(problems, samples, k=(1,), bwrap_path=missing)
    result = evaluate_code_samples(problems, samples, k=(1,), bwrap_path=missing, allow_unsafe=True)
    assert result.isolation is Isolation.NONE
    assert result.pass_at_k == {"pass@1": 1.0}
    assert "isolation:none" in result.signature


def test_unsafe_runs_also_die_with_the_evaluating_process(tmp_path: Path):
    marker = f"fteval-unsafe-orphan-{uuid.uuid4().hex}"
    missing = str(tmp_path / "missing")
    args = f"allow_unsafe=True, bwrap_path={missing!r}"
    assert run_then_kill_the_evaluator(marker, args) == []

"""The sandbox's ordinary behaviour: outcomes, excerpts, parallel runs in input order."""

from __future__ import annotations

import time

import pytest

from fteval.sandbox import (
    ExecutionResult,
    Isolation,
    Outcome,
    Sandbox,
    SandboxLimits,
    _runner,
)

pytestmark = pytest.mark.sandbox


def test_a_passing_program_records_its_output(sandbox):
    result = sandbox.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert isinstance(result, ExecutionResult)
    assert result.outcome is Outcome.PASSED and result.passed
    assert (result.exit_code, result.signal) == (0, None)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert not result.stdout_truncated and not result.stderr_truncated
    assert result.isolation is Isolation.BUBBLEWRAP
    assert result.duration_s > 0 and result.cpu_s is not None


def test_the_program_runs_unprivileged_in_a_private_work_dir(sandbox):
    result = sandbox.run(
        "import os\nprint(os.getuid() != 0, os.getcwd(), os.listdir('.'), os.getpid())\n"
    )
    assert result.stdout.split()[:3] == ["True", "/tmp", "['program.py']"]


@pytest.mark.parametrize(
    ("source", "outcome", "exit_code", "signal"),
    [
        ("raise SystemExit(3)", Outcome.FAILED, 3, None),
        ("assert 1 == 2", Outcome.FAILED, 1, None),
        ("def broken(:\n", Outcome.FAILED, 1, None),
        ("import os\nos.kill(os.getpid(), 11)", Outcome.CRASH, None, 11),
        ("import os\nos.abort()", Outcome.CRASH, None, 6),
    ],
)
def test_each_ending_gets_exactly_one_outcome(sandbox, source, outcome, exit_code, signal):
    result = sandbox.run(source)
    assert result.outcome is outcome, result
    assert (result.exit_code, result.signal) == (exit_code, signal)
    assert result.detail


def test_exit_fails_counts_an_early_exit_as_a_failure(sandbox):
    source = "import sys\nsys.exit(0)\nassert False\n"
    assert sandbox.run(source).outcome is Outcome.PASSED
    strict = sandbox.run(source, exit_fails=True)
    assert strict.outcome is Outcome.FAILED
    assert "SystemExit(0)" in strict.stderr


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    import os; os._exit(0)\n\ndef check(c):\n    assert c(1) == 2\ncheck(f)\n",
        "import atexit, os\natexit.register(lambda: os._exit(0))\nassert False\n",
        "import os, threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), os._exit(0))).start()\n"
        "assert False\n",
    ],
    ids=["os._exit-before-the-tests", "atexit-hook", "thread-exits-late"],
)
def test_exit_fails_does_not_let_code_fake_a_pass(sandbox, source):
    result = sandbox.run(source, exit_fails=True)
    assert result.outcome is Outcome.FAILED, result
    completed = sandbox.run("x = 1\n", exit_fails=True)
    assert completed.outcome is Outcome.PASSED


def test_stderr_keeps_its_tail_and_says_it_was_cut(bwrap_ok):
    sandbox = Sandbox(SandboxLimits(timeout_s=5.0, excerpt_chars=100))
    result = sandbox.run("import sys\nsys.stderr.write('a' * 5000 + 'THE END')\nsys.exit(1)")
    assert result.stderr.endswith("THE END") and len(result.stderr) == 100
    assert result.stderr_truncated and result.outcome is Outcome.FAILED


def test_results_come_back_in_input_order_and_a_slow_program_blocks_no_other(bwrap_ok):
    sandbox = Sandbox(SandboxLimits(timeout_s=20.0), max_workers=2)
    sources = ["import time\ntime.sleep(4)\nprint('slow')"]
    sources += [f"print({i})" for i in range(6)]
    finished: list[tuple[int, float]] = []
    start = time.monotonic()
    results = sandbox.run_many(
        sources, on_result=lambda i, r: finished.append((i, time.monotonic() - start))
    )
    assert [r.stdout for r in results] == ["slow\n"] + [f"{i}\n" for i in range(6)]
    done_at = dict(finished)
    assert max(done_at[i] for i in range(1, 7)) < done_at[0]  # all fast ones finished first


def test_run_many_of_nothing_is_empty(sandbox):
    assert sandbox.run_many([]) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout_s": 0},
        {"timeout_s": float("inf")},
        {"memory_mb": 10},
        {"max_processes": 1},
        {"max_output_bytes": 10},
        {"cpu_s": -1.0},
    ],
)
def test_limits_out_of_range_are_rejected_with_the_value(bad):
    with pytest.raises(ValueError, match="out of range"):
        SandboxLimits(**bad)


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError, match="max_workers"):
        Sandbox(max_workers=0)


def test_results_serialise_to_json_ready_dicts(sandbox):
    record = sandbox.run("print('x')").to_dict()
    assert record["outcome"] == "passed" and record["isolation"] == "bubblewrap"
    assert record["passed"] is True


def test_the_cpu_time_limit_ends_as_timeout(bwrap_ok):
    sandbox = Sandbox(SandboxLimits(timeout_s=30.0, cpu_s=1.0))
    result = sandbox.run("while True:\n    pass\n")
    assert result.outcome is Outcome.TIMEOUT, result
    assert "CPU-time limit" in result.detail
    assert result.duration_s < 15


def test_the_file_size_limit_ends_as_output_limit(bwrap_ok):
    sandbox = Sandbox(SandboxLimits(timeout_s=10.0, max_file_mb=1))
    result = sandbox.run("open('big', 'wb').write(b'x' * 2 * 1024 * 1024)\n")
    assert result.outcome is Outcome.OUTPUT_LIMIT, result
    assert "file-size limit" in result.detail


def test_a_bwrap_failure_on_one_run_is_sandbox_unavailable():
    capture = _runner._Capture(
        returncode=1,
        duration_s=0.01,
        stdout=b"",
        stderr=b"bwrap: Creating new namespace failed: No space left on device\n",
        stdout_total=0,
        stderr_total=62,
        status=None,
        killed_for=None,
    )
    plan = _runner.RunPlan(Isolation.BUBBLEWRAP, "/usr/bin/python3", bwrap=object())  # type: ignore[arg-type]
    result = _runner._classify(capture, plan, SandboxLimits())
    assert result.outcome is Outcome.SANDBOX_UNAVAILABLE
    assert "No space left on device" in result.detail

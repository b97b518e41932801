"""Escape attempts: each is contained by the sandbox and labelled with an outcome."""

from __future__ import annotations

import resource
import socket
import textwrap
import uuid
from pathlib import Path

import pytest

from fteval.sandbox import Outcome, Sandbox, SandboxLimits
from tests.sandbox.conftest import processes_with, run_then_kill_the_evaluator

pytestmark = pytest.mark.sandbox


def program(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def test_files_outside_the_work_dir_cannot_be_written_or_deleted(sandbox, tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("original", encoding="utf-8")
    created = tmp_path / "created.txt"
    result = sandbox.run(
        program(f"""
        import os, sys
        def attempt(what, action):
            try:
                action()
                print(what, "DONE")
            except OSError as error:
                print(what, "BLOCKED", error.errno)
        attempt("overwrite", lambda: open({str(victim)!r}, "w").write("pwned"))
        attempt("delete", lambda: os.remove({str(victim)!r}))
        attempt("create", lambda: open({str(created)!r}, "w").write("pwned"))
        attempt("prefix", lambda: open(os.path.join(sys.prefix, "fteval-escape"), "w"))
        attempt("stdlib", lambda: os.remove(os.__file__))
        attempt("usr", lambda: open("/usr/fteval-escape", "w"))
        open("inside.txt", "w").write("the work dir is writable")
        print(open("inside.txt").read())
        """)
    )
    assert result.outcome is Outcome.PASSED, result
    assert victim.read_text(encoding="utf-8") == "original"
    assert not created.exists()
    for what in ("overwrite", "delete", "create", "prefix", "stdlib", "usr"):
        assert f"{what} BLOCKED" in result.stdout
    assert Path(__import__("os").__file__).exists()
    assert "the work dir is writable" in result.stdout


def test_network_cannot_reach_a_loopback_listener_of_the_host(sandbox):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        result = sandbox.run(
            program(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                print("CONNECTED")
            except OSError as error:
                print("CONNECT-FAILED", error)
            """)
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert result.outcome is Outcome.PASSED, result
    assert "CONNECT-FAILED" in result.stdout


SHELL_SPAWNERS = {
    "os.system": "import os\nos.system(CMD)",
    "posix.system": "import posix\nposix.system(CMD)",
    "subprocess": "import subprocess\nsubprocess.run(CMD, shell=True)",
    "ctypes": "import ctypes\nctypes.CDLL(None).system(CMD.encode())",
    "reload-os": "import importlib, os\nos = importlib.reload(os)\nos.system(CMD)",
}


@pytest.mark.parametrize("how", sorted(SHELL_SPAWNERS))
def test_a_spawned_shell_cannot_write_outside_the_sandbox(sandbox, tmp_path: Path, how: str):
    marker = tmp_path / f"marker-{how}"
    command = f"echo SHELL-RAN; mkdir -p {tmp_path} && echo pwned > {marker}"
    result = sandbox.run(f"CMD = {command!r}\n" + SHELL_SPAWNERS[how])
    assert result.outcome is Outcome.PASSED, result
    assert "SHELL-RAN" in result.stdout  # the shell did run: containment is by isolation
    assert not marker.exists()


def test_the_parents_environment_is_not_readable(sandbox, monkeypatch):
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("FTEVAL_TEST_SECRET", secret)
    result = sandbox.run(
        program("""
        import os
        print(dict(os.environ))
        for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self"]:
            try:
                print(pid, open(f"/proc/{pid}/environ", "rb").read())
            except OSError as error:
                print(pid, "unreadable", error.errno)
        os.system("env; cat /proc/1/environ")
        """)
    )
    assert result.outcome is Outcome.PASSED, result
    assert "FTEVAL_TEST_SECRET" not in result.stdout + result.stderr
    assert secret not in result.stdout + result.stderr


def test_the_process_limit_is_enforced_for_each_sandbox(bwrap_ok):
    limited = Sandbox(SandboxLimits(timeout_s=10.0, max_processes=8))
    result = limited.run(
        program("""
        import os, time
        started = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                started += 1
        except OSError as error:
            print("FORKS", started, error.errno)
        """)
    )
    assert result.outcome is Outcome.PASSED, result
    started = int(result.stdout.split()[1])
    assert 1 <= started < 8  # the launcher and the program count too


def test_a_fork_bomb_is_contained(bwrap_ok):
    limited = Sandbox(SandboxLimits(timeout_s=2.0, max_processes=16))
    result = limited.run(
        program("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """)
    )
    assert result.outcome in (Outcome.CRASH, Outcome.FAILED, Outcome.TIMEOUT), result
    assert result.duration_s < 15


def test_a_memory_bomb_ends_as_oom(bwrap_ok):
    limited = Sandbox(SandboxLimits(timeout_s=10.0, memory_mb=256))
    result = limited.run(
        program("""
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
        """)
    )
    assert result.outcome is Outcome.OOM, result
    assert "MemoryError" in result.stderr


def test_a_loop_ignoring_signals_ends_as_timeout_and_is_killed(bwrap_ok):
    limited = Sandbox(SandboxLimits(timeout_s=1.5))
    result = limited.run(
        program("""
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            pass
        """)
    )
    assert result.outcome is Outcome.TIMEOUT, result
    assert result.duration_s < 1.5 + 5


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_an_output_flood_ends_as_output_limit_with_bounded_memory(bwrap_ok, stream: str):
    cap = 64 * 1024
    limited = Sandbox(SandboxLimits(timeout_s=20.0, max_output_bytes=cap, excerpt_chars=500))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = limited.run(f"import sys\nwhile True:\n    sys.{stream}.write('x' * 100000)\n")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.outcome is Outcome.OUTPUT_LIMIT, result
    assert len(getattr(result, stream)) == 500
    assert getattr(result, f"{stream}_truncated")
    assert result.duration_s < 5  # killed at the cap, long before the timeout
    assert rss_after - rss_before < 50 * 1024  # KiB: the flood was not buffered


def test_a_detached_grandchild_does_not_outlive_the_run(sandbox):
    marker = f"fteval-grandchild-{uuid.uuid4().hex}"
    result = sandbox.run(
        program(f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open("started", "w").close()
                os.execv(sys.executable,
                         [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
            os._exit(0)
        while not os.path.exists("started"):
            time.sleep(0.01)
        time.sleep(0.2)
        print("GRANDCHILD-STARTED")
        """)
    )
    assert result.outcome is Outcome.PASSED, result
    assert "GRANDCHILD-STARTED" in result.stdout
    assert processes_with(marker) == []


def test_the_sandbox_dies_with_the_evaluating_process(bwrap_ok):
    marker = f"fteval-orphan-{uuid.uuid4().hex}"
    assert run_then_kill_the_evaluator(marker, "") == []

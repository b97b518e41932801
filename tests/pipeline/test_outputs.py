"""Atomic outputs: a write error is a clear message and the previous files stay intact."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import intent_rows, write_task

LIMITED = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv = sys.argv[:1] + sys.argv[2:]
    {body}
    """
)


def run_limited(limit: int, body: str, *args: str) -> subprocess.CompletedProcess:
    code = LIMITED.format(body=body)
    return subprocess.run(
        [sys.executable, "-c", code, str(limit), *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.invalid_results  # a stand-in file, not a run's results
def test_failed_atomic_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "results.json"
    target.write_text('{"old": true}\n')
    body = (
        "from fteval.records import atomic_write_json\n"
        "from fteval.errors import OutputError\n"
        "try:\n"
        f"    atomic_write_json({str(target)!r}, {{'big': 'x' * 100000}})\n"
        "except OutputError as e:\n"
        "    print(e)\n"
    )
    proc = run_limited(10_000, body)
    assert "cannot write" in proc.stdout and "previous file is unchanged" in proc.stdout
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


def test_run_that_cannot_write_exits_non_zero_with_a_clear_message(tmp_path):
    task = write_task(tmp_path, intent_rows(120))
    out = tmp_path / "run"
    body = "from fteval.cli import main\nsys.exit(main())"
    proc = run_limited(
        20_000, body, "run", "--backend", "fake", "--base", "b", "--adapter", "l=a",
        "--task", str(task), "--out", str(out), "--quiet", "--cache-dir", "off",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "fteval: error: cannot" in proc.stderr
    assert "Traceback" not in proc.stderr
    # a record outgrows the limit; the small manifest still records why
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"].startswith("OutputError: cannot ")
    assert f"{out}/" in manifest["error"] and "File too large" in manifest["error"]

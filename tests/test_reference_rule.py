"""Under ``make test`` (FTEVAL_REQUIRE_REFERENCES=1) a missing reference library fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def run_pytest(folder: Path, require: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "FTEVAL_REQUIRE_REFERENCES": "1" if require else "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
        capture_output=True, text=True, env=env, cwd=folder, timeout=120,
    )  # fmt: skip


def test_a_missing_reference_library_skips_by_hand_and_fails_under_make_test(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    shutil.copy(TESTS / "conftest.py", tests / "conftest.py")
    (tests / "test_reference.py").write_text(
        "import pytest\n"
        "def test_equals_the_reference():\n"
        "    assert pytest.importorskip('fteval_no_such_reference_library')\n"
    )
    by_hand = run_pytest(tmp_path, require=False)
    assert by_hand.returncode == 0 and "1 skipped" in by_hand.stdout
    required = run_pytest(tmp_path, require=True)
    assert required.returncode != 0
    assert "fteval_no_such_reference_library" in required.stdout
    assert "FTEVAL_REQUIRE_REFERENCES=1" in required.stdout

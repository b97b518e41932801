"""Under ``make test`` (FTEVAL_REQUIRE_REFERENCES=1) a missing reference library fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest

TESTS = Path(__file__).resolve().parent


def test_a_missing_reference_fails_instead_of_skipping_when_references_are_required(
    monkeypatch,
):
    with pytest.raises(pytest.fail.Exception, match="fteval_no_such_reference_library"):
        conftest._import_or_fail("fteval_no_such_reference_library")
    assert conftest._import_or_fail("json").__name__ == "json"
    monkeypatch.setattr(conftest, "REQUIRE_REFERENCES", False)
    with pytest.raises(pytest.skip.Exception, match="no WordNet"):
        conftest.skip_unless_required("no WordNet")
    monkeypatch.setattr(conftest, "REQUIRE_REFERENCES", True)
    with pytest.raises(pytest.fail.Exception, match="no WordNet"):
        conftest.skip_unless_required("no WordNet")


def test_make_tests_setting_turns_pytest_importorskip_into_a_failure(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    shutil.copy(TESTS / "conftest.py", tests / "conftest.py")
    (tests / "test_reference.py").write_text(
        "import pytest\n"
        "def test_equals_the_reference():\n"
        "    assert pytest.importorskip('fteval_no_such_reference_library')\n"
    )
    env = {**os.environ, "FTEVAL_REQUIRE_REFERENCES": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    required = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert required.returncode == 1, required.stdout
    assert "1 failed" in required.stdout
    assert "FTEVAL_REQUIRE_REFERENCES=1: reference libraries must be installed" in required.stdout

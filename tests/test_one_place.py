"""One place for each fact: the helpers below are the only code that does their job."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from fteval.cli import main
from fteval.records import ARM_KINDS
from tests.conftest import write_jsonl

SRC = Path(__file__).resolve().parents[1] / "src" / "fteval"


def _sources():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("needle", "home"),
    [
        ("int.from_bytes(", "_util/hashing.py"),  # hash -> number
        ("metadata.version(", "_util/versions.py"),  # installed versions
        ("targets and predictions differ", "metrics/base.py"),  # every metric's length check
        ('"kind": "base" if', None),  # arm records come from ArmSpec.record
        ('"kind": "model"', None),
    ],
)
def test_only_one_module_does_it(needle, home):
    found = [name for name, text in _sources() if needle in text]
    assert found == ([home] if home else []), found


def test_arm_record_dicts_are_built_in_one_place():
    builders = []
    for name, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if {"name", "kind", "group", "identity"} <= keys:
                    builders.append(name)
    assert builders == ["records/types.py"]


def test_a_scored_run_records_the_same_manifest_facts_as_a_model_run(tmp_path):
    rows = [{"id": i, "prediction": "a", "reference": "a"} for i in range(3)]
    a, b = write_jsonl(tmp_path / "a.jsonl", rows), write_jsonl(tmp_path / "b.jsonl", rows)
    assert (
        main(["score", str(a), str(b), "--metric", "exact_match", "--out", str(tmp_path / "r")])
        == 0
    )
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["kind"] == "score"
    assert {"python", "platform", "packages", "git_commit"} <= set(manifest["environment"])
    assert manifest["statistics"]["bootstrap_resamples"] == 2000
    assert [arm["kind"] for arm in manifest["arms"]] == ["base", "model"]
    assert set(ARM_KINDS) == {"base", "adapter", "full", "model", "form"}

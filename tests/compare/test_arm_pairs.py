"""Every pair of fine-tuned arms is compared (adapter vs adapter too), once, by the engine,
in a family of its own; the typed results answer any pair in either direction."""

from __future__ import annotations

import numpy as np
import pytest

from fteval.compare import StatsOptions
from fteval.compare.three_way import decided_comparisons
from fteval.metrics import Accuracy
from fteval.results import Results
from fteval.scoring import ArmStats

ARMS = [
    {"name": "base", "kind": "base"},
    {"name": "a", "kind": "adapter"},
    {"name": "b", "kind": "adapter"},
    {"name": "c", "kind": "adapter"},
]
OPTIONS = StatsOptions(bootstrap_resamples=300, permutations=300)


def table(rates: dict[str, float], n: int = 200) -> dict:
    rng = np.random.default_rng(0)
    chance = rng.random(n)
    ids = tuple(map(str, range(n)))
    return {
        ("t", arm, "acc"): ArmStats("t", arm, Accuracy(), ids, (chance < r).astype(float)[:, None])
        for arm, r in rates.items()
    }


def test_three_adapters_are_compared_pairwise_each_in_its_own_family():
    rows = decided_comparisons(table({"base": 0.3, "a": 0.8, "b": 0.6, "c": 0.59}), ARMS, OPTIONS)
    pairs = {(r["arm"], r["reference_arm"]): r for r in rows}
    assert set(pairs) == {
        ("a", "base"), ("b", "base"), ("c", "base"), ("a", "b"), ("a", "c"), ("b", "c"),
    }  # fmt: skip
    assert pairs[("a", "b")]["reference_kind"] == "adapter"
    assert pairs[("a", "b")]["correction_family"] == "task t: b→a (scores)"
    assert pairs[("a", "b")]["verdict"] == "improved" and pairs[("a", "b")]["delta"] > 0
    assert pairs[("b", "c")]["verdict"] == "no significant difference"


def test_any_pair_is_answered_either_way_round():
    rows = decided_comparisons(table({"base": 0.3, "a": 0.8, "b": 0.6, "c": 0.59}), ARMS, OPTIONS)
    results = Results.from_dict(
        {"arms": ARMS, "tasks": [], "scores": [], "comparisons": rows, "statistics": {}}
    )
    forward = results.comparison("t", "acc", "a", vs="b")
    backward = results.comparison("t", "acc", "b", vs="a")
    assert backward.delta == -forward.delta
    assert (backward.ci_low, backward.ci_high) == (-forward.ci_high, -forward.ci_low)
    assert backward.p_adjusted == forward.p_adjusted
    assert (forward.verdict, backward.verdict) == ("improved", "regressed")
    assert results.comparison("t", "acc", "c", vs="base").reference_arm == "base"
    with pytest.raises(KeyError, match="no comparison t/acc: a vs zzz"):
        results.comparison("t", "acc", "a", vs="zzz")

"""The last checkpoint against the best of a series: no verdict that the choice of the best
biased (the winner's curse), whether the best is chosen on the test items or on
validation."""

from __future__ import annotations

import numpy as np
import pytest

from fteval import engine, stats
from fteval.engine import ItemStats, StatsOptions
from fteval.metrics import Accuracy

OPTIONS = StatsOptions(bootstrap_resamples=300, permutations=300)


def series(matrix: np.ndarray) -> list[ItemStats]:
    ids = tuple(f"i{i}" for i in range(matrix.shape[1]))
    return [ItemStats(Accuracy(), ids, row.reshape(-1, 1).astype(float)) for row in matrix]


def interchangeable(rng: np.random.Generator, k: int = 10, n: int = 80) -> np.ndarray:
    """k checkpoints with the same per-item chance of being right: no real difference."""
    chance = rng.uniform(0.2, 0.9, n)
    return (rng.random((k, n)) < chance).astype(float)


def naive_regressed(items: list[ItemStats]) -> bool:
    """Pick the best on these items, then test last vs best as if it had been fixed."""
    values = [i.value for i in items]
    best = int(np.argmax(values))
    row = engine.compare(
        items[-1], items[best], OPTIONS, task="t", arm="last", reference_arm="best"
    )
    (decided,) = engine.adjust([row], OPTIONS)
    return decided.verdict == stats.REGRESSED


def selected_regressed(items: list[ItemStats]) -> bool:
    names = [f"step{i}" for i in range(len(items))]
    row = engine.compare_with_best(items, names, OPTIONS, task="t")
    (decided,) = engine.adjust([row], OPTIONS)
    return decided.verdict == stats.REGRESSED


def test_interchangeable_checkpoints_are_rarely_called_regressed():
    rng = np.random.default_rng(7)
    trials = [series(interchangeable(rng)) for _ in range(60)]
    selected = sum(selected_regressed(items) for items in trials)
    naive = sum(naive_regressed(items) for items in trials)
    assert selected <= 8  # P(Binomial(60, 0.05) > 8) < 0.01
    assert naive > selected  # the bias the selection-aware test removes


def test_a_last_checkpoint_that_really_is_worse_is_called_regressed():
    rng = np.random.default_rng(3)
    matrix = interchangeable(rng, k=5, n=200)
    matrix[-1] = matrix[-1] * (rng.random(200) < 0.5)  # the last loses half its right answers
    items = series(matrix)
    row = engine.compare_with_best(items, [f"s{i}" for i in range(5)], OPTIONS, task="t")
    assert row.test == "max_permutation" and row.p_value < 0.01
    assert row.delta == pytest.approx(items[-1].value - max(i.value for i in items))
    assert row.ci_low <= row.delta <= row.ci_high < 0
    assert "chosen on these items" in row.note
    (decided,) = engine.adjust([row], OPTIONS)
    assert decided.verdict == "regressed"


def test_a_last_checkpoint_that_is_the_best_has_nothing_to_lose():
    matrix = np.zeros((3, 40))
    matrix[:, :20] = 1.0
    matrix[2, 20:30] = 1.0  # the last is strictly the best
    items = series(matrix)
    row = engine.compare_with_best(items, ["a", "b", "c"], OPTIONS, task="t")
    assert row.reference_arm == "c" and row.delta == 0.0 and row.p_value == 1.0


def test_ties_go_to_the_later_checkpoint():
    assert engine.selection.best_index([0.5, 0.7, 0.7], higher_is_better=True) == 2
    assert engine.selection.best_index([3.0, 2.0, 2.0], higher_is_better=False) == 2
    assert engine.selection.best_index([float("nan"), 0.1], higher_is_better=True) == 1

"""Tests for fteval.stats.bootstrap: intervals, coverage, reproducibility, edge cases."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.stats

from fteval.metrics import F1, Accuracy, MeanMetric, Metric
from fteval.stats import BootstrapCI, _common, bootstrap_ci


class _Mean(MeanMetric):
    """The mean of a continuous per-item value (for tests)."""

    name: ClassVar[str] = "mean"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        return np.asarray(predictions, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return "mean"


class _SparseRatio(Metric):
    """``sum(x) / sum(y)``, undefined (NaN) unless ``sum(y) >= 2``: often NaN on resamples."""

    name: ClassVar[str] = "sparse_ratio"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        x, y = totals[..., 0], totals[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(y >= 2, x / np.where(y > 0, y, 1), np.nan)

    def signature(self) -> str:
        return "sparse_ratio"


class _DistinctShare(Metric):
    """Share of columns with a non-zero total; the full data is above every resample."""

    name: ClassVar[str] = "distinct_share"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        return (totals > 0).mean(axis=-1)

    def signature(self) -> str:
        return "distinct_share"


class _MultipleOfThree(MeanMetric):
    """A mean that is undefined unless the total is a multiple of 3 (2 resamples in 3)."""

    name: ClassVar[str] = "multiple_of_three"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        mean = super().from_totals(totals, n)
        return np.where(np.asarray(totals)[..., 0] % 3 == 0, mean, np.nan)

    def signature(self) -> str:
        return "multiple_of_three"


def _bernoulli(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 1)) < p).astype(np.float64)


def test_percentile_interval_equals_quantiles_of_index_resampled_scores() -> None:
    stats = _bernoulli(150, 0.6, seed=3)
    result = bootstrap_ci(Accuracy(), stats, n_resamples=400, seed=11)
    picks = np.random.default_rng(11).integers(0, 150, size=(400, 150), dtype=np.int32)
    replicates = stats[picks, 0].mean(axis=1)
    low, high = np.quantile(replicates, [0.025, 0.975])
    assert (result.low, result.high) == (low, high)
    assert result.se == pytest.approx(np.std(replicates, ddof=1), rel=1e-12)
    assert result.estimate == stats.mean()


def test_seeded_call_is_reproducible_bit_for_bit() -> None:
    metric = F1(labels=["a", "b", "c"])
    rng = np.random.default_rng(0)
    targets = rng.choice(["a", "b", "c"], 300)
    predictions = np.where(rng.random(300) < 0.7, targets, rng.choice(["a", "b", "c"], 300))
    stats = metric.item_stats(targets, predictions)
    for method in ("percentile", "bca"):
        first = bootstrap_ci(metric, stats, method=method, n_resamples=500, seed=42)
        second = bootstrap_ci(metric, stats, method=method, n_resamples=500, seed=42)
        assert first == second
        assert first.seed == 42
    other = bootstrap_ci(metric, stats, n_resamples=500, seed=43)
    assert (other.low, other.high) != (first.low, first.high)


@pytest.mark.parametrize("n_labels", [0, 3])  # 0: accuracy (gathered), 3: F1 (counted)
def test_block_size_does_not_change_the_result(
    n_labels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    if n_labels:
        metric: Metric = F1(labels=list(range(n_labels)))
        targets = rng.integers(0, n_labels, 300)
        stats = metric.item_stats(targets, np.where(rng.random(300) < 0.6, targets, 0))
    else:
        metric, stats = Accuracy(), _bernoulli(300, 0.4, seed=5)
    whole = bootstrap_ci(metric, stats, n_resamples=300, method="bca", seed=9)
    monkeypatch.setattr(_common, "_CHUNK_ELEMENTS", 1000)  # 3 resamples per block
    blocked = bootstrap_ci(metric, stats, n_resamples=300, method="bca", seed=9)
    assert blocked == whole


def test_counted_and_gathered_totals_agree() -> None:
    stats = np.random.default_rng(6).integers(0, 5, size=(70, 6)).astype(np.float64)
    gathered = _common.resampled_totals(stats[:, :3], 50, np.random.default_rng(1))
    counted = _common.resampled_totals(stats, 50, np.random.default_rng(1))
    np.testing.assert_array_equal(counted[:, :3], gathered)


def test_generator_seed_is_recorded_as_none() -> None:
    result = bootstrap_ci(Accuracy(), _bernoulli(50, 0.5, 1), seed=np.random.default_rng(1))
    assert result.seed is None
    assert result.signature() == "ci:percentile|conf:0.95|bs:2000|seed:none"


def test_bca_matches_scipy_bootstrap_within_monte_carlo_error() -> None:
    values = np.random.default_rng(2).exponential(size=80)  # skewed: BCa shifts the interval
    ours = bootstrap_ci(_Mean(), values[:, None], method="bca", n_resamples=4000, seed=0)
    theirs = scipy.stats.bootstrap(
        (values,), np.mean, method="BCa", n_resamples=4000, rng=np.random.default_rng(0)
    ).confidence_interval
    width = theirs.high - theirs.low
    assert abs(ours.low - theirs.low) < 0.05 * width
    assert abs(ours.high - theirs.high) < 0.05 * width
    percentile = bootstrap_ci(_Mean(), values[:, None], n_resamples=4000, seed=0)
    assert ours.high > percentile.high  # right skew moves BCa's interval up


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_coverage_is_close_to_nominal_on_simulated_bernoulli_data(method: str) -> None:
    true_p, n_items, n_datasets = 0.3, 200, 300
    rng = np.random.default_rng(2024)
    covered = 0
    for _ in range(n_datasets):
        stats = (rng.random((n_items, 1)) < true_p).astype(np.float64)
        result = bootstrap_ci(Accuracy(), stats, n_resamples=500, method=method, seed=rng)
        covered += result.low <= true_p <= result.high
    assert 0.92 <= covered / n_datasets <= 0.98


def test_no_items_gives_nan_estimate_and_interval() -> None:
    result = bootstrap_ci(Accuracy(), np.empty((0, 1)), method="bca")
    assert math.isnan(result.estimate) and math.isnan(result.low) and math.isnan(result.high)
    assert result.n_items == 0
    assert result.note == "no items"


def test_one_item_gives_its_score_and_no_interval() -> None:
    result = bootstrap_ci(Accuracy(), np.ones((1, 1)), method="bca")
    assert result.estimate == 1.0
    assert math.isnan(result.low) and math.isnan(result.high)
    assert "one item" in result.note


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_all_equal_items_give_a_zero_width_interval(method: str) -> None:
    result = bootstrap_ci(Accuracy(), np.ones((40, 1)), method=method, n_resamples=200)
    assert (result.estimate, result.low, result.high) == (1.0, 1.0, 1.0)
    assert result.se == 0.0
    assert result.method == method


def test_resamples_without_a_score_are_dropped_and_counted() -> None:
    stats = np.zeros((60, 2))
    stats[:, 0] = 1.0
    stats[:6, 1] = 1.0  # y on 6 items: a resample lacks two such items now and then
    result = bootstrap_ci(_SparseRatio(), stats, n_resamples=1000, method="bca", seed=4)
    assert 500 < result.n_valid < 1000
    assert "resamples gave no score" in result.note
    assert math.isfinite(result.low) and math.isfinite(result.high)


def test_mostly_undefined_resamples_give_no_interval() -> None:
    stats = np.zeros((90, 1))
    stats[:45] = 1.0  # total 45: the full data has a score
    result = bootstrap_ci(_MultipleOfThree(), stats, n_resamples=600, seed=1)
    assert math.isfinite(result.estimate)
    assert result.n_valid < 300  # about a third of the resamples have a score
    assert math.isnan(result.low) and math.isnan(result.high)
    assert "too few resamples" in result.note


def test_undefined_estimate_gives_no_interval() -> None:
    stats = np.zeros((50, 2))
    stats[:, 0] = 1.0  # y is never positive: the ratio is undefined everywhere
    result = bootstrap_ci(_SparseRatio(), stats, n_resamples=200, method="bca", seed=4)
    assert result.n_valid == 0
    assert math.isnan(result.estimate) and math.isnan(result.low) and math.isnan(result.high)
    assert "score undefined" in result.note


def test_bca_falls_back_to_percentile_when_every_resample_is_on_one_side() -> None:
    stats = np.eye(20)  # each resample misses some item unless it is a permutation
    result = bootstrap_ci(_DistinctShare(), stats, n_resamples=300, method="bca", seed=0)
    assert result.estimate == 1.0
    assert result.method == "percentile"
    assert "BCa fell back to percentile" in result.note
    assert result.high < 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stats": np.ones(5)}, ValueError, r"shape \[n_items, k\]"),
        ({"stats": np.array([[1.0], [np.nan]])}, ValueError, "row 1, column 0"),
        ({"confidence": 1.0}, ValueError, "confidence"),
        ({"method": "basic"}, ValueError, "method"),
        ({"n_resamples": 0}, ValueError, "n_resamples"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": "x"}, TypeError, "seed"),
    ],
)
def test_bad_input_raises_naming_the_value(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    call: dict[str, Any] = {"stats": np.ones((5, 1)), **kwargs}
    stats = call.pop("stats")
    with pytest.raises(error, match=match):
        bootstrap_ci(Accuracy(), stats, **call)


def test_result_is_frozen() -> None:
    result = bootstrap_ci(Accuracy(), _bernoulli(30, 0.5, 0), n_resamples=100)
    assert isinstance(result, BootstrapCI)
    with pytest.raises(AttributeError):
        result.low = 0.0  # type: ignore[misc]

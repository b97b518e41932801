"""Tests for fteval.stats.paired: paired bootstrap, McNemar, permutation test, test choice."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import f1_score

from fteval.metrics import F1, Accuracy, MeanMetric, Metric
from fteval.stats import (
    bootstrap_ci,
    choose_test,
    discordant_pairs,
    mcnemar_exact,
    paired_bootstrap_delta,
    paired_permutation_test,
    paired_test,
)


class _Mean(MeanMetric):
    """The mean of a continuous per-item value (for tests)."""

    name: ClassVar[str] = "mean"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        return np.asarray(predictions, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return "mean"


class _SacreBleu(Metric):
    """Corpus BLEU from sacrebleu's own sufficient statistics (test-only wrapper)."""

    name: ClassVar[str] = "bleu_test"

    def __init__(self) -> None:
        from sacrebleu.metrics import BLEU

        self._bleu = BLEU()

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        stats = self._bleu._extract_corpus_statistics(list(predictions), [list(targets)])
        return np.asarray(stats, dtype=np.float64)

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        rows = totals.reshape(-1, totals.shape[-1])
        values = [self._bleu._compute_score_from_stats(row.tolist()).score for row in rows]
        return np.asarray(values).reshape(totals.shape[:-1])

    def signature(self) -> str:
        return str(self._bleu.get_signature())


def _correlated_bernoulli(
    n: int, p_a: float, p_b: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Paired 0/1 outcomes with marginals p_a, p_b and strong positive correlation."""
    u = rng.random(n)
    noise = rng.random(n) < 0.2
    v = np.where(noise, rng.random(n), u)
    return (u < p_a).astype(np.float64)[:, None], (v < p_b).astype(np.float64)[:, None]


# --- paired bootstrap -------------------------------------------------------------------


def test_identical_arms_give_zero_delta_and_zero_width_interval() -> None:
    stats = (np.random.default_rng(0).random((100, 1)) < 0.5).astype(np.float64)
    result = paired_bootstrap_delta(Accuracy(), stats, stats.copy(), method="bca", seed=1)
    assert (result.delta, result.low, result.high) == (0.0, 0.0, 0.0)


def test_paired_resamples_are_the_single_arm_resamples() -> None:
    stats = (np.random.default_rng(1).random((120, 1)) < 0.6).astype(np.float64)
    zeros = np.zeros_like(stats)
    paired = paired_bootstrap_delta(Accuracy(), stats, zeros, n_resamples=700, seed=5)
    single = bootstrap_ci(Accuracy(), stats, n_resamples=700, seed=5)
    assert (paired.delta, paired.low, paired.high) == (single.estimate, single.low, single.high)
    assert (paired.score_a, paired.score_b) == (single.estimate, 0.0)


def test_paired_interval_is_narrower_than_unpaired_for_correlated_arms() -> None:
    a, b = _correlated_bernoulli(300, 0.7, 0.65, np.random.default_rng(3))
    paired = paired_bootstrap_delta(Accuracy(), a, b, seed=0)
    se_a = bootstrap_ci(Accuracy(), a, seed=1).se
    se_b = bootstrap_ci(Accuracy(), b, seed=2).se
    assert paired.se < 0.8 * math.hypot(se_a, se_b)


def test_paired_bootstrap_is_reproducible_bit_for_bit() -> None:
    metric = F1(labels=[0, 1, 2])
    rng = np.random.default_rng(4)
    targets = rng.integers(0, 3, 250)
    a = metric.item_stats(targets, np.where(rng.random(250) < 0.7, targets, 0))
    b = metric.item_stats(targets, np.where(rng.random(250) < 0.6, targets, 1))
    first = paired_bootstrap_delta(metric, a, b, method="bca", n_resamples=400, seed=8)
    assert first == paired_bootstrap_delta(metric, a, b, method="bca", n_resamples=400, seed=8)
    assert first.low < first.delta < first.high


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_paired_delta_coverage_is_close_to_nominal(method: str) -> None:
    p_a, p_b, n_items, n_datasets = 0.7, 0.62, 200, 300
    rng = np.random.default_rng(77)
    covered = 0
    for _ in range(n_datasets):
        a, b = _correlated_bernoulli(n_items, p_a, p_b, rng)
        result = paired_bootstrap_delta(Accuracy(), a, b, n_resamples=500, method=method, seed=rng)
        covered += result.low <= p_a - p_b <= result.high
    assert 0.92 <= covered / n_datasets <= 0.98


def test_paired_bootstrap_degenerate_sizes_do_not_crash() -> None:
    empty = paired_bootstrap_delta(Accuracy(), np.empty((0, 1)), np.empty((0, 1)))
    assert math.isnan(empty.delta) and math.isnan(empty.low)
    one = paired_bootstrap_delta(Accuracy(), np.ones((1, 1)), np.zeros((1, 1)))
    assert one.delta == 1.0 and math.isnan(one.low) and math.isnan(one.high)


def test_paired_bootstrap_rejects_mismatched_items() -> None:
    with pytest.raises(ValueError, match=r"stats_a has shape \(5, 1\), stats_b has shape"):
        paired_bootstrap_delta(Accuracy(), np.ones((5, 1)), np.ones((6, 1)))


# --- McNemar ----------------------------------------------------------------------------


@pytest.mark.parametrize(("b", "c"), [(0, 1), (1, 0), (3, 9), (9, 3), (10, 10), (0, 25), (40, 61)])
def test_mcnemar_equals_scipy_binomtest_on_discordant_pairs(b: int, c: int) -> None:
    both, neither = 7, 4
    a_out = np.array([1] * b + [0] * c + [1] * both + [0] * neither)
    b_out = np.array([0] * b + [1] * c + [1] * both + [0] * neither)
    order = np.random.default_rng(b * 100 + c).permutation(len(a_out))
    a_out, b_out = a_out[order], b_out[order]
    assert discordant_pairs(a_out, b_out) == (b, c)
    expected = scipy.stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(a_out, b_out) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("k", "n"),
    [(0, 1), (1, 1), (3, 10), (40, 100), (900, 2000), (0, 5000), (20_000, 40_000),
     (19_990, 40_001), (7, 40_001)],
)  # fmt: skip
def test_the_binomial_tail_equals_scipys_on_both_sides_of_the_exact_limit(k: int, n: int) -> None:
    from fteval.stats.paired import EXACT_BINOMIAL_MAX_N, binomial_half_cdf

    assert (n > EXACT_BINOMIAL_MAX_N) == (n == 40_001)
    assert binomial_half_cdf(k, n) == pytest.approx(scipy.stats.binom.cdf(k, n, 0.5), rel=1e-12)


def test_mcnemar_is_one_without_discordant_pairs() -> None:
    outcomes = np.array([1, 0, 1, 1])
    assert mcnemar_exact(outcomes, outcomes) == 1.0
    assert mcnemar_exact(np.array([]), np.array([])) == 1.0


def test_mcnemar_accepts_column_vectors_and_rejects_non_binary_values() -> None:
    a = np.array([[1.0], [0.0], [1.0]])
    assert mcnemar_exact(a, np.zeros((3, 1))) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"item 1 is 0\.5"):
        mcnemar_exact(np.array([1.0, 0.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="outcomes_a has 2, outcomes_b has 3"):
        mcnemar_exact(np.array([1, 0]), np.array([1, 0, 1]))


# --- permutation test -------------------------------------------------------------------


def _scipy_exact_p(a: np.ndarray, b: np.ndarray) -> float:
    result = scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf,
        vectorized=True,
        alternative="two-sided",
    )
    return float(result.pvalue)


@pytest.mark.parametrize("kind", ["integer", "continuous"])
def test_exact_permutation_p_equals_scipy_for_a_mean_metric(kind: str) -> None:
    rng = np.random.default_rng(12)
    for _ in range(5):
        if kind == "integer":  # many ties with the observed statistic
            a, b = rng.integers(0, 4, 11).astype(float), rng.integers(0, 4, 11).astype(float)
        else:
            a, b = rng.normal(0.3, 1, 11), rng.normal(0, 1, 11)
        ours = paired_permutation_test(_Mean(), a[:, None], b[:, None])
        assert ours.exact and ours.seed is None
        assert ours.n_resamples == 2 ** int(np.count_nonzero(a != b))
        assert ours.p_value == pytest.approx(_scipy_exact_p(a, b), rel=1e-12)


def test_exact_permutation_p_equals_brute_force_for_macro_f1() -> None:
    labels = ["x", "y", "z"]
    metric = F1(labels=labels)
    rng = np.random.default_rng(21)
    targets = list(rng.choice(labels, 14))
    pred_a = [t if rng.random() < 0.8 else "y" for t in targets]
    pred_b = [t if rng.random() < 0.5 else "x" for t in targets]
    ours = paired_permutation_test(
        metric, metric.item_stats(targets, pred_a), metric.item_stats(targets, pred_b)
    )
    assert ours.exact

    def f1(predictions: list[str]) -> float:
        return f1_score(targets, predictions, labels=labels, average="macro", zero_division=0)

    observed = abs(f1(pred_a) - f1(pred_b))
    differ = [i for i in range(len(targets)) if pred_a[i] != pred_b[i]]
    extreme = 0
    for pattern in itertools.product([False, True], repeat=len(differ)):
        x, y = list(pred_a), list(pred_b)
        for i, swap in zip(differ, pattern, strict=True):
            if swap:
                x[i], y[i] = y[i], x[i]
        extreme += abs(f1(x) - f1(y)) >= observed - 1e-12
    assert ours.p_value == pytest.approx(extreme / 2 ** len(differ), rel=1e-12)


def test_sampled_permutation_p_agrees_with_scipy_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(0.25, 1, 60)
    b = rng.normal(0.0, 1, 60) + 0.5 * a
    ours = paired_permutation_test(_Mean(), a[:, None], b[:, None], n_resamples=20_000, seed=3)
    assert not ours.exact and ours.n_resamples == 20_000 and ours.seed == 3
    theirs = scipy.stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="samples",
        n_resamples=20_000,
        vectorized=True,
        rng=np.random.default_rng(4),
    ).pvalue
    p = (ours.p_value + theirs) / 2
    assert 0.01 < p < 0.5  # a region where the comparison is informative
    assert abs(ours.p_value - theirs) < 4 * math.sqrt(2 * p * (1 - p) / 20_000)


def test_permutation_p_agrees_with_sacrebleu_paired_ar_on_corpus_bleu() -> None:
    pytest.importorskip("sacrebleu", reason="sacrebleu is in the fteval[metrics] extra")
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(60)]
    refs = [" ".join(rng.choice(vocab, rng.integers(6, 15))) for _ in range(80)]

    def noisy(sentence: str, rate: float) -> str:
        return " ".join(w if rng.random() > rate else rng.choice(vocab) for w in sentence.split())

    hyps_a = [noisy(r, 0.30) for r in refs]
    hyps_b = [noisy(r, 0.31) for r in refs]
    metric = _SacreBleu()
    trials = 5000
    ours = paired_permutation_test(
        metric,
        metric.item_stats(refs, hyps_a),
        metric.item_stats(refs, hyps_b),
        n_resamples=trials,
        seed=1,
    )
    _, scores = PairedTest(
        [("b", hyps_b), ("a", hyps_a)], {"BLEU": BLEU()}, [refs], test_type="ar", n_samples=trials
    )()
    system_a = scores["BLEU"][1]
    assert ours.delta == pytest.approx(system_a.score - scores["BLEU"][0].score, rel=1e-12)
    p = (ours.p_value + system_a.p_value) / 2
    assert 0.01 < p < 0.5
    assert abs(ours.p_value - system_a.p_value) < 4 * math.sqrt(2 * p * (1 - p) / trials)


def test_identical_arms_give_p_one() -> None:
    stats = np.random.default_rng(0).random((30, 1))
    result = paired_permutation_test(_Mean(), stats, stats.copy(), n_resamples=10)
    assert (result.p_value, result.delta, result.exact, result.n_resamples) == (1.0, 0.0, True, 1)


def test_sampled_p_value_is_never_below_one_over_trials_plus_one() -> None:
    a = np.ones((200, 1))
    b = np.zeros((200, 1))
    result = paired_permutation_test(Accuracy(), a, b, n_resamples=999, seed=0)
    assert result.p_value == pytest.approx(1 / 1000)


def test_permutation_test_is_reproducible_and_seed_dependent() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.1, 1, (80, 1)), rng.normal(0, 1, (80, 1))
    first = paired_permutation_test(_Mean(), a, b, n_resamples=3000, seed=2)
    assert first == paired_permutation_test(_Mean(), a, b, n_resamples=3000, seed=2)
    other = paired_permutation_test(_Mean(), a, b, n_resamples=3000, seed=3)
    assert other.p_value != first.p_value


def test_permutation_without_items_gives_nan() -> None:
    result = paired_permutation_test(_Mean(), np.empty((0, 1)), np.empty((0, 1)))
    assert math.isnan(result.p_value)
    assert result.note == "score undefined"


# --- test choice ------------------------------------------------------------------------


def test_choose_test_uses_mcnemar_for_binary_outcomes_only() -> None:
    assert choose_test(Accuracy()) == "mcnemar_exact"
    assert choose_test(Accuracy) == "mcnemar_exact"
    assert choose_test(F1(labels=[0, 1])) == "paired_permutation"
    assert choose_test(_Mean()) == "paired_permutation"


def test_paired_test_dispatches_on_the_metric() -> None:
    a, b = _correlated_bernoulli(150, 0.7, 0.6, np.random.default_rng(6))
    result = paired_test(Accuracy(), a, b)
    assert result.test == "mcnemar_exact" and result.exact
    assert result.p_value == mcnemar_exact(a, b)
    assert result.delta == pytest.approx(a.mean() - b.mean())
    continuous = paired_test(_Mean(), a + 0.5, b, n_resamples=500, seed=1)
    assert continuous.test == "paired_permutation"
    assert continuous.n_resamples == 500


def test_paired_test_without_items_gives_nan_for_either_test() -> None:
    empty = np.empty((0, 1))
    assert math.isnan(paired_test(Accuracy(), empty, empty).p_value)
    assert math.isnan(paired_test(_Mean(), empty, empty).p_value)

"""Paired comparisons of two arms scored on the same items.

Convention everywhere: ``a`` is the arm under test, ``b`` the reference arm, and
``delta = score(a) - score(b)`` in the metric's own units (for accuracy, a proportion;
multiply by ``metric.scale`` for percentage points). Row ``i`` of ``stats_a`` and
``stats_b`` must be the same item.

* ``paired_bootstrap_delta``: CI for the delta; each resample draws one set of item
  indices and uses it for both arms, so the per-item correlation between arms is kept.
* ``mcnemar_exact``: two-sided exact McNemar test for 0/1 outcomes.
* ``paired_permutation_test``: approximate randomisation (Noreen 1989; the test
  sacrebleu and multeval use). Exact enumeration when it is no more work than sampling.
* ``choose_test`` / ``paired_test``: McNemar for binary-outcome metrics, permutation
  otherwise.

p-value conventions (docs/statistics.md has the detail):

* permutation, sampled: ``p = (#{|d_perm| >= |d_obs|} + 1) / (n_valid + 1)``, where
  ``d_obs`` is the observed delta, the ``n_valid`` finite permuted deltas are counted,
  and ``>=`` uses a relative tolerance of 1e-12 of the scores' magnitude so rounding in
  the totals cannot turn a tie into a non-tie. sacrebleu's ``paired_ar`` uses a strict
  ``>`` (multeval's convention); the two differ only by permutations that tie exactly,
  which corpus BLEU almost never produces. A zero observed delta gives ``p = 1`` here.
* permutation, exact (when ``2**m <= n_resamples`` for the ``m`` items on which the arms'
  rows differ; the other items cannot change any permuted delta):
  ``p = #{|d_perm| >= |d_obs|} / 2**m`` over all ``2**m`` swap patterns, the identity
  included — ``scipy.stats.permutation_test``'s exact two-sided value for mean metrics.
* McNemar: ``p = min(1, 2 * Binom(b + c, 1/2).cdf(min(b, c)))``; 1.0 with no discordant
  pairs. The tail is summed in exact integers (then rounded once) up to
  ``EXACT_BINOMIAL_MAX_N`` discordant pairs, beyond that by ``scipy.stats.binom``; both
  equal ``scipy.stats.binomtest`` to 1e-12 (relative), and a typical run then never
  imports ``scipy.stats`` (half a second at start-up).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fteval.metrics.base import Metric
from fteval.stats import _common
from fteval.stats._common import SeedLike
from fteval.stats.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_N_RESAMPLES, DEFAULT_SEED

logger = logging.getLogger(__name__)

DEFAULT_N_PERMUTATIONS = 10_000
"""Approximate-randomisation trials (sacrebleu's default too). The Monte-Carlo standard
error of a p-value near 0.05 is then about 0.002."""

MCNEMAR_EXACT = "mcnemar_exact"
PAIRED_PERMUTATION = "paired_permutation"


@dataclass(frozen=True)
class PairedDelta:
    """A paired difference ``score(a) - score(b)`` with its bootstrap interval.

    Attributes:
        delta: ``score_a - score_b`` in the metric's own units (NaN when undefined).
        low: lower end of the interval for the delta (NaN when no interval exists).
        high: upper end of the interval for the delta (NaN when no interval exists).
        score_a: the metric on all items for arm ``a``.
        score_b: the metric on all items for arm ``b``.
        method: ``"percentile"`` or ``"bca"`` — the method actually used.
        confidence: nominal coverage, in (0, 1).
        n_resamples: bootstrap resamples drawn (the same item indices for both arms).
        seed: the integer seed, or None when a Generator was passed.
        n_items: items compared.
        n_valid: resamples whose delta was finite.
        se: bootstrap standard error of the delta (ddof=1), metric units.
        note: empty, or why the interval is degenerate or fell back.
    """

    delta: float
    low: float
    high: float
    score_a: float
    score_b: float
    method: str
    confidence: float
    n_resamples: int
    seed: int | None
    n_items: int
    n_valid: int
    se: float
    note: str = ""

    def signature(self) -> str:
        """How the interval was computed, e.g. ``paired-ci:bca|conf:0.95|bs:2000|seed:0``."""
        seed = "none" if self.seed is None else str(self.seed)
        return f"paired-ci:{self.method}|conf:{self.confidence:g}|bs:{self.n_resamples}|seed:{seed}"


@dataclass(frozen=True)
class PairedTestResult:
    """The outcome of a paired significance test of ``a`` against ``b``.

    Attributes:
        test: ``"mcnemar_exact"`` or ``"paired_permutation"``.
        p_value: two-sided p-value in (0, 1]; NaN when the delta is undefined.
        delta: ``score(a) - score(b)`` in the metric's own units.
        n_items: items compared.
        exact: True when the p-value is exact (McNemar, or full enumeration of swaps).
        n_resamples: permutations evaluated (``2**m`` when exact); None for McNemar.
        seed: the integer seed, or None (McNemar, exact enumeration, or a Generator).
        note: empty, or a remark on degenerate data.
    """

    test: str
    p_value: float
    delta: float
    n_items: int
    exact: bool
    n_resamples: int | None
    seed: int | None
    note: str = ""


def paired_bootstrap_delta(
    metric: Metric,
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    method: str = "percentile",
    seed: SeedLike = DEFAULT_SEED,
) -> PairedDelta:
    """Paired bootstrap interval for ``score(a) - score(b)``.

    Each resample draws one multiset of item indices and applies it to both arms. With
    the same int seed, the resamples are the ones ``bootstrap_ci`` draws for either arm
    alone (they depend only on the item count).

    Args:
        metric: the metric both arms were scored with.
        stats_a: per-item statistics of the arm under test, ``[n_items, k]``.
        stats_b: per-item statistics of the reference arm, same shape and item order.
        confidence: nominal coverage in (0, 1).
        n_resamples: bootstrap resamples (>= 1).
        method: ``"percentile"`` or ``"bca"`` (jackknife acceleration of the delta).
        seed: an int (recorded, reproducible) or a Generator.

    Returns:
        The delta and its interval in metric units; degenerate cases follow
        ``fteval.stats.bootstrap``'s policy (NaN end points for 0 or 1 items).

    Raises:
        ValueError: shapes differ, statistics are not finite, or an option is out of range.
        TypeError: ``seed`` is neither an int nor a Generator.
    """
    a, b = _common.as_paired_stats(stats_a, stats_b)
    confidence = _common.check_confidence(confidence)
    n_resamples = _common.check_count(n_resamples, name="n_resamples")
    method = _common.check_method(method)
    rng, seed_value = _common.make_rng(seed)
    n_items, k = a.shape

    score_a = _common.score(metric, a.sum(axis=0), n_items)
    score_b = _common.score(metric, b.sum(axis=0), n_items)
    delta = score_a - score_b

    def result(
        low: float, high: float, method: str, n_valid: int, se: float, note: str
    ) -> PairedDelta:
        return PairedDelta(
            delta, low, high, score_a, score_b, method, confidence, n_resamples,
            seed_value, n_items, n_valid, se, note,
        )  # fmt: skip

    if n_items == 0:
        return result(math.nan, math.nan, method, 0, math.nan, "no items")
    if n_items == 1:
        return result(
            math.nan, math.nan, method, 0, math.nan,
            "one item: sampling variability cannot be estimated",
        )  # fmt: skip

    totals = _common.resampled_totals(np.hstack([a, b]), n_resamples, rng)
    replicates = _common.scores(metric, totals[:, :k], n_items) - _common.scores(
        metric, totals[:, k:], n_items
    )
    jackknife = None
    if method == "bca":
        jackknife = _common.leave_one_out(metric, a) - _common.leave_one_out(metric, b)
    found = _common.interval(replicates, delta, jackknife, confidence=confidence, method=method)
    if found.note:
        logger.debug("paired_bootstrap_delta(%s): %s", metric.key, found.note)
    return result(found.low, found.high, found.method, found.n_valid, found.se, found.note)


def discordant_pairs(outcomes_a: np.ndarray, outcomes_b: np.ndarray) -> tuple[int, int]:
    """Counts of discordant pairs of 0/1 outcomes.

    Args:
        outcomes_a: 0/1 per item for arm ``a``, shape ``[n]`` or ``[n, 1]``.
        outcomes_b: 0/1 per item for arm ``b``, same items.

    Returns:
        ``(b, c)``: items right in ``a`` only, items right in ``b`` only (both >= 0).

    Raises:
        ValueError: lengths differ or a value is not 0 or 1.
    """
    a = _as_outcomes(outcomes_a, name="outcomes_a")
    b = _as_outcomes(outcomes_b, name="outcomes_b")
    if a.shape != b.shape:
        raise ValueError(
            f"paired outcomes must cover the same items: outcomes_a has {a.size}, "
            f"outcomes_b has {b.size}"
        )
    return int(np.count_nonzero(a & ~b)), int(np.count_nonzero(~a & b))


def mcnemar_exact(outcomes_a: np.ndarray, outcomes_b: np.ndarray) -> float:
    """Two-sided exact McNemar test for paired 0/1 outcomes.

    The test is a binomial test of the discordant pairs: under the null each of the
    ``b + c`` discordant items favours ``a`` with probability 1/2.

    Args:
        outcomes_a: 0/1 per item for arm ``a``, shape ``[n]`` or ``[n, 1]``.
        outcomes_b: 0/1 per item for arm ``b``, same items.

    Returns:
        ``min(1, 2 * Binom(b + c, 1/2).cdf(min(b, c)))`` in (0, 1]; 1.0 when there are no
        discordant pairs (including no items).

    Raises:
        ValueError: lengths differ or a value is not 0 or 1.
    """
    b, c = discordant_pairs(outcomes_a, outcomes_b)
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * binomial_half_cdf(min(b, c), b + c)))


# above this many trials the exact sum grows quadratically (0.05 s at 28,000)
EXACT_BINOMIAL_MAX_N = 40_000


def binomial_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), in [0, 1].

    Up to ``EXACT_BINOMIAL_MAX_N`` trials: sum_{i<=k} C(n, i) / 2**n in exact integers,
    rounded once to the nearest float; beyond it, ``scipy.stats.binom.cdf``.
    """
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n > EXACT_BINOMIAL_MAX_N:
        from scipy.stats import binom

        return float(binom.cdf(k, n, 0.5))
    term = total = 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        total += term
    return total / (1 << n)


def paired_permutation_test(
    metric: Metric,
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    *,
    n_resamples: int = DEFAULT_N_PERMUTATIONS,
    seed: SeedLike = DEFAULT_SEED,
) -> PairedTestResult:
    """Two-sided paired approximate-randomisation test for any metric.

    Under the null the arm labels are exchangeable within each item, so each trial swaps
    the two arms' statistic rows of every item with probability 1/2 and recomputes
    ``score(a') - score(b')`` from totals. Only the ``m`` items whose rows differ matter;
    when ``2**m <= n_resamples`` every swap pattern is enumerated and the p-value is
    exact (and does not depend on the seed).

    Args:
        metric: the metric both arms were scored with.
        stats_a: per-item statistics of the arm under test, ``[n_items, k]``.
        stats_b: per-item statistics of the reference arm, same shape and item order.
        n_resamples: random swap trials (>= 1); also the enumeration budget.
        seed: an int (recorded, reproducible) or a Generator.

    Returns:
        p-value in (0, 1] (conventions in the module docstring); NaN when the observed
        delta is undefined (e.g. no items).

    Raises:
        ValueError: shapes differ, statistics are not finite, or ``n_resamples`` < 1.
        TypeError: ``seed`` is neither an int nor a Generator.
    """
    a, b = _common.as_paired_stats(stats_a, stats_b)
    n_resamples = _common.check_count(n_resamples, name="n_resamples")
    rng, seed_value = _common.make_rng(seed)
    n_items = len(a)
    total_a, total_b = a.sum(axis=0), b.sum(axis=0)
    score_a = _common.score(metric, total_a, n_items)
    score_b = _common.score(metric, total_b, n_items)
    observed = score_a - score_b

    def result(p: float, exact: bool, trials: int, note: str = "") -> PairedTestResult:
        seed_used = None if exact else seed_value
        return PairedTestResult(
            PAIRED_PERMUTATION, p, observed, n_items, exact, trials, seed_used, note
        )

    if not math.isfinite(observed):
        return result(math.nan, False, n_resamples, "score undefined")
    differ = np.any(a != b, axis=1)
    gaps = (b - a)[differ]  # a swapped item moves gap from a's totals to b's
    m = len(gaps)
    tol = _common.REL_TOL * max(abs(score_a), abs(score_b), abs(observed))
    exact = m < 63 and 2**m <= n_resamples

    extreme = valid = 0
    for swaps in _swap_blocks(m, n_resamples, rng, exact=exact):
        moved = swaps @ gaps
        permuted = _common.scores(metric, total_a + moved, n_items) - _common.scores(
            metric, total_b - moved, n_items
        )
        finite = np.isfinite(permuted)
        valid += int(np.count_nonzero(finite))
        extreme += int(np.count_nonzero(np.abs(permuted[finite]) >= abs(observed) - tol))

    if exact:
        # The identity pattern is among those enumerated, so extreme >= 1 when it is finite.
        return result(extreme / valid if valid else math.nan, True, 2**m)
    note = "" if valid == n_resamples else f"{n_resamples - valid} trials gave no score"
    return result((extreme + 1) / (valid + 1), False, n_resamples, note)


def _swap_blocks(
    m: int, n_resamples: int, rng: np.random.Generator, *, exact: bool
) -> Iterator[np.ndarray]:
    """Yield 0/1 swap matrices ``[rows, m]``: all ``2**m`` patterns, or random ones."""
    trials = 2**m if exact else n_resamples
    step = _common.block_rows(m)
    bits = np.arange(m, dtype=np.int64)
    for start in range(0, trials, step):
        rows = min(step, trials - start)
        if exact:
            patterns = np.arange(start, start + rows, dtype=np.int64)[:, None]
            yield ((patterns >> bits) & 1).astype(np.float64)
        else:
            # One random byte gives eight fair swaps: 8x fewer generator calls.
            packed = rng.integers(0, 256, size=(rows, (m + 7) // 8), dtype=np.uint8)
            yield np.unpackbits(packed, axis=1, count=m).astype(np.float64)


def choose_test(metric: Metric | type[Metric]) -> str:
    """The paired test fteval uses for ``metric``.

    Returns:
        ``"mcnemar_exact"`` for binary-outcome metrics (one 0/1 value per item, score =
        mean), ``"paired_permutation"`` for every other metric.
    """
    return MCNEMAR_EXACT if getattr(metric, "binary_outcome", False) else PAIRED_PERMUTATION


def paired_test(
    metric: Metric,
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    *,
    n_resamples: int = DEFAULT_N_PERMUTATIONS,
    seed: SeedLike = DEFAULT_SEED,
) -> PairedTestResult:
    """Run the test ``choose_test(metric)`` picks on two arms' per-item statistics.

    Args:
        metric: the metric both arms were scored with.
        stats_a: per-item statistics of the arm under test, ``[n_items, k]``.
        stats_b: per-item statistics of the reference arm, same shape and item order.
        n_resamples: permutation trials (unused by McNemar).
        seed: an int or a Generator (unused by McNemar).

    Returns:
        The test's result; see ``mcnemar_exact`` and ``paired_permutation_test``. With no
        items the p-value is NaN for either test.
    """
    if choose_test(metric) == PAIRED_PERMUTATION:
        return paired_permutation_test(metric, stats_a, stats_b, n_resamples=n_resamples, seed=seed)
    a, b = _common.as_paired_stats(stats_a, stats_b)
    n_items = len(a)
    delta = _common.score(metric, a.sum(axis=0), n_items) - _common.score(
        metric, b.sum(axis=0), n_items
    )
    if n_items == 0:  # as the permutation test: no items, no p-value
        return PairedTestResult(MCNEMAR_EXACT, math.nan, delta, 0, True, None, None, "no items")
    return PairedTestResult(MCNEMAR_EXACT, mcnemar_exact(a, b), delta, n_items, True, None, None)


def _as_outcomes(outcomes: np.ndarray, *, name: str) -> np.ndarray:
    """0/1 outcomes ``[n]`` or ``[n, 1]`` as a boolean vector."""
    array = np.asarray(outcomes, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name}: 0/1 outcomes must have shape [n] or [n, 1], got {array.shape}")
    bad = ~((array == 0.0) | (array == 1.0))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{name}: outcomes must be 0 or 1; item {row} is {float(array[row])!r}")
    return array == 1.0

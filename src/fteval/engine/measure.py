"""One comparison of two arms' per-item statistics: delta, interval, test, p-value.

``compare`` is the one function that turns two arms' per-item statistics into a
``Comparison`` (before correction): items paired by id, the paired-bootstrap interval of
``delta = score(a) - score(b)`` with the run's interval method, the paired test that fits
the metric (``test_for``), and what the minimum detectable effect needs. Every
generator is seeded from the run's base seed and the two arms' statistics (``seed_for``),
never from names or order of work, so the same numbers get the same interval wherever
and however they are compared.

The correction, the significance rule and the verdict come after, for all comparisons
of a run at once (``engine.family.adjust``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from fteval import stats
from fteval._util.hashing import stable_int
from fteval.engine.items import ItemStats, PerItem, pair
from fteval.engine.options import StatsOptions
from fteval.metrics.base import Metric
from fteval.records.rows import Comparison


def seed_for(base: int, kind: str, *digests: str) -> int:
    """The seed of one interval or test: the base seed and the statistics it resamples."""
    return stable_int(base, kind, *digests)


def is_binary(metric: Metric, *arms: np.ndarray) -> bool:
    """Whether items are 0/1 outcomes, so that exact McNemar applies.

    The metric must say its items are 0/1 (``binary_outcome``) or may be
    (``outcome_may_be_binary``: an lm-evaluation-harness metric, where ``acc`` is and
    ``f1`` is not), and every item of every arm must be a single 0 or 1 (an item's mean
    over perturbed variants, 1/3 say, is not).
    """
    if not (metric.binary_outcome or metric.outcome_may_be_binary):
        return False
    return all(
        a.ndim == 2 and a.shape[1] == 1 and bool(np.all((a == 0.0) | (a == 1.0))) for a in arms
    )


def test_for(metric: Metric, a: np.ndarray, b: np.ndarray) -> str:
    """The paired test for two arms' statistics: exact McNemar for 0/1 outcomes, the paired
    permutation test otherwise."""
    return stats.MCNEMAR_EXACT if is_binary(metric, a, b) else stats.PAIRED_PERMUTATION


def compare(
    a: PerItem,
    b: PerItem,
    options: StatsOptions,
    *,
    task: str,
    arm: str,
    reference_arm: str,
    reference_kind: str = "base",
    section: str = "scores",
    subject: Mapping[str, str] | None = None,
    metric: Metric | None = None,
    family_pair: str = "",
) -> Comparison:
    """Compare arm ``a`` with reference ``b`` on the items both have (see the module docs).

    Args:
        a: the arm under test's per-item statistics.
        b: the reference's statistics of the same metric.
        options: the run's statistical settings.
        task: the task the items belong to (its family unit, see ``engine.family``).
        arm: the arm under test's name.
        reference_arm: the reference's name.
        reference_kind: the reference arm's kind.
        section: the results section the comparison belongs to.
        subject: what else identifies the comparison (a perturbation, a slice...).
        metric: the metric to compare with (default: ``a``'s).
        family_pair: overrides the arm pair in the family key (checkpoint series).

    Returns:
        An unadjusted ``Comparison``: ``p_adjusted`` NaN and ``verdict`` None until
        ``engine.family.adjust`` runs.
    """
    paired = pair(a, b)
    left, right = paired.a, paired.b
    metric = metric or left.metric
    if metric is not left.metric:
        left = ItemStats(metric, left.example_ids, left.stats)
        right = ItemStats(metric, right.example_ids, right.stats)
    seed = seed_for(options.seed, "paired", left.digest, right.digest)
    n = len(left.stats)
    delta = stats.paired_bootstrap_delta(
        metric, left.stats, right.stats,
        confidence=options.confidence, n_resamples=options.bootstrap_resamples,
        method=options.ci_method, seed=seed,
    )  # fmt: skip
    binary = is_binary(metric, left.stats, right.stats)
    if binary:
        p_value = stats.mcnemar_exact(left.stats[:, 0], right.stats[:, 0]) if n else math.nan
        test = stats.MCNEMAR_EXACT
        discordant = sum(stats.discordant_pairs(left.stats[:, 0], right.stats[:, 0]))
        discordance: float | None = discordant / max(1, n)
        test_id = f"{test}|{left.digest}|{right.digest}"
    else:
        result = stats.paired_permutation_test(
            metric, left.stats, right.stats, n_resamples=options.permutations, seed=seed
        )
        p_value, test, discordance = result.p_value, result.test, None
        test_id = f"{test}|{left.digest}|{right.digest}|{metric.signature()}"
    notes = [text for text in (paired.note, delta.note) if text]
    return Comparison(
        task=task,
        metric=metric.key,
        arm=arm,
        reference_arm=reference_arm,
        reference_kind=reference_kind,
        section=section,
        subject=dict(subject or {}),
        value=delta.score_a,
        reference_value=delta.score_b,
        delta=delta.delta,
        ci_low=delta.low,
        ci_high=delta.high,
        se=delta.se,
        p_value=p_value,
        test=test,
        n=n,
        scale=metric.scale,
        unit=metric.unit,
        higher_is_better=metric.higher_is_better,
        signature=f"{metric.signature()}|{delta.signature()}|test:{test}"
        f"|correction:{options.correction}|scope:{options.correction_scope}",
        note="; ".join(notes),
        discordance_rate=discordance,
        test_id=test_id,
        family_pair=family_pair,
    )


UNPAIRED_PERMUTATION = "unpaired_permutation"


def compare_groups(
    first: PerItem,
    second: PerItem,
    options: StatsOptions,
    *,
    task: str,
    arm: str,
    reference_arm: str,
    section: str,
    subject: Mapping[str, str] | None = None,
    family_pair: str = "",
) -> Comparison:
    """Compare one arm's scores on two *different* sets of items (no pairing exists).

    ``delta = score(first) - score(second)``. The interval resamples each set's items
    (a bootstrap over the pooled items with membership columns, so set sizes vary as
    they would under resampling; the run's interval method); the test permutes set
    membership (a two-sample permutation test of the difference in scores,
    ``unpaired_permutation``), keeping both sets' sizes.

    Returns:
        An unadjusted ``Comparison`` (``arm`` names the first set's owner, ``reference_arm``
        the second's; usually the same arm).
    """
    a, b = ItemStats.of(first), ItemStats.of(second)
    metric = a.metric
    gap = _GroupGap(metric, a.stats.shape[1])
    stacked = gap.stack(a.stats, b.stats)
    seed = seed_for(options.seed, "groups", a.digest, b.digest)
    ci = stats.bootstrap_ci(
        gap, stacked, confidence=options.confidence, n_resamples=options.bootstrap_resamples,
        method=options.ci_method, seed=seed,
    )  # fmt: skip
    p_value = _membership_p(metric, a.stats, b.stats, options.permutations, seed)
    return Comparison(
        task=task, metric=metric.key, arm=arm, reference_arm=reference_arm,
        reference_kind="same-arm", section=section, subject=dict(subject or {}),
        value=a.value, reference_value=b.value, delta=ci.estimate, ci_low=ci.low,
        ci_high=ci.high, se=ci.se, p_value=p_value, test=UNPAIRED_PERMUTATION,
        n=len(a.stats) + len(b.stats), scale=metric.scale, unit=metric.unit,
        higher_is_better=metric.higher_is_better,
        signature=f"{metric.signature()}|unpaired-ci:{ci.method}|conf:{options.confidence:g}"
        f"|bs:{options.bootstrap_resamples}|seed:{seed}|test:{UNPAIRED_PERMUTATION}"
        f"|correction:{options.correction}|scope:{options.correction_scope}",
        note=f"two different item sets ({len(a.stats)} and {len(b.stats)} items): unpaired",
        test_id=f"{UNPAIRED_PERMUTATION}|{a.digest}|{b.digest}|{metric.signature()}",
        family_pair=family_pair,
    )  # fmt: skip


class _GroupGap(Metric):
    """``inner(group 1's items) - inner(group 2's items)`` over pooled items; statistics
    ``[block if in 1 else 0, block if in 2 else 0, in 1, in 2]`` per item."""

    name = "group_gap"

    def __init__(self, inner: Metric, width: int) -> None:
        self.inner = inner
        self.width = width
        self.scale = inner.scale  # type: ignore[misc]
        self.unit = inner.unit  # type: ignore[misc]
        self.higher_is_better = inner.higher_is_better  # type: ignore[misc]

    def stack(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        zeros_a, zeros_b = np.zeros_like(first), np.zeros_like(second)
        top = np.hstack([first, zeros_a, np.ones((len(first), 1)), np.zeros((len(first), 1))])
        bottom = np.hstack([zeros_b, second, np.zeros((len(second), 1)), np.ones((len(second), 1))])
        return np.vstack([top, bottom])

    def item_stats(self, targets: object, predictions: object) -> np.ndarray:
        raise NotImplementedError("built from statistics")

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        k = self.width
        n_first, n_second = totals[..., 2 * k], totals[..., 2 * k + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            first = np.asarray(self.inner.from_totals(totals[..., :k], n_first), np.float64)
            second = np.asarray(self.inner.from_totals(totals[..., k : 2 * k], n_second))
        return np.where((n_first > 0) & (n_second > 0), first - second, np.nan)

    def signature(self) -> str:
        return f"group_gap({self.inner.signature()})"


def _membership_p(
    metric: Metric, first: np.ndarray, second: np.ndarray, trials: int, seed: int
) -> float:
    """Two-sided p of ``score(first) - score(second)`` under random set membership."""
    n_first, n_second = len(first), len(second)
    if not n_first or not n_second:
        return math.nan
    pooled = np.vstack([first, second])
    observed = float(metric.from_totals(first.sum(axis=0), n_first)) - float(
        metric.from_totals(second.sum(axis=0), n_second)
    )
    if not math.isfinite(observed):
        return math.nan
    total = pooled.sum(axis=0)
    rng = np.random.default_rng(seed + 1)
    n = len(pooled)
    step = max(1, (1 << 21) // n)
    extreme = valid = 0
    tol = 1e-12 * max(1.0, abs(observed))
    for start in range(0, trials, step):
        rows = min(step, trials - start)
        chosen = np.argsort(rng.random((rows, n)), axis=1)[:, :n_first]
        part = pooled[chosen].sum(axis=1)  # [rows, k]
        values = np.asarray(metric.from_totals(part, n_first), np.float64) - np.asarray(
            metric.from_totals(total - part, n_second), np.float64
        )
        finite = np.isfinite(values)
        valid += int(finite.sum())
        extreme += int(np.count_nonzero(np.abs(values[finite]) >= abs(observed) - tol))
    return (extreme + 1) / (valid + 1)

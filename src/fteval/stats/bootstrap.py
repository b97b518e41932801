"""Bootstrap confidence intervals for any metric, from its per-item statistics.

Items are resampled with replacement; each resample's score is recomputed from column
totals (``counts @ stats``), so corpus-level metrics (macro-F1, corpus BLEU) get honest
intervals without re-scoring strings.

Default resample count: ``DEFAULT_N_RESAMPLES = 2000``. A 95% interval's end points are
the 2.5% and 97.5% quantiles of the replicates; with 2000 replicates each end point rests
on ~50 replicates in its tail, which puts its Monte-Carlo error well under a tenth of the
interval's width (Efron & Tibshirani 1993, ch. 19, recommend >= 1000 for percentile and
BCa intervals; 2000 leaves headroom for BCa's shifted levels). The cost is one
``[2000, n_items] @ [n_items, k]`` product, milliseconds for thousands of items.

Degenerate cases (never an exception for data that merely lacks variability):

* ``n_items == 0``: estimate, low and high are NaN; ``note`` says so.
* ``n_items == 1``: the estimate is the item's score; low and high are NaN, because one
  item says nothing about sampling variability.
* every replicate equal (e.g. all items correct): a zero-width interval at the estimate.
  That is what the bootstrap says; read it with the item count.
* some replicates NaN (the metric is undefined on some resamples): they are dropped and
  ``n_valid`` counts the rest; with fewer than half finite, low and high are NaN.
* a NaN estimate: low and high are NaN.
* BCa that cannot be computed (every replicate on one side of the estimate, or an
  acceleration too large for the level): the percentile interval, with ``method`` set to
  ``"percentile"`` and ``note`` saying why.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from fteval.metrics.base import Metric
from fteval.stats import _common
from fteval.stats._common import SeedLike

logger = logging.getLogger(__name__)

DEFAULT_N_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0


@dataclass(frozen=True)
class BootstrapCI:
    """A score with its bootstrap confidence interval.

    Attributes:
        estimate: the metric on all items, in the metric's own units (NaN when undefined).
        low: lower end of the interval, same units (NaN when no interval exists).
        high: upper end of the interval, same units (NaN when no interval exists).
        method: ``"percentile"`` or ``"bca"`` — the method actually used.
        confidence: nominal coverage, in (0, 1).
        n_resamples: bootstrap resamples drawn.
        seed: the integer seed, or None when a Generator was passed.
        n_items: items in the data.
        n_valid: resamples whose score was finite.
        se: bootstrap standard error (std of the finite replicates, ddof=1), same units.
        note: empty, or why the interval is degenerate or fell back.
    """

    estimate: float
    low: float
    high: float
    method: str
    confidence: float
    n_resamples: int
    seed: int | None
    n_items: int
    n_valid: int
    se: float
    note: str = ""

    def signature(self) -> str:
        """How the interval was computed, e.g. ``ci:bca|conf:0.95|bs:2000|seed:0``."""
        seed = "none" if self.seed is None else str(self.seed)
        return f"ci:{self.method}|conf:{self.confidence:g}|bs:{self.n_resamples}|seed:{seed}"


def bootstrap_ci(
    metric: Metric,
    stats: np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    method: str = "percentile",
    seed: SeedLike = DEFAULT_SEED,
) -> BootstrapCI:
    """Bootstrap confidence interval for ``metric`` over items.

    Args:
        metric: the metric; its ``from_totals`` must accept batched totals ``[b, k]``.
        stats: per-item sufficient statistics ``[n_items, k]`` from ``metric.item_stats``.
        confidence: nominal coverage in (0, 1).
        n_resamples: number of bootstrap resamples (>= 1); see the module docstring.
        method: ``"percentile"`` or ``"bca"`` (bias-corrected and accelerated; the
            acceleration comes from the jackknife, computed cheaply as ``total - row``).
        seed: an int (recorded; the result is reproducible bit for bit) or a Generator.

    Returns:
        The estimate and interval in the metric's own units (e.g. accuracy in [0, 1]).
        Degenerate inputs give NaN end points as documented in the module docstring.

    Raises:
        ValueError: ``stats`` is not a finite 2-D array, or an option is out of range.
        TypeError: ``seed`` is neither an int nor a Generator.
    """
    stats = _common.as_stats(stats)
    confidence = _common.check_confidence(confidence)
    n_resamples = _common.check_count(n_resamples, name="n_resamples")
    method = _common.check_method(method)
    rng, seed_value = _common.make_rng(seed)
    n_items = len(stats)

    def degenerate(estimate: float, note: str) -> BootstrapCI:
        return BootstrapCI(
            estimate, math.nan, math.nan, method, confidence, n_resamples, seed_value,
            n_items, 0, math.nan, note,
        )  # fmt: skip

    estimate = _common.score(metric, stats.sum(axis=0), n_items)
    if n_items == 0:
        return degenerate(math.nan, "no items")
    if n_items == 1:
        return degenerate(estimate, "one item: sampling variability cannot be estimated")

    replicates = _common.scores(metric, _common.resampled_totals(stats, n_resamples, rng), n_items)
    jackknife = _common.leave_one_out(metric, stats) if method == "bca" else None
    found = _common.interval(replicates, estimate, jackknife, confidence=confidence, method=method)
    if found.note:
        logger.debug("bootstrap_ci(%s): %s", metric.key, found.note)
    return BootstrapCI(
        estimate=estimate,
        low=found.low,
        high=found.high,
        method=found.method,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed_value,
        n_items=n_items,
        n_valid=found.n_valid,
        se=found.se,
        note=found.note,
    )

"""Shared internals of the statistics package: input checks, seeding, resampled totals.

Everything here is private to ``fteval.stats``. The one idea worth knowing: a metric's
score is a function of column sums of its per-item statistics, so a bootstrap resample is
a row of counts ``c`` (how often each item was drawn) and its totals are ``c @ stats``.
Whole blocks of resamples are one matrix product; blocks are sized so the count matrix
never exceeds ``_CHUNK_ELEMENTS`` entries, whatever the number of items.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from fteval.metrics.base import Metric

logger = logging.getLogger(__name__)

SeedLike = int | np.random.Generator
"""An ``int`` seed (recorded in results, so the run is reproducible) or a Generator."""

# 2**21 entries per block of the index / count / swap matrix (16 MiB as float64).
_CHUNK_ELEMENTS = 1 << 21

# Up to this many columns, resampled totals are summed from gathered rows; above it, from
# a count matrix (one matrix product for all columns). Measured crossover: ~4 columns.
_GATHER_MAX_COLUMNS = 4

# Replicates are compared with the observed value using a relative tolerance, because
# totals summed in a different order can differ from the observed ones in the last bits.
REL_TOL = 1e-12

METHODS = ("percentile", "bca")


def as_stats(stats: np.ndarray, *, name: str = "stats") -> np.ndarray:
    """Validate per-item statistics and return them as float64 ``[n_items, k]``."""
    array = np.asarray(stats, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{name}: per-item statistics must have shape [n_items, k], got shape {array.shape}"
        )
    finite = np.isfinite(array)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name}: per-item statistics must be finite; row {row}, column {col} "
            f"is {float(array[row, col])!r}"
        )
    return array


def as_paired_stats(stats_a: np.ndarray, stats_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two arms' statistics for a paired comparison (same items, same columns)."""
    a = as_stats(stats_a, name="stats_a")
    b = as_stats(stats_b, name="stats_b")
    if a.shape != b.shape:
        raise ValueError(
            f"paired statistics must describe the same items with the same columns: "
            f"stats_a has shape {a.shape}, stats_b has shape {b.shape}"
        )
    return a, b


def make_rng(seed: SeedLike) -> tuple[np.random.Generator, int | None]:
    """The generator to draw from, and the integer seed to record (None for a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        return np.random.default_rng(int(seed)), int(seed)
    raise TypeError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")


def check_count(value: int, *, name: str) -> int:
    """A positive integer option (``n_resamples``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_confidence(confidence: float) -> float:
    """A confidence level strictly between 0 and 1."""
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)


def check_method(method: str) -> str:
    """An interval method name."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def block_rows(n_cols: int) -> int:
    """How many rows of an ``[rows, n_cols]`` matrix fit in one block."""
    return max(1, _CHUNK_ELEMENTS // max(1, n_cols))


def resampled_totals(stats: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Column totals of ``n_resamples`` bootstrap resamples of the rows of ``stats``.

    Each resample draws ``n_items`` row indices uniformly with replacement. Given the
    same generator state, the draws depend only on ``n_items`` and ``n_resamples`` (not on
    ``k``), so stacking two arms' columns resamples the same items for both.

    Returns:
        float64 ``[n_resamples, k]``.
    """
    n_items, k = stats.shape
    totals = np.empty((n_resamples, k), dtype=np.float64)
    step = block_rows(n_items)
    index_type = np.int32 if n_items < 2**31 else np.int64
    columns = [np.ascontiguousarray(stats[:, j]) for j in range(k)]
    for start in range(0, n_resamples, step):
        rows = min(step, n_resamples - start)
        picks = rng.integers(0, n_items, size=(rows, n_items), dtype=index_type)
        if k <= _GATHER_MAX_COLUMNS:
            # Few columns: gathering the drawn rows is cheaper than counting draws.
            for j, column in enumerate(columns):
                totals[start : start + rows, j] = column.take(picks).sum(axis=1)
        else:
            picks += (np.arange(rows, dtype=index_type) * n_items)[:, None]
            counts = np.bincount(picks.ravel(), minlength=rows * n_items)
            totals[start : start + rows] = counts.reshape(rows, n_items).astype(np.float64) @ stats
    return totals


def scores(metric: Metric, totals: np.ndarray, n: int) -> np.ndarray:
    """The metric on a batch of totals ``[b, k]`` over ``n`` items each, float64 ``[b]``."""
    values = metric.from_totals(totals, np.full(len(totals), n, dtype=np.float64))
    return np.asarray(values, dtype=np.float64).reshape(len(totals))


def score(metric: Metric, totals: np.ndarray, n: int) -> float:
    """The metric on one set of totals ``[k]`` over ``n`` items."""
    return float(scores(metric, totals[None, :], n)[0])


def leave_one_out(metric: Metric, stats: np.ndarray) -> np.ndarray:
    """The jackknife values: the metric with each item left out in turn, ``[n_items]``."""
    n_items = len(stats)
    return scores(metric, stats.sum(axis=0)[None, :] - stats, n_items - 1)


@dataclass(frozen=True)
class Interval:
    """An interval computed from bootstrap replicates (internal result)."""

    low: float
    high: float
    method: str
    se: float
    n_valid: int
    note: str


def _nan_interval(method: str, n_valid: int, se: float, note: str) -> Interval:
    return Interval(math.nan, math.nan, method, se, n_valid, note)


def interval(
    replicates: np.ndarray,
    estimate: float,
    jackknife: np.ndarray | None,
    *,
    confidence: float,
    method: str,
) -> Interval:
    """Percentile or BCa interval from replicates, with the package's degenerate-case policy.

    Non-finite replicates are dropped and counted; when fewer than half remain (or fewer
    than two), the interval is NaN. BCa falls back to the percentile interval when its
    bias correction is infinite (every finite replicate on one side of the estimate) or
    its adjusted levels are undefined; the returned ``method`` then says ``percentile``
    and ``note`` says why.
    """
    finite = replicates[np.isfinite(replicates)]
    n_valid = int(finite.size)
    se = float(np.std(finite, ddof=1)) if n_valid >= 2 else math.nan
    notes = []
    if n_valid < len(replicates):
        notes.append(f"{len(replicates) - n_valid} of {len(replicates)} resamples gave no score")
    if not math.isfinite(estimate):
        return _nan_interval(method, n_valid, se, "; ".join([*notes, "score undefined"]))
    if n_valid < 2 or 2 * n_valid < len(replicates):
        notes.append("too few resamples with a score for an interval")
        return _nan_interval(method, n_valid, se, "; ".join(notes))

    alpha = 1.0 - confidence
    levels = np.array([alpha / 2.0, 1.0 - alpha / 2.0])
    if method == "bca":
        adjusted, why = _bca_levels(finite, estimate, jackknife, levels)
        if adjusted is None:
            notes.append(f"BCa fell back to percentile: {why}")
            method = "percentile"
        else:
            levels = adjusted
    low, high = np.quantile(finite, levels)
    return Interval(float(low), float(high), method, se, n_valid, "; ".join(notes))


def _bca_levels(
    finite: np.ndarray, estimate: float, jackknife: np.ndarray | None, levels: np.ndarray
) -> tuple[np.ndarray | None, str]:
    """BCa-adjusted quantile levels (Efron 1987), or None and the reason it cannot apply."""
    tol = REL_TOL * (abs(estimate) + float(np.max(np.abs(finite))))
    below = np.count_nonzero(finite < estimate - tol)
    ties = np.count_nonzero(np.abs(finite - estimate) <= tol)
    # Ties count half: discrete metrics (accuracy) put many replicates exactly on the
    # estimate, and counting them as "above" would bias z0 downward.
    share_below = (below + 0.5 * ties) / finite.size
    if share_below <= 0.0 or share_below >= 1.0:
        return None, "every resample lies on one side of the estimate"
    z0 = float(ndtri(share_below))
    accel = _acceleration(jackknife)
    z = ndtri(levels)
    denominator = 1.0 - accel * (z0 + z)
    if np.any(denominator <= 0.0):
        return None, f"acceleration {accel:.3g} too large for the confidence level"
    adjusted = ndtr(z0 + (z0 + z) / denominator)
    if not np.all(np.isfinite(adjusted)):
        return None, "adjusted levels are undefined"
    return adjusted, ""


def _acceleration(jackknife: np.ndarray | None) -> float:
    """The BCa acceleration from jackknife values; 0 when they carry no information."""
    if jackknife is None:
        return 0.0
    values = jackknife[np.isfinite(jackknife)]
    if values.size < 2:
        return 0.0
    deviations = values.mean() - values
    if float(np.max(np.abs(deviations))) <= REL_TOL * max(1.0, abs(float(values.mean()))):
        return 0.0  # equal up to rounding: no skewness to correct for
    squares = float(np.sum(deviations**2))
    return float(np.sum(deviations**3)) / (6.0 * squares**1.5)

"""What the section builders share: per-sample statistics, stable seeds, Wald p-values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr

from fteval._util.hashing import stable_int
from fteval.metrics import Metric
from fteval.records import SampleResult
from fteval.scoring import prediction_of


def metric_stats(metric: Metric, samples: Sequence[SampleResult]) -> np.ndarray:
    """Per-item statistics of ``metric`` over ``samples`` (stored ones when the metric
    keeps them, as ``scoring.arm_stats`` does), float64 ``[n, k]``."""
    stored = [(s.stats or {}).get(metric.key) for s in samples]
    if metric.store_stats and samples and all(row is not None for row in stored):
        return np.array(stored, dtype=np.float64)
    targets = [s.target for s in samples]
    return np.asarray(
        metric.item_stats(targets, [prediction_of(s, metric) for s in samples]), dtype=np.float64
    ).reshape(len(samples), -1)


def stable_seed(base: int, *parts: Any) -> int:
    """A per-row seed from the run's statistics seed and the row's identity, so adding a
    task or an arm does not move any other row's interval."""
    return stable_int(base, *parts)


def wald_p_value(estimate: float, se: float) -> float:
    """Two-sided normal p-value of ``estimate`` with standard error ``se`` (NaN when
    either is undefined; 1 when both are 0)."""
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return math.nan
    if se == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2.0 * ndtr(-abs(estimate) / se))


def number(value: Any) -> float | None:
    """A float for JSON, None for NaN/inf/None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def oriented(low: float, high: float, sign: float) -> tuple[float, float]:
    """An interval multiplied by ``sign`` (+1 or -1), ends kept in order."""
    return (low, high) if sign > 0 else (-high, -low)

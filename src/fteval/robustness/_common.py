"""What the section builders share: a metric's per-item statistics read from samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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

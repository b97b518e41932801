"""Per-item values computed by another harness and stored with each sample.

``lmeval_metric`` reads the value lm-evaluation-harness's ``process_results`` gave an
item (``meta["lmeval"][key]``, stored at run time by ``fteval.tasks.lmeval``); the score
is their mean, as that harness's ``mean`` aggregation. Values in [0, 1] for accuracies
and exact match (shown x100 for keys starting with ``acc`` or ``exact_match``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.metrics.base import MeanMetric, check_lengths
from fteval.metrics.registry import register_class
from fteval.version import __version__

PERCENT_PREFIXES = ("acc", "exact_match", "em", "f1", "pass")


class LmevalMetric(MeanMetric):
    """The mean of lm-evaluation-harness's per-item values of one metric.

    Args:
        key: lm-evaluation-harness's metric name, ``metric`` or ``metric,filter``.
        higher_is_better: the harness's direction for the metric.
    """

    name: ClassVar[str] = "lmeval_metric"
    reads: ClassVar[str] = "lmeval"
    outcome_may_be_binary: ClassVar[bool] = True
    """``acc`` or ``exact_match`` give each item 0 or 1, ``f1`` does not: the comparison
    engine tests with exact McNemar when every item of both arms is 0 or 1, as it does
    for fteval's own 0/1 metrics."""

    def __init__(self, *, key: str, higher_is_better: bool = True) -> None:
        if not key:
            raise ValueError("lmeval_metric: needs the metric's key")
        self.metric_key = key
        self.higher_is_better = higher_is_better  # type: ignore[misc]
        percent = key.startswith(PERCENT_PREFIXES)
        self.scale = 100.0 if percent else 1.0  # type: ignore[misc]
        self.unit = "proportion" if percent else "native"  # type: ignore[misc]

    @property
    def key(self) -> str:
        return self.metric_key

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.key, targets, predictions)
        values = []
        for row, prediction in enumerate(predictions):
            if not isinstance(prediction, Mapping) or self.metric_key not in prediction:
                raise ValueError(
                    f"{self.key}: item {row} has no lm-evaluation-harness value (meta.lmeval); "
                    "was the sample made by an lmeval: task?"
                )
            value = float(prediction[self.metric_key])
            if not math.isfinite(value):
                raise ValueError(f"{self.key}: item {row} has a non-finite value {value!r}")
            values.append(value)
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        harness = "lm-evaluation-harness process_results"
        direction = "" if self.higher_is_better else "|lower_is_better"
        return f"{self.key}|{harness}|aggregation:mean{direction}|fteval:{__version__}"


register_class("lmeval_metric", LmevalMetric)

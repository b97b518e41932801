"""Composite metrics, so that the statistics package can resample differences of scores.

Every fteval metric is a function of summed per-item statistics. A difference of two
scores on the same items (a robustness drop) is then a metric over the two statistic
blocks side by side, and a difference between two disjoint groups of items (best vs
worst slice, an unpaired out-of-distribution set vs the clean set) is a metric over the
blocks plus one membership column per group. ``bootstrap_ci``, ``paired_bootstrap_delta``
and ``paired_test`` then resample items as usual; for groups the group sizes vary across
resamples, as they do when group membership is itself random.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fteval.metrics.base import Metric


class DifferenceMetric(Metric):
    """``inner(first block) − inner(second block)`` over the same items.

    Statistics: ``[first (k columns), second (k columns)]`` per item.
    """

    def __init__(self, inner: Metric, width: int) -> None:
        self.inner = inner
        self.width = width
        self.name = f"{inner.key}_difference"  # type: ignore[misc]
        self.scale = inner.scale  # type: ignore[misc]
        self.unit = inner.unit  # type: ignore[misc]
        self.higher_is_better = inner.higher_is_better  # type: ignore[misc]

    @property
    def key(self) -> str:
        """The inner metric's key: rows compare ``acc``, not a composite's name."""
        return self.inner.key

    @staticmethod
    def stack(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The composite statistics of two blocks over the same items."""
        return np.hstack([np.asarray(first, float), np.asarray(second, float)])

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError("a composite metric is built from statistics, not strings")

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        k = self.width
        return np.asarray(self.inner.from_totals(totals[..., :k], n)) - np.asarray(
            self.inner.from_totals(totals[..., k : 2 * k], n)
        )

    def signature(self) -> str:
        return f"difference({self.inner.signature()})"


class GroupGapMetric(Metric):
    """``inner(group 1's items) − inner(group 2's items)`` for two disjoint item groups.

    Statistics: ``[block if in group 1 else 0, block if in group 2 else 0, in group 1,
    in group 2]`` per item (a block is ``width`` columns; the last two are 0/1).
    """

    def __init__(self, inner: Metric, width: int) -> None:
        self.inner = inner
        self.width = width
        self.name = f"{inner.key}_group_gap"  # type: ignore[misc]
        self.scale = inner.scale  # type: ignore[misc]
        self.unit = inner.unit  # type: ignore[misc]
        self.higher_is_better = inner.higher_is_better  # type: ignore[misc]

    @property
    def key(self) -> str:
        """The inner metric's key: rows compare ``acc``, not a composite's name."""
        return self.inner.key

    @staticmethod
    def stack(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The composite statistics of group 1's rows followed by group 2's rows."""
        first = np.asarray(first, float)
        second = np.asarray(second, float)
        width = first.shape[1]
        top = np.hstack(
            [first, np.zeros_like(first), np.ones((len(first), 1)), np.zeros((len(first), 1))]
        )
        bottom = np.hstack(
            [
                np.zeros((len(second), width)),
                second,
                np.zeros((len(second), 1)),
                np.ones((len(second), 1)),
            ]
        )
        return np.vstack([top, bottom])

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError("a composite metric is built from statistics, not strings")

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        k = self.width
        first_n = totals[..., 2 * k]
        second_n = totals[..., 2 * k + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            first = np.asarray(self.inner.from_totals(totals[..., :k], first_n), dtype=np.float64)
            second = np.asarray(
                self.inner.from_totals(totals[..., k : 2 * k], second_n), dtype=np.float64
            )
        return np.where((first_n > 0) & (second_n > 0), first - second, np.nan)

    def signature(self) -> str:
        return f"group_gap({self.inner.signature()})"

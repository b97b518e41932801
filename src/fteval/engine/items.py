"""Per-item statistics of one arm, and the pairing of two arms by item id.

Every comparison reads two arms' per-item statistics of one metric (``ItemStats``: a
metric, the item ids and an ``[n_items, k]`` array whose column sums the metric turns
into a score). Items are paired **by id**, never by position: ``pair`` keeps the items
both arms have, in the first arm's order, and says how many it left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from fteval.metrics.base import Metric


class PerItem(Protocol):
    """Anything that holds one arm's per-item statistics of one metric."""

    @property
    def metric(self) -> Metric: ...

    @property
    def example_ids(self) -> tuple[str, ...]: ...

    @property
    def stats(self) -> np.ndarray: ...


def digest_of(stats: np.ndarray) -> str:
    """sha256 of per-item statistics (shape and float64 values, in item order).

    Equal for equal numbers whatever the task, arm or metric is called: every interval's
    and test's generator is seeded from it.
    """
    array = np.ascontiguousarray(stats, dtype=np.float64)
    digest = hashlib.sha256(repr(array.shape).encode("ascii"))
    digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ItemStats:
    """One arm's per-item statistics of one metric, aligned with ``example_ids``.

    Attributes:
        metric: the metric whose ``from_totals`` turns column sums into a score.
        example_ids: one id per row of ``stats``, unique.
        stats: float64 ``[n_items, k]``.
    """

    metric: Metric
    example_ids: tuple[str, ...]
    stats: np.ndarray

    @classmethod
    def of(cls, item: PerItem) -> ItemStats:
        """The statistics of any ``PerItem`` (``scoring.ArmStats``)."""
        if isinstance(item, ItemStats):
            return item
        return cls(item.metric, tuple(item.example_ids), np.asarray(item.stats, np.float64))

    @cached_property
    def digest(self) -> str:
        """``digest_of(stats)``."""
        return digest_of(self.stats)

    @property
    def value(self) -> float:
        """The metric on all items (metric units; NaN with no items)."""
        if not len(self.stats):
            return float("nan")
        return float(self.metric.from_totals(self.stats.sum(axis=0), len(self.stats)))

    def subset(self, rows: Sequence[int] | np.ndarray) -> ItemStats:
        """The items at ``rows`` (positions), in that order."""
        index = np.asarray(rows, dtype=np.int64)
        ids = tuple(self.example_ids[i] for i in index)
        return ItemStats(self.metric, ids, self.stats[index])


@dataclass(frozen=True)
class Paired:
    """Two arms' statistics on the items both have, row ``i`` the same item in both.

    Attributes:
        a: the arm under test, restricted and ordered.
        b: the reference, restricted and ordered as ``a``.
        left_out: items only one of the two arms has.
    """

    a: ItemStats
    b: ItemStats
    left_out: int

    @property
    def note(self) -> str:
        """Empty, or how many items could not be paired."""
        if not self.left_out:
            return ""
        return f"{self.left_out} items held by only one arm were left out of the pairing"


def pair(a: PerItem, b: PerItem) -> Paired:
    """Align ``b`` with ``a`` by item id (``a``'s order), dropping unshared items.

    Raises:
        ValueError: an arm lists an item id twice.
    """
    first, second = ItemStats.of(a), ItemStats.of(b)
    for item in (first, second):
        if len(set(item.example_ids)) != len(item.example_ids):
            raise ValueError(f"{item.metric.key}: item ids repeat; pairing needs unique ids")
    if first.example_ids == second.example_ids:
        return Paired(first, second, 0)
    position = {item: i for i, item in enumerate(second.example_ids)}
    keep = [i for i, item in enumerate(first.example_ids) if item in position]
    rows = [position[first.example_ids[i]] for i in keep]
    left_out = len(first.example_ids) + len(second.example_ids) - 2 * len(keep)
    return Paired(first.subset(keep), second.subset(rows), left_out)

"""Aggregating one arm group over training seeds.

An adapter trained with several seeds gives several scores on the same items. Their
spread is variability no item-level interval sees: a bootstrap CI answers "would the
score move on other items?", the seed spread "would it move if I retrained?". When the
seed spread is as large as the delta a comparison reports, the delta may be an accident
of one training run, whatever its p-value says.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

SPREADS = ("std", "range")


@dataclass(frozen=True)
class SeedSummary:
    """Scores of one arm group across training seeds, in the metric's own units.

    Attributes:
        mean: mean over seeds.
        std: sample standard deviation over seeds (ddof=1); NaN for a single seed.
        min: lowest seed score.
        max: highest seed score.
        n_seeds: number of seeds (>= 1).
    """

    mean: float
    std: float
    min: float
    max: float
    n_seeds: int

    @property
    def range(self) -> float:
        """``max - min`` (0 for a single seed)."""
        return self.max - self.min


def summarize_seeds(seed_scores: np.ndarray) -> SeedSummary:
    """Mean, sample standard deviation and range of per-seed scores.

    Args:
        seed_scores: one finite score per seed, shape ``[n_seeds]``, metric units.

    Returns:
        The summary; ``std`` is NaN when there is only one seed.

    Raises:
        ValueError: no scores, wrong shape, or a non-finite score.
    """
    values = _as_seed_scores(seed_scores)
    std = float(np.std(values, ddof=1)) if len(values) >= 2 else math.nan
    return SeedSummary(
        mean=float(np.mean(values)),
        std=std,
        min=float(np.min(values)),
        max=float(np.max(values)),
        n_seeds=len(values),
    )


def spread_exceeds_effect(seed_scores: np.ndarray, delta: float, *, spread: str = "std") -> bool:
    """Whether the seed-to-seed spread is at least as large as the reported effect.

    Args:
        seed_scores: one finite score per seed (at least two), metric units.
        delta: the effect to weigh against the spread (e.g. mean arm score minus the
            reference score), metric units; only ``|delta|`` matters.
        spread: ``"std"`` (sample standard deviation, ddof=1) or ``"range"``
            (max - min; larger, so stricter for the effect).

    Returns:
        True when ``spread >= |delta|``: retraining alone moves the score by as much as
        the effect, so the effect should not be credited to the method.

    Raises:
        ValueError: fewer than two seeds, a non-finite score or delta, or an unknown
            ``spread``.
    """
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {SPREADS}, got {spread!r}")
    if not math.isfinite(delta):
        raise ValueError(f"delta must be finite, got {delta!r}")
    summary = summarize_seeds(seed_scores)
    if summary.n_seeds < 2:
        raise ValueError(
            f"seed spread needs at least two seeds, got {summary.n_seeds}; "
            "check SeedSummary.n_seeds before asking"
        )
    size = summary.std if spread == "std" else summary.range
    return bool(size >= abs(delta))


def _as_seed_scores(seed_scores: np.ndarray) -> np.ndarray:
    values = np.asarray(seed_scores, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"seed_scores must be a non-empty 1-D array, got shape {values.shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(f"seed_scores must be finite; seed {index} is {float(values[index])!r}")
    return values

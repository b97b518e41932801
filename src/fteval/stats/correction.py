"""Multiple-comparison correction of p-values.

When a run compares several arms on several tasks and metrics, some raw p-values fall
below 0.05 by chance. ``adjust_pvalues`` returns adjusted p-values to compare with the
unchanged alpha:

* ``"holm"`` (default): Holm's step-down procedure; controls the family-wise error rate
  (the chance of any false "improved"/"regressed") under any dependence. With the raw
  p-values sorted ascending, ``p_(1) <= ... <= p_(m)``:
  ``adj_(i) = min(1, max_{j <= i} (m - j + 1) * p_(j))``.
* ``"bh"``: Benjamini–Hochberg step-up; controls the false discovery rate (the expected
  share of false claims among the claims) for independent or positively dependent tests:
  ``adj_(i) = min(1, min_{j >= i} m / j * p_(j))``. Equal to
  ``scipy.stats.false_discovery_control(p, method="bh")``.

NaN entries (tests that could not be run) are passed through as NaN and do not count in
``m``. Adjusted values are >= the raw ones, capped at 1, and keep the raw values' order.

``step_levels`` gives the level each raw p-value is compared with at its step of the
procedure (``adj < alpha`` is the same decision as ``raw < step level`` at every step up
to it): Holm ``alpha / (m - i + 1)``, BH ``i * alpha / m`` for the ``i``-th smallest
p-value. A minimum detectable effect quoted beside a corrected decision uses this level.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

CORRECTIONS = ("holm", "bh")


def adjust_pvalues(p_values: np.ndarray, *, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons.

    Args:
        p_values: raw p-values in [0, 1], any shape; NaN marks a test not run.
        method: ``"holm"`` (family-wise error rate) or ``"bh"`` (false discovery rate).

    Returns:
        float64 array of the input's shape: adjusted p-values in [0, 1], NaN where the
        input was NaN.

    Raises:
        ValueError: ``method`` is unknown or a p-value is outside [0, 1] or infinite.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"method must be one of {CORRECTIONS}, got {method!r}")
    raw = np.asarray(p_values, dtype=np.float64)
    flat = raw.ravel()
    present = ~np.isnan(flat)
    outside = present & ~((flat >= 0.0) & (flat <= 1.0))
    if outside.any():
        index = int(np.argmax(outside))
        raise ValueError(f"p-values must lie in [0, 1]; entry {index} is {float(flat[index])!r}")

    values = flat[present]
    m = values.size
    adjusted = np.full(flat.shape, np.nan)
    if m == 0:
        return adjusted.reshape(raw.shape)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    rank = np.arange(1, m + 1, dtype=np.float64)
    if method == "holm":
        stepped = np.maximum.accumulate((m - rank + 1.0) * ranked)
    else:
        stepped = np.minimum.accumulate((m / rank * ranked)[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.minimum(stepped, 1.0)
    adjusted[present] = result
    return adjusted.reshape(raw.shape)


def step_levels(p_values: np.ndarray, *, alpha: float, method: str = "holm") -> np.ndarray:
    """The significance level each p-value meets at its step of the correction.

    Args:
        p_values: the family's raw p-values in [0, 1], any shape; NaN marks a test not run.
        alpha: the family's significance level in (0, 1).
        method: ``"holm"`` or ``"bh"``.

    Returns:
        float64 array of the input's shape: for the ``i``-th smallest of the ``m``
        non-NaN p-values (ties in input order), ``alpha / (m - i + 1)`` (Holm) or
        ``i * alpha / m`` (BH); NaN where the input was NaN.

    Raises:
        ValueError: ``method`` is unknown or ``alpha`` is outside (0, 1).
    """
    if method not in CORRECTIONS:
        raise ValueError(f"method must be one of {CORRECTIONS}, got {method!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    raw = np.asarray(p_values, dtype=np.float64)
    flat = raw.ravel()
    present = ~np.isnan(flat)
    levels = np.full(flat.shape, np.nan)
    m = int(present.sum())
    if m == 0:
        return levels.reshape(raw.shape)
    order = np.argsort(flat[present], kind="stable")
    rank = np.empty(m)
    rank[order] = np.arange(1, m + 1, dtype=np.float64)
    levels[present] = alpha / (m - rank + 1.0) if method == "holm" else rank * alpha / m
    return levels.reshape(raw.shape)

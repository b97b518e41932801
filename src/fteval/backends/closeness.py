"""One closeness check for every place a fast path's scores meet a reference path's.

The scorer's self-check (fast strategies against the plain path), the adapter-serving
self-check (per-row LoRA against the adapter applied alone) and the benchmarks against
lm-evaluation-harness all ask the same question: is every value within a tolerance of
its reference? Python's ``max`` cannot answer it over floats that may be NaN: a NaN
compares false with everything, so ``max`` keeps it only when it comes first and
silently skips it anywhere else. Here a NaN on either side is a mismatch (an infinite
difference), two equal infinities (a log-probability of ``-inf`` on both paths) are no
difference, and lists of different lengths do not agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def difference(got: float, expected: float) -> float:
    """``|got - expected|``; ``inf`` when either is NaN, 0 for two equal infinities."""
    if got == expected:  # equal infinities included
        return 0.0
    if math.isnan(got) or math.isnan(expected):
        return math.inf
    return abs(got - expected)


def max_difference(
    got: Sequence[float], expected: Sequence[float], scale: Sequence[float] | None = None
) -> float:
    """The largest ``difference`` over paired values, each divided by its ``scale``.

    Args:
        got: values of the path being checked.
        expected: the reference path's values, as many.
        scale: per pair, a positive divisor (e.g. tokens scored, for a per-token
            difference); None: 1.

    Returns:
        The largest difference (>= 0; 0 for empty lists); ``inf`` when the lengths
        differ or any pair holds a NaN.
    """
    if len(got) != len(expected) or (scale is not None and len(scale) != len(got)):
        return math.inf
    worst = 0.0
    for index, (a, b) in enumerate(zip(got, expected)):
        gap = difference(float(a), float(b))
        if scale is not None:
            gap /= scale[index]
        if not gap <= worst:  # a NaN gap can only come from a NaN scale: a mismatch too
            worst = gap if not math.isnan(gap) else math.inf
    return worst


def all_close(
    got: Sequence[float],
    expected: Sequence[float],
    tolerance: float,
    scale: Sequence[float] | None = None,
) -> bool:
    """Whether every value is within ``tolerance`` of its reference (``max_difference``)."""
    return max_difference(got, expected, scale) <= tolerance


__all__ = ["all_close", "difference", "max_difference"]

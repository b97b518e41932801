"""Paired comparisons, verdicts and advice."""

from fteval.compare.three_way import (
    StatsOptions,
    advice,
    arm_pairs,
    comparison_rows,
    reference_arm,
    score_rows,
)

__all__ = [
    "StatsOptions",
    "advice",
    "arm_pairs",
    "comparison_rows",
    "reference_arm",
    "score_rows",
]

"""Paired comparisons, correction families, verdicts, advice and the CI gate."""

from fteval.compare.three_way import (
    advice,
    arm_pairs,
    comparison_rows,
    reference_arm,
    score_rows,
)
from fteval.engine import CORRECTION_SCOPES, DEFAULT_SEED, StatsOptions, resolve_levels

__all__ = [
    "CORRECTION_SCOPES",
    "DEFAULT_SEED",
    "StatsOptions",
    "advice",
    "arm_pairs",
    "comparison_rows",
    "reference_arm",
    "resolve_levels",
    "score_rows",
]

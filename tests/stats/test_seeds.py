"""Tests for fteval.stats.seeds: multi-seed summaries and spread-versus-effect."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from fteval.stats import SeedSummary, spread_exceeds_effect, summarize_seeds


def test_summary_uses_the_sample_standard_deviation() -> None:
    scores = [0.71, 0.74, 0.69, 0.73]
    summary = summarize_seeds(np.array(scores))
    assert summary.n_seeds == 4
    assert summary.mean == pytest.approx(statistics.mean(scores), rel=1e-12)
    assert summary.std == pytest.approx(statistics.stdev(scores), rel=1e-12)
    assert (summary.min, summary.max) == (0.69, 0.74)
    assert summary.range == pytest.approx(0.05)


def test_single_seed_has_no_standard_deviation() -> None:
    summary = summarize_seeds([0.5])
    assert isinstance(summary, SeedSummary)
    assert (summary.mean, summary.n_seeds, summary.range) == (0.5, 1, 0.0)
    assert math.isnan(summary.std)


@pytest.mark.parametrize(
    ("delta", "spread", "expected"),
    [
        (0.01, "std", True),  # std ~0.0216 >= 0.01
        (-0.01, "std", True),  # only |delta| matters
        (0.03, "std", False),
        (0.03, "range", True),  # range 0.05 >= 0.03
        (0.05, "range", True),  # "at least": equality counts
        (0.06, "range", False),
    ],
)
def test_spread_exceeds_effect(delta: float, spread: str, expected: bool) -> None:
    scores = np.array([0.71, 0.74, 0.69, 0.73])
    assert spread_exceeds_effect(scores, delta, spread=spread) is expected


def test_spread_needs_two_seeds() -> None:
    with pytest.raises(ValueError, match="at least two seeds, got 1"):
        spread_exceeds_effect([0.7], 0.01)


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ([], "non-empty 1-D"),
        ([[0.1, 0.2]], "non-empty 1-D"),
        ([0.1, float("nan")], "seed 1 is nan"),
    ],
)
def test_bad_scores_raise_naming_the_value(scores: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        summarize_seeds(np.array(scores))


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="spread must be one of"):
        spread_exceeds_effect([0.1, 0.2], 0.1, spread="iqr")
    with pytest.raises(ValueError, match="delta must be finite"):
        spread_exceeds_effect([0.1, 0.2], float("nan"))

"""Tests for fteval.stats.verdicts: the verdict table, non-inferiority, MDE formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, norm

from fteval.stats import (
    IMPROVED,
    INSUFFICIENT_DATA,
    NO_DIFFERENCE,
    REGRESSED,
    VERDICT_LABELS,
    minimum_detectable_effect,
    verdict,
)

NAN = math.nan


@pytest.mark.parametrize(
    ("delta", "low", "high", "p", "n_items", "higher_is_better", "label", "says"),
    [
        (0.05, 0.02, 0.08, 0.001, 200, True, IMPROVED, "adjusted p = 0.001 < 0.05"),
        (-0.05, -0.08, -0.02, 0.001, 200, True, REGRESSED, "delta -0.05"),
        (-0.05, -0.08, -0.02, 0.001, 200, False, IMPROVED, "delta -0.05"),  # e.g. perplexity
        (0.05, 0.02, 0.08, 0.001, 200, False, REGRESSED, "delta +0.05"),
        (0.01, -0.02, 0.04, 0.4, 200, True, NO_DIFFERENCE, "includes 0"),
        (0.03, -0.001, 0.06, 0.03, 200, True, NO_DIFFERENCE, "must agree"),
        (0.03, 0.001, 0.06, 0.2, 200, True, NO_DIFFERENCE, "multiple-comparison"),
        (0.05, 0.02, 0.08, 0.05, 200, True, NO_DIFFERENCE, ">= 0.05"),  # p == alpha
        (0.05, 0.02, 0.08, 0.001, 29, True, INSUFFICIENT_DATA, "only 29 items"),
        (0.05, NAN, NAN, 0.001, 200, True, INSUFFICIENT_DATA, "ci_low, ci_high undefined"),
        (0.05, 0.02, 0.08, NAN, 200, True, INSUFFICIENT_DATA, "p_adjusted undefined"),
        (NAN, NAN, NAN, NAN, 200, True, INSUFFICIENT_DATA, "delta, ci_low"),
    ],
)
def test_verdict_table(
    delta: float,
    low: float,
    high: float,
    p: float,
    n_items: int,
    higher_is_better: bool,
    label: str,
    says: str,
) -> None:
    result = verdict(delta, low, high, p, n_items=n_items, higher_is_better=higher_is_better)
    assert result.label == label
    assert result.label in VERDICT_LABELS
    assert says in result.reason
    assert result.non_inferiority is None


def test_min_items_and_alpha_are_options() -> None:
    assert verdict(0.2, 0.1, 0.3, 0.01, n_items=10, higher_is_better=True).label == (
        INSUFFICIENT_DATA
    )
    assert (
        verdict(0.2, 0.1, 0.3, 0.01, n_items=10, higher_is_better=True, min_items=5).label
        == IMPROVED
    )
    assert (
        verdict(0.2, 0.1, 0.3, 0.02, n_items=100, higher_is_better=True, alpha=0.01).label
        == NO_DIFFERENCE
    )


@pytest.mark.parametrize(
    ("delta", "low", "high", "p", "higher_is_better", "margin", "label", "passes"),
    [
        (0.0, -0.01, 0.01, 0.9, True, 0.02, NO_DIFFERENCE, True),
        (0.0, -0.03, 0.03, 0.9, True, 0.02, NO_DIFFERENCE, False),
        (0.0, -0.02, 0.03, 0.9, True, 0.02, NO_DIFFERENCE, False),  # boundary: strict
        (-0.01, -0.015, -0.005, 0.001, True, 0.02, REGRESSED, True),  # real but tolerable
        (0.1, -0.3, 0.3, 0.9, False, 0.5, NO_DIFFERENCE, True),  # lower is better
        (0.1, -0.3, 0.7, 0.9, False, 0.5, NO_DIFFERENCE, False),
        (0.05, 0.02, 0.08, 0.001, True, 0.0, IMPROVED, True),  # margin 0 = superiority CI
    ],
)
def test_non_inferiority(
    delta: float,
    low: float,
    high: float,
    p: float,
    higher_is_better: bool,
    margin: float,
    label: str,
    passes: bool,
) -> None:
    result = verdict(
        delta,
        low,
        high,
        p,
        n_items=500,
        higher_is_better=higher_is_better,
        non_inferiority_margin=margin,
    )
    assert (result.label, result.non_inferiority) == (label, passes)
    assert ("non-inferior within margin" if passes else "non-inferiority not shown") in (
        result.reason
    )


def test_non_inferiority_is_not_judged_on_insufficient_data() -> None:
    result = verdict(
        0.0, -0.01, 0.01, 0.9, n_items=5, higher_is_better=True, non_inferiority_margin=0.02
    )
    assert (result.label, result.non_inferiority) == (INSUFFICIENT_DATA, None)


def test_verdict_quotes_the_mde_when_nothing_was_found() -> None:
    result = verdict(0.01, -0.02, 0.04, 0.4, n_items=200, higher_is_better=True, mde=0.0456)
    assert result.mde == 0.0456
    assert "minimum detectable effect ~0.0456" in result.reason
    assert math.isnan(verdict(0.01, -0.02, 0.04, 0.4, n_items=200, higher_is_better=True).mde)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0.0, 0.1, -0.1, 0.5), {}, "ci_low must not exceed ci_high"),
        ((0.0, -0.1, 0.1, 1.5), {}, "p_adjusted must be in"),
        ((0.0, -0.1, 0.1, 0.5), {"alpha": 1.0}, "alpha"),
        ((0.0, -0.1, 0.1, 0.5), {"non_inferiority_margin": -0.1}, "non_inferiority_margin"),
        ((0.0, -0.1, 0.1, 0.5), {"n_items": -1}, "n_items"),
    ],
)
def test_verdict_rejects_bad_input(args: tuple, kwargs: dict, match: str) -> None:
    call = {"n_items": 100, "higher_is_better": True, **kwargs}
    with pytest.raises(ValueError, match=match):
        verdict(*args, **call)


# --- minimum detectable effect ------------------------------------------------------------


def test_mde_from_standard_error() -> None:
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert minimum_detectable_effect(se=0.01) == pytest.approx(z * 0.01, rel=1e-12)
    assert minimum_detectable_effect(se=0.01, alpha=0.01, power=0.9) == pytest.approx(
        (norm.ppf(0.995) + norm.ppf(0.9)) * 0.01, rel=1e-12
    )


@pytest.mark.parametrize(("n_items", "psi"), [(50, 0.3), (400, 0.2), (2000, 0.05), (10, 1.0)])
def test_binary_mde_solves_connors_sample_size_equation(n_items: int, psi: float) -> None:
    d = minimum_detectable_effect(n_items=n_items, discordance_rate=psi)
    z_a, z_b = norm.ppf(0.975), norm.ppf(0.8)
    n_needed = (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - d * d)) ** 2 / d**2
    assert n_needed == pytest.approx(n_items, rel=1e-8)
    approximate = (z_a + z_b) * math.sqrt(psi / n_items)
    assert d <= approximate


def test_binary_mde_approaches_the_simple_formula_for_small_effects() -> None:
    d = minimum_detectable_effect(n_items=100_000, discordance_rate=0.5)
    approximate = (norm.ppf(0.975) + norm.ppf(0.8)) * math.sqrt(0.5 / 100_000)
    assert d == pytest.approx(approximate, rel=1e-3)


def test_binary_mde_has_about_the_promised_power_under_exact_mcnemar() -> None:
    n_items, psi = 400, 0.2
    d = minimum_detectable_effect(n_items=n_items, discordance_rate=psi)
    rng = np.random.default_rng(0)
    cells = rng.multinomial(n_items, [(psi + d) / 2, (psi - d) / 2, 1 - psi], size=4000)
    b, c = cells[:, 0], cells[:, 1]
    p = np.minimum(1.0, 2 * binom.cdf(np.minimum(b, c), b + c, 0.5))
    power = float(np.mean(p < 0.05))
    assert 0.72 <= power <= 0.86  # the exact test is a little conservative


def test_mde_degenerate_cases() -> None:
    assert math.isnan(minimum_detectable_effect(se=0.0))
    assert math.isnan(minimum_detectable_effect(n_items=100, discordance_rate=0.0))
    assert math.isnan(minimum_detectable_effect(n_items=0, discordance_rate=0.3))
    assert minimum_detectable_effect(n_items=3, discordance_rate=0.3) == math.inf


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "give either se="),
        ({"se": 0.1, "n_items": 10, "discordance_rate": 0.1}, "give either se="),
        ({"n_items": 10}, "needs both"),
        ({"se": -0.1}, "se must be >= 0"),
        ({"n_items": 10, "discordance_rate": 1.5}, "discordance_rate must be in"),
        ({"se": 0.1, "power": 0.4}, "power"),
        ({"se": 0.1, "alpha": 0.0}, "alpha"),
    ],
)
def test_mde_rejects_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        minimum_detectable_effect(**kwargs)

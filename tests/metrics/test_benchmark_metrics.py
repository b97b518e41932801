"""Benchmark metrics equal their reference implementations.

* ``codexglue_bleu``: CodeXGLUE's evaluator (``evaluator/bleu.py``: tensorflow/nmt
  ``compute_bleu`` with ``smooth=True`` over whitespace tokens). The reference below is
  written from that formula segment by segment (no sufficient statistics), and one case
  is worked by hand.
* ``codebleu``: the ``codebleu`` package's ``calc_codebleu`` on the whole corpus.
* ``strict_match``/``flexible_extract``: lm-evaluation-harness's gsm8k filters and
  exact_match rules (its documented regexes), on cases chosen to separate them.
* ``lc_win_rate``: scikit-learn's unpenalised logistic regression on the same soft labels.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fteval.metrics import make_metrics

DATA = Path("/work/shared/data")


def reference_codexglue_bleu(references: list[str], predictions: list[str]) -> float:
    """CodeXGLUE's corpus BLEU, written from its evaluator's formula (smooth=True)."""
    matches, possible = [0] * 4, [0] * 4
    ref_len = hyp_len = 0
    for reference, prediction in zip(references, predictions):
        ref, hyp = reference.strip().split(), prediction.strip().split()
        ref_len += len(ref)
        hyp_len += len(hyp)
        for n in range(1, 5):
            ref_counts = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            hyp_counts = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            matches[n - 1] += sum((hyp_counts & ref_counts).values())
            possible[n - 1] += max(0, len(hyp) - n + 1)
    precisions = [(m + 1.0) / (p + 1.0) for m, p in zip(matches, possible)]
    geo_mean = math.exp(sum(math.log(p) / 4 for p in precisions))
    ratio = hyp_len / ref_len
    penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return 100 * geo_mean * penalty


def _java_cs(n: int) -> tuple[list[str], list[str]]:
    root = DATA / "codexglue" / "code-to-code-trans"
    refs = (root / "test.java-cs.txt.cs").read_text(encoding="utf-8").splitlines()[:n]
    # predictions: the reference with words dropped or swapped, and a few exact copies
    rng = np.random.default_rng(0)
    preds = []
    for i, ref in enumerate(refs):
        words = ref.split()
        if i % 5 and len(words) > 3:
            keep = rng.random(len(words)) > 0.2
            words = [w for w, k in zip(words, keep) if k]
        preds.append(" ".join(words))
    return refs, preds


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
def test_codexglue_bleu_equals_the_evaluator_formula_on_real_data():
    refs, preds = _java_cs(60)
    metric = make_metrics(["codexglue_bleu"])[0]
    assert metric.score(refs, preds) == pytest.approx(
        reference_codexglue_bleu(refs, preds), abs=1e-9
    )
    stats = metric.item_stats(refs, preds)
    half = metric.from_totals(stats[:30].sum(axis=0), 30)
    assert half == pytest.approx(reference_codexglue_bleu(refs[:30], preds[:30]), abs=1e-9)


def test_codexglue_bleu_worked_by_hand():
    # ref "a b c d", hyp "a b c": matches 3,2,1,0; possible 3,2,1,0 -> precisions
    # 4/4, 3/3, 2/2, 1/1 = 1; ratio 3/4 -> penalty exp(1 - 4/3)
    metric = make_metrics(["codexglue_bleu"])[0]
    assert metric.score(["a b c d"], ["a b c"]) == pytest.approx(100 * math.exp(1 - 4 / 3))
    assert metric.score(["a b"], [""]) == 0.0


def test_codexglue_exact_match_strips_and_is_case_sensitive():
    metric = make_metrics(["codexglue_em"])[0]
    values = metric.item_values(metric.item_stats(["int a;", "int a;"], [" int a; ", "Int a;"]))
    assert values.tolist() == [1.0, 0.0]


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
@pytest.mark.parametrize("lang", ["c_sharp", "java"])
def test_codebleu_equals_the_codebleu_package(lang):
    codebleu = pytest.importorskip("codebleu")
    if lang == "c_sharp":
        refs, preds = _java_cs(25)
    else:
        root = DATA / "codexglue" / "code-refinement-small"
        refs = (root / "test.buggy-fixed.fixed").read_text().splitlines()[:25]
        preds = (root / "test.buggy-fixed.buggy").read_text().splitlines()[:25]
    metric = make_metrics([{"name": "codebleu", "lang": lang}])[0]
    expected = codebleu.calc_codebleu([[r] for r in refs], preds, lang=lang)["codebleu"]
    assert metric.score(refs, preds) == pytest.approx(expected, abs=1e-12)
    stats = metric.item_stats(refs, preds)
    first = codebleu.calc_codebleu([[r] for r in refs[:10]], preds[:10], lang=lang)["codebleu"]
    assert metric.from_totals(stats[:10].sum(axis=0), 10) == pytest.approx(first, abs=1e-12)


@pytest.mark.parametrize(
    ("generation", "strict", "flexible"),
    [
        ("Half of 20 is 10.\n#### 10", 1.0, 1.0),
        ("#### 1,000.", 0.0, 0.0),  # reference 10; commas and the final dot are ignored
        ("So 7 + 3 = 10 apples.", 0.0, 1.0),  # no '#### ': strict is [invalid]
        ("#### 10 and then 12", 1.0, 0.0),  # flexible takes the last number
        ("The answer is $10", 0.0, 1.0),  # '$' is ignored
        ("#### -10", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_gsm8k_strict_and_flexible_follow_lm_eval_rules(generation, strict, flexible):
    reference = "She has 4 + 6 = <<4+6=10>>10 apples.\n#### 10"
    metrics = make_metrics(["strict_match", "flexible_extract"])
    assert metrics[0].score([reference], [generation]) == strict
    assert metrics[1].score([reference], [generation]) == flexible


def test_gsm8k_thousands_separator_matches_after_comma_removal():
    metric = make_metrics(["strict_match"])[0]
    assert metric.score(["so\n#### 1,234"], ["#### 1234"]) == 1.0


def test_lc_win_rate_equals_scikit_learn_logistic_regression():
    sklearn = pytest.importorskip("sklearn.linear_model")
    from fteval.compare.judged import lc_reference

    rng = np.random.default_rng(3)
    x = np.tanh(rng.normal(size=40))
    y = np.clip(0.5 + 0.4 * x + rng.normal(scale=0.3, size=40), 0, 1).round(1)
    # soft labels as two weighted rows per item (label 1 with weight y, 0 with 1 - y)
    model = sklearn.LogisticRegression(penalty=None, tol=1e-10, max_iter=1000)
    features = np.concatenate([x, x]).reshape(-1, 1)
    labels = np.concatenate([np.ones(40), np.zeros(40)])
    model.fit(features, labels, sample_weight=np.concatenate([y, 1 - y]))
    expected = 1 / (1 + math.exp(-model.intercept_[0]))
    assert lc_reference(y, x) == pytest.approx(expected, abs=1e-6)
    assert lc_reference([1.0, 1.0], [0.3, -0.2]) == 1.0  # all wins: the limit


def test_executed_pass_at_k_reads_the_sandbox_results():
    from fteval.metrics.code import pass_at_k
    from fteval.records import SampleResult
    from fteval.scoring import attach_scores

    metric = make_metrics([{"name": "executed_pass@k", "k": 2}])[0]
    sample = SampleResult("t", "1", "a", "", None, "code", meta={"passed": [True, False, False]})
    attach_scores([sample], [metric])
    assert sample.scores["pass@2"] == pytest.approx(pass_at_k(3, 1, 2))

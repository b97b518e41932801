"""Properties every registered metric must have (scikit-learn's "common tests" style).

Each registered metric is classified by the inputs it reads; a metric that is registered
but not classified here fails ``test_every_registered_metric_is_classified``, so a new
metric cannot skip these checks. For each: its statistics are per item (the statistics
of joined inputs are the joined statistics) and order-free, its score comes from summed
statistics (batched or not), empty and single-item input follow the policy (NaN for no
items), perfect predictions score best, the signature says how the number was made, and
options survive the manifest's JSON round trip and reach the metric.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from fteval.metrics import available_metrics, make_metrics
from fteval.metrics.base import UNITS, Metric

LABELS = ("login", "billing", "refund")
BINARY = ("no", "yes")


@dataclass(frozen=True)
class Kind:
    """A family of metrics that read the same kind of inputs."""

    inputs: Callable[[int], tuple[list[Any], list[Any]]]  # n -> (targets, predictions)
    perfect: Callable[[list[Any]], list[Any]] | None = None  # targets -> best predictions
    labels: tuple[str, ...] | None = None


def _labels(labels: tuple[str, ...]) -> Callable[[int], tuple[list[Any], list[Any]]]:
    def inputs(n: int) -> tuple[list[Any], list[Any]]:
        rng = np.random.default_rng(n)
        targets = [labels[i] for i in rng.integers(0, len(labels), n)]
        predictions: list[Any] = [labels[i] for i in rng.integers(0, len(labels), n)]
        if n > 3:
            predictions[1] = targets[1]
            predictions[2] = "unknown"  # outside the label set: the "other" column
            predictions[3] = None  # no prediction (every choice NaN)
        return targets, predictions

    return inputs


SENTENCES = [
    "the cat sat on the mat",
    "a quick brown fox jumps over the lazy dog",
    "refunds take five business days",
    "your parcel ships tomorrow morning",
    "Bonjour à tous, ça va très bien",
    "he said: 'no!'",
    "我们明天见",
    "numbers 1 2 3 and more",
]


def _texts(n: int) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(n)
    targets: list[Any] = []
    predictions: list[Any] = []
    for i in range(n):
        reference = SENTENCES[i % len(SENTENCES)]
        targets.append([reference, reference.upper()] if i % 4 == 1 else reference)
        words = reference.split()
        kept = [w for w in words if rng.random() < 0.7]
        predictions.append(" ".join(kept) if i % 5 else "")
    return targets, predictions


def _first_reference(targets: list[Any]) -> list[Any]:
    return [t if isinstance(t, str) else t[0] for t in targets]


def _log_likelihoods(n: int) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(n)
    tokens = rng.integers(1, 40, n)
    return [None] * n, [
        {"logprob": -float(t) * rng.uniform(1.0, 4.0), "n_tokens": int(t)} for t in tokens
    ]


def _answers(n: int) -> tuple[list[Any], list[Any]]:
    """GSM8K-style: a number to find, and outputs that end (or not) with ``#### N``."""
    rng = np.random.default_rng(n)
    targets = [str(int(x)) for x in rng.integers(0, 500, n)]
    predictions = [
        f"so the answer is #### {t}" if i % 3 == 0 else f"about {int(t) + i} apples"
        for i, t in enumerate(targets)
    ]
    return targets, predictions


def _lmeval_values(n: int) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(n)
    return [None] * n, [{"acc": float(x)} for x in rng.integers(0, 2, n)]


def _code(n: int) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(n)
    return [None] * n, [{"n": 100, "c": int(c)} for c in rng.integers(0, 101, n)]


KINDS = {
    "label": Kind(_labels(LABELS), perfect=list, labels=LABELS),
    "binary": Kind(_labels(BINARY), perfect=list, labels=BINARY),
    "text": Kind(_texts, perfect=_first_reference),
    "lm": Kind(_log_likelihoods),
    "code": Kind(_code, perfect=lambda targets: [{"n": 100, "c": 100}] * len(targets)),
    "answer": Kind(_answers, perfect=lambda targets: [f"#### {t}" for t in targets]),
    "lmeval": Kind(_lmeval_values, perfect=lambda targets: [{"acc": 1.0}] * len(targets)),
}

# metric -> its kind, or "model" for metrics that run a model of their own (their
# statistics are stored per sample; the properties of their aggregate are checked on
# synthetic statistics, their item statistics against the reference in test_semantic).
CLASSIFIED: dict[str, str] = {
    "acc": "label",
    "acc_norm": "label",
    **{f"{k}_{a}": "label" for k in ("precision", "recall", "f1")
       for a in ("macro", "weighted", "micro", "per_class")},
    **{f"{k}_binary": "binary" for k in ("precision", "recall", "f1")},
    **{m: "text" for m in ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum",
                           "meteor", "exact_match", "squad_em", "squad_f1",
                           "codexglue_bleu", "codexglue_em", "codebleu")},
    "strict_match": "answer",
    "flexible_extract": "answer",
    "lmeval_metric": "lmeval",
    "cross_entropy": "lm",
    "perplexity": "lm",
    **{m: "code" for m in ("pass@1", "pass@10", "pass@100", "pass@k", "executed_pass@k")},
    **{m: "model" for m in ("bertscore", "bertscore_precision", "bertscore_recall", "bleurt")},
}  # fmt: skip

# options that change the numbers: they must reach the metric (its signature changes)
OPTIONS: dict[str, dict[str, Any]] = {
    "bleu": {"tokenize": "char", "lowercase": True},
    "chrf": {"word_order": 2},
    **{m: {"use_stemmer": True} for m in ("rouge1", "rouge2", "rougeL", "rougeLsum")},
    "meteor": {"alpha": 0.85},
    "exact_match": {"lowercase": True, "strip_punctuation": True},
    **{f"{k}_binary": {"pos_label": "no"} for k in ("precision", "recall", "f1")},
    "pass@k": {"k": 5},
    "executed_pass@k": {"k": 2},
    "codebleu": {"lang": "c_sharp"},  # the grammars fteval[code] installs: java, c_sharp
    "lmeval_metric": {"higher_is_better": False},
    "bertscore": {"rescale_with_baseline": False},
}
REQUIRED: dict[str, dict[str, Any]] = {
    "pass@k": {"k": 3},
    "executed_pass@k": {"k": 1},
    "lmeval_metric": {"key": "acc"},
    "bleurt": {"checkpoint": "a BLEURT checkpoint"},
    # the default refuses references in scripts rouge-score's tokenizer deletes
    **{m: {"tokenizer": "unicode"} for m in ("rouge1", "rouge2", "rougeL", "rougeLsum")},
}


def _build(name: str, **options: Any) -> list[Metric]:
    kind = CLASSIFIED[name]
    labels = KINDS[kind].labels if kind in KINDS else None
    return make_metrics([{"name": name, **REQUIRED.get(name, {}), **options}], labels=labels)


def _computable() -> list[str]:
    return [name for name in available_metrics() if CLASSIFIED.get(name) in KINDS]


def _metrics(name: str) -> list[Metric]:
    if name == "meteor":
        pytest.importorskip("nltk")
        from fteval.metrics.meteor import WordNetNotFoundError

        try:
            return _build(name)
        except WordNetNotFoundError as error:
            from tests.conftest import skip_unless_required

            skip_unless_required(f"no WordNet on this machine: {error}")
    return _build(name)


def test_every_registered_metric_is_classified():
    assert sorted(set(available_metrics()) - set(CLASSIFIED)) == []
    assert sorted(set(CLASSIFIED) - set(available_metrics())) == []


@pytest.mark.parametrize("name", _computable())
def test_statistics_are_per_item_and_the_score_ignores_item_order(name):
    kind = KINDS[CLASSIFIED[name]]
    targets, predictions = kind.inputs(16)
    order = np.random.default_rng(1).permutation(16)
    for metric in _metrics(name):
        stats = metric.item_stats(targets, predictions)
        assert stats.dtype == np.float64 and stats.ndim == 2 and len(stats) == 16
        head = metric.item_stats(targets[:7], predictions[:7])
        tail = metric.item_stats(targets[7:], predictions[7:])
        np.testing.assert_array_equal(np.vstack([head, tail]), stats)
        shuffled = metric.score([targets[i] for i in order], [predictions[i] for i in order])
        assert shuffled == pytest.approx(metric.score(targets, predictions), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", _computable())
def test_the_score_comes_from_summed_statistics_batched_or_not(name):
    kind = KINDS[CLASSIFIED[name]]
    targets, predictions = kind.inputs(12)
    for metric in _metrics(name):
        stats = metric.item_stats(targets, predictions)
        whole = metric.score(targets, predictions)
        assert float(metric.from_totals(stats.sum(axis=0), len(stats))) == whole
        parts = [stats[:4], stats[4:], stats]
        totals = np.stack([p.sum(axis=0) for p in parts])
        batched = metric.from_totals(totals, np.array([len(p) for p in parts], dtype=float))
        assert batched.shape == (3,)
        single = [float(metric.from_totals(t, len(p))) for t, p in zip(totals, parts)]
        np.testing.assert_allclose(batched, single, rtol=1e-12)
        values = metric.item_values(stats)
        assert values.shape == (12,)


@pytest.mark.parametrize("name", _computable())
def test_no_items_score_nan_and_one_item_is_its_own_score(name):
    kind = KINDS[CLASSIFIED[name]]
    targets, predictions = kind.inputs(5)
    for metric in _metrics(name):
        empty = metric.item_stats([], [])
        k = metric.item_stats(targets, predictions).shape[1]
        assert empty.shape == (0, k)
        assert math.isnan(float(metric.from_totals(np.zeros(k), 0)))
        one = metric.item_stats(targets[:1], predictions[:1])
        score = metric.score(targets[:1], predictions[:1])
        assert score == float(metric.from_totals(one[0], 1))
        if math.isfinite(score) and metric.binary_outcome:
            assert score == float(metric.item_values(one)[0])


@pytest.mark.parametrize("name", [n for n in _computable() if KINDS[CLASSIFIED[n]].perfect])
def test_perfect_predictions_score_best(name):
    kind = KINDS[CLASSIFIED[name]]
    targets, predictions = kind.inputs(16)
    perfect = kind.perfect(targets)
    for metric in _metrics(name):
        best = metric.score(targets, perfect)
        assert metric.higher_is_better
        assert best >= metric.score(targets, predictions)
        if metric.unit == "proportion":
            assert best == 1.0


@pytest.mark.parametrize("name", [n for n in available_metrics() if n != "bleurt"])
def test_signature_says_what_made_the_number(name):
    if CLASSIFIED[name] == "model":
        pytest.importorskip("bert_score")
    for metric in _metrics(name):
        signature = metric.signature()
        assert signature.split("|")[0] in (metric.name, metric.key), signature
        assert "fteval:" in signature
        assert metric.unit in UNITS
        assert metric.scale in (1.0, 100.0)
        assert metric.unit != "proportion" or metric.scale == 100.0


@pytest.mark.parametrize("name", [n for n in available_metrics() if n != "bleurt"])
def test_options_survive_the_manifests_json_round_trip_and_reach_the_metric(name):
    if CLASSIFIED[name] == "model":
        pytest.importorskip("bert_score")
    options = OPTIONS.get(name, {})
    spec = {"name": name, **REQUIRED.get(name, {}), **options}
    labels = KINDS[CLASSIFIED[name]].labels if CLASSIFIED[name] in KINDS else None
    if name == "meteor":
        _metrics(name)  # skips (or fails under make test) without WordNet
    made = make_metrics([spec], labels=labels)
    again = make_metrics([json.loads(json.dumps(spec))], labels=labels)
    assert [m.signature() for m in again] == [m.signature() for m in made]
    assert [m.key for m in again] == [m.key for m in made]
    if options and name != "bertscore":
        plain = _build(name)
        assert [m.signature() for m in made] != [m.signature() for m in plain]
    with pytest.raises(ValueError, match=re.escape(name)) as caught:
        make_metrics([{**spec, "no_such_option": 1}], labels=labels)
    assert "no_such_option" in str(caught.value)


@pytest.mark.parametrize("name", [n for n, kind in CLASSIFIED.items() if kind == "model"])
def test_metrics_with_a_model_of_their_own_store_their_statistics(name):
    from fteval.metrics import semantic

    cls = {
        "bertscore": semantic.BERTScoreF1,
        "bertscore_precision": semantic.BERTScorePrecision,
        "bertscore_recall": semantic.BERTScoreRecall,
        "bleurt": semantic.BLEURT,
    }[name]
    assert cls.store_stats  # re-scoring a run never loads the model again
    rng = np.random.default_rng(0)
    stats = rng.uniform(-0.2, 1.0, (9, 1))
    totals = np.stack([stats[:4].sum(0), stats.sum(0)])
    # their aggregate is the mean of the stored per-item values (no instance state used)
    batched = cls.from_totals(None, totals, np.array([4.0, 9.0]))  # type: ignore[arg-type]
    np.testing.assert_allclose(batched, [stats[:4].mean(), stats.mean()], rtol=1e-12)
    assert math.isnan(float(cls.from_totals(None, np.zeros(1), 0)))  # type: ignore[arg-type]

"""Classification metrics equal scikit-learn's on the same labels."""

from __future__ import annotations

import numpy as np
import pytest

from fteval.metrics import F1, Accuracy, Precision, Recall, confusion_matrix, make_metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")

LABELS = ["login", "billing", "refund", "shipping"]


def random_labels(seed: int, n: int, labels=LABELS, outside: float = 0.0):
    rng = np.random.default_rng(seed)
    y_true = [labels[i] for i in rng.integers(0, len(labels), n)]
    y_pred = [labels[i] for i in rng.integers(0, len(labels), n)]
    for i in range(n):
        if rng.random() < outside:
            y_pred[i] = "other"
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_precision_recall_f1_equal_sklearn(seed, average):
    y_true, y_pred = random_labels(seed, n=5 + 7 * seed, outside=0.1 if seed % 3 == 0 else 0.0)
    for cls, reference in (
        (Precision, sklearn_metrics.precision_score),
        (Recall, sklearn_metrics.recall_score),
        (F1, sklearn_metrics.f1_score),
    ):
        ours = cls(labels=LABELS, average=average).score(y_true, y_pred)
        theirs = reference(y_true, y_pred, labels=LABELS, average=average, zero_division=0)
        assert ours == pytest.approx(theirs, abs=1e-12), (cls.kind, average, seed)


@pytest.mark.parametrize("seed", range(20))
def test_binary_and_per_class_equal_sklearn(seed):
    labels = ["neg", "pos"]
    y_true, y_pred = random_labels(seed, n=10 + seed, labels=labels)
    ours = F1(labels=labels, average="binary").score(y_true, y_pred)
    assert ours == pytest.approx(
        sklearn_metrics.f1_score(y_true, y_pred, pos_label="pos", average="binary", zero_division=0)
    )
    per_class = sklearn_metrics.f1_score(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    for label, expected in zip(labels, per_class):
        assert F1(labels=labels, average=None, label=label).score(y_true, y_pred) == pytest.approx(
            expected
        )


@pytest.mark.parametrize("seed", range(20))
def test_accuracy_and_confusion_matrix_equal_sklearn(seed):
    y_true, y_pred = random_labels(seed, n=3 + 11 * seed, outside=0.05)
    assert Accuracy().score(y_true, y_pred) == pytest.approx(
        sklearn_metrics.accuracy_score(y_true, y_pred)
    )
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, labels=LABELS),
        sklearn_metrics.confusion_matrix(y_true, y_pred, labels=LABELS),
    )


def test_class_missing_from_targets_and_predictions_counts_as_zero_in_macro():
    y_true, y_pred = ["login", "billing", "login"], ["login", "login", "login"]
    ours = F1(labels=LABELS, average="macro").score(y_true, y_pred)
    theirs = sklearn_metrics.f1_score(
        y_true, y_pred, labels=LABELS, average="macro", zero_division=0
    )
    assert ours == pytest.approx(theirs)


def test_batched_totals_equal_row_by_row_scores():
    y_true, y_pred = random_labels(7, n=40)
    metric = F1(labels=LABELS, average="macro")
    stats = metric.item_stats(y_true, y_pred)
    rng = np.random.default_rng(0)
    counts = rng.multinomial(40, np.full(40, 1 / 40), size=5).astype(float)
    batched = metric.from_totals(counts @ stats, np.full(5, 40))
    single = [metric.from_totals(c @ stats, 40) for c in counts]
    np.testing.assert_allclose(batched, single)


def test_registry_expands_per_class_and_rejects_unknown_names():
    metrics = make_metrics(["acc", "f1_per_class"], labels=["a", "b", "c"])
    assert [m.key for m in metrics] == ["acc", "f1[a]", "f1[b]", "f1[c]"]
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        make_metrics(["f2"], labels=["a"])
    with pytest.raises(ValueError, match="needs the task's label set"):
        make_metrics(["f1_macro"])


def test_target_outside_the_label_set_is_an_error():
    with pytest.raises(ValueError, match="not among the labels"):
        F1(labels=["a", "b"]).item_stats(["c"], ["a"])


def test_signature_names_average_and_zero_division():
    assert "average:macro" in F1(labels=["a", "b"]).signature()
    assert "zero_division:0" in F1(labels=["a", "b"]).signature()

"""Classification metrics: accuracy, precision, recall, F1, confusion matrix.

All are computed from per-item one-hot cells of the confusion matrix, so they bootstrap
and permute like any other metric. Values equal scikit-learn's ``accuracy_score``,
``precision_score``/``recall_score``/``f1_score`` (``labels=`` the task's label set,
``zero_division=0``) and ``confusion_matrix``; tests/metrics prove it.

Predictions outside the label set (possible when scoring free-form prediction files) fall
in an extra "other" column: they count against recall of the true class and against no
class's precision, exactly as scikit-learn treats labels outside ``labels=``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.metrics.base import MeanMetric, Metric, check_lengths
from fteval.version import __version__

AVERAGES = ("macro", "weighted", "micro", "binary")


class Accuracy(MeanMetric):
    """Share of items whose prediction equals the target, in [0, 1]."""

    name: ClassVar[str] = "acc"
    binary_outcome: ClassVar[bool] = True
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "proportion"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        hits = [float(t == p) for t, p in zip(targets, predictions)]
        return np.asarray(hits, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return f"{self.name}|pred:{self.reads}|fteval:{__version__}"


class NormalisedAccuracy(Accuracy):
    """Accuracy of the choice with the highest log-likelihood per character, in [0, 1]."""

    name: ClassVar[str] = "acc_norm"
    reads: ClassVar[str] = "prediction_norm"


class _ConfusionMetric(Metric):
    """Base for metrics computed from the confusion matrix over a fixed label set."""

    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "proportion"  # ratios of counts, reported as percentages
    kind: ClassVar[str]  # "precision" | "recall" | "f1"

    def __init__(
        self,
        *,
        labels: Sequence[Any],
        average: str | None = "macro",
        label: Any = None,
        pos_label: Any = None,
    ) -> None:
        if not labels:
            raise ValueError(f"{self.kind}: needs a non-empty label set")
        if len(set(labels)) != len(labels):
            raise ValueError(f"{self.kind}: duplicate labels in {list(labels)!r}")
        if average not in (*AVERAGES, None):
            raise ValueError(f"{self.kind}: average must be one of {AVERAGES}, got {average!r}")
        if average is None and label not in labels:
            raise ValueError(f"{self.kind}: per-class label {label!r} not in {list(labels)!r}")
        if pos_label is not None and average != "binary":
            raise ValueError(
                f"{self.kind}: pos_label applies to average='binary' only (an f1_binary-style "
                f"metric), not to average={average!r}"
            )
        if average == "binary":
            if len(labels) != 2:
                raise ValueError(
                    f"{self.kind}: average='binary' needs 2 labels, got {list(labels)!r}"
                )
            pos_label = labels[1] if pos_label is None else pos_label
            if pos_label not in labels:
                raise ValueError(f"{self.kind}: pos_label {pos_label!r} not in {list(labels)!r}")
        self.labels = tuple(labels)
        self.average = average
        self.label = label
        self.pos_label = pos_label
        self._index = {lab: i for i, lab in enumerate(self.labels)}

    @property
    def key(self) -> str:
        """The name results use: ``f1_macro``, ``f1_binary``, ``f1[billing]``."""
        if self.average is None:
            return f"{self.kind}[{self.label}]"
        return f"{self.kind}_{self.average}"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.key, targets, predictions)
        n_labels = len(self.labels)
        cells = np.zeros((len(targets), n_labels * (n_labels + 1)), dtype=np.float64)
        for row, (target, prediction) in enumerate(zip(targets, predictions)):
            if target not in self._index:
                raise ValueError(
                    f"{self.kind}: target {target!r} (item {row}) is not among the labels "
                    f"{list(self.labels)!r}"
                )
            true_i = self._index[target]
            pred_i = self._index.get(prediction, n_labels)  # n_labels = "other" column
            cells[row, true_i * (n_labels + 1) + pred_i] = 1.0
        return cells

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        """The score from summed cells; NaN for no items (``zero_division`` is for classes).

        Args:
            totals: summed one-hot cells, shape ``[k]`` or ``[b, k]``.
            n: items summed, scalar or ``[b]``.
        """
        with np.errstate(invalid="ignore"):
            values = self._from_cells(np.asarray(totals, dtype=np.float64))
        return np.where(np.asarray(n) > 0, values, np.nan)

    def _from_cells(self, totals: np.ndarray) -> np.ndarray:
        n_labels = len(self.labels)
        matrix = totals.reshape(*totals.shape[:-1], n_labels, n_labels + 1)
        tp = np.diagonal(matrix[..., :n_labels], axis1=-2, axis2=-1)
        predicted = matrix[..., :n_labels].sum(axis=-2)
        actual = matrix.sum(axis=-1)
        if self.average == "micro":
            tp, predicted, actual = tp.sum(-1), predicted.sum(-1), actual.sum(-1)
            return _per_class(self.kind, tp, predicted, actual)
        values = _per_class(self.kind, tp, predicted, actual)
        if self.average is None:
            return values[..., self._index[self.label]]
        if self.average == "binary":
            return values[..., self._index[self.pos_label]]
        if self.average == "macro":
            return values.mean(axis=-1)
        support = actual.sum(axis=-1, keepdims=True)
        weights = np.divide(actual, support, out=np.zeros_like(actual), where=support > 0)
        return (values * weights).sum(axis=-1)

    def item_values(self, stats: np.ndarray) -> np.ndarray:
        """Per item: 1 when the prediction equals the target, else 0 (F1 is corpus-only)."""
        n_labels = len(self.labels)
        matrix = np.asarray(stats).reshape(len(stats), n_labels, n_labels + 1)
        return np.trace(matrix[..., :n_labels], axis1=-2, axis2=-1).astype(np.float64)

    def confusion(self, stats: np.ndarray) -> np.ndarray:
        """The confusion matrix (rows: true, columns: predicted, last column: other)."""
        n_labels = len(self.labels)
        return np.asarray(stats).sum(axis=0).reshape(n_labels, n_labels + 1)

    def signature(self) -> str:
        average = self.average or f"class:{self.label}"
        extra = f"|pos_label:{self.pos_label}" if self.average == "binary" else ""
        return (
            f"{self.kind}|average:{average}{extra}|labels:{len(self.labels)}"
            f"|zero_division:0|fteval:{__version__}"
        )


def _per_class(kind: str, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Precision, recall or F1 with scikit-learn's ``zero_division=0`` policy."""
    if kind == "precision":
        num, den = tp, predicted
    elif kind == "recall":
        num, den = tp, actual
    else:
        num, den = 2.0 * tp, predicted + actual
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


class Precision(_ConfusionMetric):
    """Precision over the task's labels, in [0, 1]."""

    name: ClassVar[str] = "precision"
    kind: ClassVar[str] = "precision"


class Recall(_ConfusionMetric):
    """Recall over the task's labels, in [0, 1]."""

    name: ClassVar[str] = "recall"
    kind: ClassVar[str] = "recall"


class F1(_ConfusionMetric):
    """F1 over the task's labels, in [0, 1]."""

    name: ClassVar[str] = "f1"
    kind: ClassVar[str] = "f1"


def confusion_matrix(
    targets: Sequence[Any], predictions: Sequence[Any], *, labels: Sequence[Any]
) -> np.ndarray:
    """Counts, rows = true label, columns = predicted label (scikit-learn's layout).

    Predictions outside ``labels`` are not counted, as in scikit-learn.
    """
    metric = F1(labels=labels)
    return metric.confusion(metric.item_stats(targets, predictions))[:, : len(labels)]

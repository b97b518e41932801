"""The metric interface: per-item sufficient statistics plus an aggregate.

Each metric turns (targets, predictions) into a matrix of per-item statistics of shape
``[n_items, k]``; the corpus score is a function of the column sums. Accuracy uses
``k = 1`` (the item's 0/1 outcome), corpus BLEU the n-gram match counts, macro-F1 the
item's one-hot cell of the confusion matrix. Because every score is a function of summed
rows, the statistics package can bootstrap or permute *any* metric — corpus BLEU and
macro-F1 included — by resampling rows, without recomputing from strings.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

UNITS = ("proportion", "points", "native")


class Metric(abc.ABC):
    """A metric as sufficient statistics + aggregate. Instances are immutable.

    Class attributes:
        name: the registry name (``acc``, ``f1_macro``, ``bleu``...).
        higher_is_better: direction of improvement.
        binary_outcome: True when each item's statistic row is a single 0/1 value and the
            score is their mean (exact McNemar then applies to paired comparisons).
        outcome_may_be_binary: True for a mean metric whose items are 0/1 for some tasks
            only (an lm-evaluation-harness metric): paired comparisons then use McNemar
            exactly when every item of both arms is 0 or 1.
        reads: the sample field holding the prediction (``prediction`` or
            ``prediction_norm`` for length-normalised choice scoring).
        scale: multiply by this to show the score to people (100 for proportions, shown
            as percent; deltas then read as percentage points).
        unit: what a displayed value is (``UNITS``): ``"proportion"`` — a share in
            [0, 1] shown x100 as a percentage, deltas in percentage points (accuracy,
            precision, recall, F1, exact match, pass@k); ``"points"`` — a score on a
            0-100 display scale that is not a share of anything (BLEU, chrF, ROUGE,
            METEOR, SQuAD F1), deltas in points; ``"native"`` — the metric's own unit
            with no fixed range (perplexity, nats per token, BERTScore similarity),
            compared by ratios rather than points.
        store_stats: True for metrics that need a model of their own (BERTScore, BLEURT):
            their per-item statistics are written to samples.jsonl, so re-scoring and
            reports never load that model again.
        input_kind: what a prediction is: ``"text"`` (a label or a generated string, as
            prediction files hold), ``"loglikelihood"`` (a model's log-probability and
            token count: ``fteval run``) or ``"executions"`` (per-sample test results of
            generated code: ``fteval score --problems``).
        tokenizer_dependent: True when the value is per token of the model's own
            tokenizer (perplexity, cross-entropy): arms with different tokenizers are then
            not on one scale, and a run comparing them says so.
    """

    name: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    binary_outcome: ClassVar[bool] = False
    outcome_may_be_binary: ClassVar[bool] = False
    reads: ClassVar[str] = "prediction"
    scale: ClassVar[float] = 1.0
    unit: ClassVar[str] = "native"
    store_stats: ClassVar[bool] = False
    input_kind: ClassVar[str] = "text"
    tokenizer_dependent: ClassVar[bool] = False

    @property
    def key(self) -> str:
        """The name this metric's rows carry in results (``f1_macro``, ``bleu``...)."""
        return self.name

    @abc.abstractmethod
    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        """Per-item sufficient statistics, float64 of shape ``[n_items, k]``."""

    @abc.abstractmethod
    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        """The score from summed statistics.

        Args:
            totals: column sums, shape ``[k]`` or batched ``[b, k]``.
            n: number of items summed (scalar or shape ``[b]``).

        Returns:
            The score(s), shape ``[]`` or ``[b]``; NaN where undefined (e.g. n == 0).
        """

    @abc.abstractmethod
    def signature(self) -> str:
        """How the number was computed, e.g. ``acc|pred:argmax-logprob|version:...``."""

    def item_values(self, stats: np.ndarray) -> np.ndarray:
        """Each item's own score (for samples.jsonl), shape ``[n_items]``."""
        stats = np.asarray(stats, dtype=np.float64)
        return np.asarray(self.from_totals(stats, np.ones(len(stats))), dtype=np.float64)

    def score(self, targets: Sequence[Any], predictions: Sequence[Any]) -> float:
        """The corpus score of the whole set."""
        stats = self.item_stats(targets, predictions)
        return float(self.from_totals(stats.sum(axis=0), len(stats)))


class MeanMetric(Metric):
    """A metric whose score is the mean of one per-item value (``k = 1``)."""

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, totals[..., 0] / np.where(n > 0, n, 1), np.nan)


def check_lengths(
    metric: str,
    targets: Sequence[Any],
    predictions: Sequence[Any],
    *,
    names: tuple[str, str] = ("targets", "predictions"),
) -> None:
    """Raise ValueError when targets and predictions differ in length (every metric's check).

    Args:
        metric: the metric's name, for the message.
        targets: one target per item.
        predictions: one prediction per item.
        names: what the two sequences are called in the message.
    """
    if len(targets) != len(predictions):
        raise ValueError(
            f"{metric}: {names[0]} and {names[1]} differ in length: "
            f"{len(targets)} != {len(predictions)}"
        )

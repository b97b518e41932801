"""Calibration of log-likelihood (multiple-choice) tasks, per arm and vs the base.

An item's predictive distribution is the softmax of its choices' log-likelihoods
(``choice_logprobs``; a NaN log-likelihood counts as probability 0). Its *confidence* is
the probability of the predicted choice (the argmax, first on ties: the ``acc``
prediction) and it is *correct* when that choice is the gold one.

* ``ece``: expected calibration error over :data:`N_BINS` = 15 equal-width confidence
  bins (Guo et al. 2017): bin ``b`` holds confidences in ``((b-1)/15, b/15]`` (0 in the
  first bin); ``ECE = Σ_b |Σ_{i∈b} conf_i − Σ_{i∈b} correct_i| / n``.
* ``ece_equal_mass``: the same sum over 15 bins of equal size: items sorted by confidence
  (stable), split into 15 runs whose sizes differ by at most one (``numpy.array_split``).
* ``brier``: ``mean_i Σ_k (p_ik − y_ik)²`` over the choices, halved for items with two
  choices — scikit-learn's ``brier_score_loss`` (``scale_by_half="auto"``) for binary and
  for multi-class tasks alike.
* ``nll``: ``mean_i −log p_i(gold)``, with ``p`` clipped below at float64's machine
  epsilon — scikit-learn's ``log_loss``.
* ``overconfidence``: mean confidence − accuracy (positive: more confident than right),
  with a bootstrap CI; ``overconfident`` when the CI lies above 0.
* ``reliability``: per equal-width bin, its bounds, item count, mean confidence and
  accuracy (null for an empty bin): the data of a reliability diagram.
* ``temperature``: when the task has a validation split, the ``T`` in [0.05, 20] that
  minimises the NLL of the validation items' gold choices under ``softmax(logprobs / T)``
  (bounded Brent search on log T), and ``ece_after_temperature``: the test ECE after
  dividing by ``T``. Temperature never changes the argmax, so accuracy is unchanged;
  when ECE falls to near zero the overconfidence is fixable by rescaling alone.
* ``vs_base``: for ``ece``, ``brier`` and ``nll``, the arm vs the
  base on the same items (paired by id) through the comparison engine: the arm's value
  minus the base's, its interval, the paired permutation test (each item's two arms
  swapped as a whole), the run's correction and a verdict (``improved``: better
  calibrated than the base).

Items with fewer than two choices (a log-likelihood task scoring one continuation),
whose gold label is not among their choices, or whose every choice has a NaN
log-likelihood, are left out (``n`` counts the rest); a task with no item left gets no
calibration rows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from fteval import engine, stats
from fteval.engine import ItemStats, StatsOptions
from fteval.metrics.base import MeanMetric, Metric
from fteval.records import SampleResult
from fteval.records.rows import Comparison, Row, meta

N_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)
EPS = float(np.finfo(np.float64).eps)
DELTA_METRICS = ("ece", "brier", "nll")


@dataclass(frozen=True)
class ItemCalibration:
    """Per-item calibration facts of one arm, aligned by ``example_ids``.

    Attributes:
        example_ids: the items kept.
        logprobs: each item's choice log-likelihoods (NaN as -inf).
        gold: index of the gold choice per item.
    """

    example_ids: tuple[str, ...]
    logprobs: tuple[np.ndarray, ...]
    gold: np.ndarray

    def probabilities(self, temperature: float = 1.0) -> list[np.ndarray]:
        """Each item's softmax over its choices at ``temperature``."""
        return [_softmax(lp / temperature) for lp in self.logprobs]


def _softmax(logprobs: np.ndarray) -> np.ndarray:
    top = np.max(logprobs)
    weights = np.exp(logprobs - top)
    return weights / weights.sum()


def item_calibration(
    samples: Sequence[SampleResult], labels: Sequence[str] = ()
) -> ItemCalibration:
    """The usable items of one arm's choice samples (see the module docstring).

    The choices of a sample are its ``meta.choices``; samples written before fteval kept
    them use the task's labels (fixed choices, or ``A``, ``B``, ... per row).
    """
    ids, logprobs, gold = [], [], []
    for sample in samples:
        choices = list(sample.meta.get("choices") or labels[: len(sample.choice_logprobs or [])])
        values = np.array(
            [-math.inf if v is None or math.isnan(v) else v for v in sample.choice_logprobs or []],
            dtype=np.float64,
        )
        if len(values) < 2 or sample.target not in choices or not np.isfinite(values).any():
            continue  # one continuation (a loglikelihood task) has no distribution to calibrate
        ids.append(sample.example_id)
        logprobs.append(values)
        gold.append(choices.index(sample.target))
    return ItemCalibration(tuple(ids), tuple(logprobs), np.array(gold, dtype=np.int64))


def confidence_and_correct(
    probs: Sequence[np.ndarray], gold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence of the argmax, 1.0 when the argmax is the gold choice) per item."""
    predicted = np.array([int(np.argmax(p)) for p in probs], dtype=np.int64)
    confidence = np.array([p[i] for p, i in zip(probs, predicted)], dtype=np.float64)
    return confidence, (predicted == gold).astype(np.float64)


def bin_index(confidence: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-width bin of each confidence: ``((b-1)/n, b/n]``, 0 in the first bin."""
    return np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


class ECEMetric(Metric):
    """Equal-width ECE from per-item statistics ``[in bin b, conf if in b, correct if in b]``
    for each bin (``3 × n_bins`` columns), so items can be resampled."""

    name: ClassVar[str] = "ece"
    higher_is_better: ClassVar[bool] = False
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "points"

    def __init__(self, n_bins: int = N_BINS) -> None:
        self.n_bins = n_bins

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError("built from confidences with ece_stats()")

    def stats_of(self, confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
        """The per-item statistics of confidences and 0/1 outcomes."""
        rows = np.zeros((len(confidence), 3 * self.n_bins))
        index = bin_index(confidence, self.n_bins)
        positions = np.arange(len(confidence))
        rows[positions, 3 * index] = 1.0
        rows[positions, 3 * index + 1] = confidence
        rows[positions, 3 * index + 2] = correct
        return rows

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        conf = totals[..., 1::3]
        correct = totals[..., 2::3]
        n = np.asarray(n, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                n > 0, np.abs(conf - correct).sum(axis=-1) / np.where(n > 0, n, 1), np.nan
            )

    def signature(self) -> str:
        return f"ece|bins:{self.n_bins}|equal-width|conf:softmax(choice_logprobs)"


class _Mean(MeanMetric):
    """A lower-is-better mean of a per-item value (Brier, NLL, overconfidence)."""

    higher_is_better: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name  # type: ignore[misc]

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError("built from probabilities")

    def signature(self) -> str:
        return f"{self.name}|conf:softmax(choice_logprobs)"


def brier_items(probs: Sequence[np.ndarray], gold: np.ndarray) -> np.ndarray:
    """Per-item Brier score, halved for two-choice items (scikit-learn's convention)."""
    out = np.empty(len(probs))
    for i, (p, g) in enumerate(zip(probs, gold)):
        onehot = np.zeros_like(p)
        onehot[g] = 1.0
        out[i] = float(np.sum((p - onehot) ** 2)) * (0.5 if len(p) == 2 else 1.0)
    return out


def nll_items(probs: Sequence[np.ndarray], gold: np.ndarray) -> np.ndarray:
    """Per-item −log p(gold), p clipped below at machine epsilon (scikit-learn's rule)."""
    return np.array([-math.log(max(float(p[g]), EPS)) for p, g in zip(probs, gold)])


def ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Equal-width ECE in [0, 1]."""
    metric = ECEMetric(n_bins)
    rows = metric.stats_of(confidence, correct)
    return float(metric.from_totals(rows.sum(axis=0), len(rows)))


def ece_equal_mass(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Equal-mass ECE in [0, 1] (see the module docstring)."""
    if not len(confidence):
        return math.nan
    order = np.argsort(confidence, kind="stable")
    total = sum(
        abs(float(confidence[part].sum() - correct[part].sum()))
        for part in np.array_split(order, min(n_bins, len(order)))
    )
    return total / len(confidence)


def reliability(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS
) -> dict[str, list]:
    """Equal-width reliability-diagram data (lists, one entry per bin)."""
    index = bin_index(confidence, n_bins)
    counts = np.bincount(index, minlength=n_bins)
    conf = np.bincount(index, weights=confidence, minlength=n_bins)
    right = np.bincount(index, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf / np.maximum(counts, 1), np.nan)
        accuracy = np.where(counts > 0, right / np.maximum(counts, 1), np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {
        "bin_lower": edges[:-1].tolist(),
        "bin_upper": edges[1:].tolist(),
        "count": counts.astype(int).tolist(),
        "mean_confidence": [None if math.isnan(v) else float(v) for v in mean_conf],
        "accuracy": [None if math.isnan(v) else float(v) for v in accuracy],
    }


def fit_temperature(items: ItemCalibration) -> float:
    """The temperature minimising the validation NLL (see the module docstring)."""
    from scipy.optimize import minimize_scalar

    if not items.example_ids:
        return math.nan

    def loss(log_t: float) -> float:
        return float(nll_items(items.probabilities(math.exp(log_t)), items.gold).mean())

    low, high = (math.log(b) for b in TEMPERATURE_BOUNDS)
    found = minimize_scalar(loss, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return float(math.exp(found.x))


@dataclass(frozen=True)
class ArmCalibration:
    """One arm's per-item calibration statistics and summary values."""

    items: ItemCalibration
    confidence: np.ndarray
    correct: np.ndarray
    per_item: Mapping[str, np.ndarray]  # metric -> [n, k] statistics


def arm_calibration(samples: Sequence[SampleResult], labels: Sequence[str] = ()) -> ArmCalibration:
    """Per-item statistics of the calibration metrics for one arm's test samples."""
    items = item_calibration(samples, labels)
    probs = items.probabilities()
    confidence, correct = confidence_and_correct(probs, items.gold)
    per_item = {
        "ece": ECEMetric().stats_of(confidence, correct),
        "brier": brier_items(probs, items.gold)[:, None],
        "nll": nll_items(probs, items.gold)[:, None],
        "overconfidence": (confidence - correct)[:, None],
    }
    return ArmCalibration(items, confidence, correct, per_item)


def _metric(name: str) -> Metric:
    return ECEMetric() if name == "ece" else _Mean(name)


SECTION = "calibration"


@dataclass(frozen=True)
class CalibrationRow(Row):
    """Calibration of one arm on one choice task (see the module docstring).

    Attributes:
        task: task name.
        arm: arm name.
        n: items with a usable predictive distribution.
        accuracy: share of items whose argmax is gold, in [0, 1].
        mean_confidence: mean probability of the argmax, in [0, 1].
        overconfidence: mean confidence − accuracy, in [-1, 1].
        overconfidence_ci_low: lower end of its bootstrap interval.
        overconfidence_ci_high: upper end.
        ece: equal-width ECE over ``n_bins`` bins, in [0, 1].
        ece_equal_mass: equal-mass ECE, in [0, 1].
        n_bins: bins of the ECE.
        brier: mean Brier score (halved for two choices), in [0, 2].
        nll: mean negative log-likelihood of gold, nats.
        temperature: fitted on the validation split, or None.
        ece_after_temperature: test ECE after that temperature, or None.
        n_validation: validation items the temperature was fitted on.
        reliability: the reliability diagram's bins.
        overconfident: the overconfidence interval lies above 0.
        scale: 100 (ECE, confidence and accuracy are shown in percent / points).
        message: a sentence when the arm is overconfident, else empty.
        vs_base: per calibration metric (``ece``, ``brier``, ``nll``), the arm vs base
            on the same items.
    """

    DESCRIPTION: ClassVar[str] = "One row per choice task x arm."

    task: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    n: int = field(metadata=meta(schema="count"))
    accuracy: float
    mean_confidence: float
    overconfidence: float
    overconfidence_ci_low: float
    overconfidence_ci_high: float
    ece: float
    ece_equal_mass: float
    n_bins: int
    brier: float
    nll: float
    temperature: float | None
    ece_after_temperature: float | None
    n_validation: int
    reliability: Mapping[str, Any]
    overconfident: bool
    scale: float = field(default=100.0, metadata=meta(schema="positive"))
    message: str = ""
    vs_base: Mapping[str, Comparison] = field(default_factory=dict)
    base_accuracy: float | None = field(default=None, metadata=meta(json=False))

    def after_decision(self) -> CalibrationRow:
        """The message, once the deltas vs base have verdicts."""
        return dataclasses.replace(self, message=_message(self))


def calibration_rows(
    task: str,
    test: Mapping[str, Sequence[SampleResult]],
    validation: Mapping[str, Sequence[SampleResult]],
    base: str | None,
    options: StatsOptions,
    labels: Sequence[str] = (),
) -> list[CalibrationRow]:
    """The ``calibration`` rows of one choice task (one per arm), deltas unadjusted."""
    arms = {arm: arm_calibration(samples, labels) for arm, samples in test.items()}
    if not any(len(cal.confidence) for cal in arms.values()):
        return []
    base_cal = arms.get(base) if base is not None else None
    base_accuracy = float(base_cal.correct.mean()) if base_cal and len(base_cal.correct) else None
    rows = []
    for arm, cal in arms.items():
        reference = base_cal if arm != base else None
        deltas = _deltas(task, arm, base, cal, reference, options) if reference else {}
        row = _arm_row(task, arm, cal, validation.get(arm), options, labels)
        rows.append(dataclasses.replace(row, vs_base=deltas, base_accuracy=base_accuracy))
    return rows


def _arm_row(
    task: str,
    arm: str,
    cal: ArmCalibration,
    validation: Sequence[SampleResult] | None,
    options: StatsOptions,
    labels: Sequence[str],
) -> CalibrationRow:
    n = len(cal.confidence)
    over_stats = cal.per_item["overconfidence"]
    over = stats.bootstrap_ci(
        _metric("overconfidence"), over_stats, confidence=options.confidence,
        n_resamples=options.bootstrap_resamples, method=options.ci_method,
        seed=engine.seed_for(options.seed, "score", engine.digest_of(over_stats)),
    )  # fmt: skip
    accuracy = float(cal.correct.mean()) if n else math.nan
    mean_conf = float(cal.confidence.mean()) if n else math.nan
    temperature, after = None, None
    if validation:
        fitted = fit_temperature(item_calibration(validation, labels))
        if math.isfinite(fitted):
            temperature = fitted
            probs = cal.items.probabilities(fitted)
            after = ece(*confidence_and_correct(probs, cal.items.gold))
    return CalibrationRow(
        task=task,
        arm=arm,
        n=n,
        accuracy=accuracy,
        mean_confidence=mean_conf,
        overconfidence=mean_conf - accuracy,
        overconfidence_ci_low=over.low,
        overconfidence_ci_high=over.high,
        ece=ece(cal.confidence, cal.correct),
        ece_equal_mass=ece_equal_mass(cal.confidence, cal.correct),
        n_bins=N_BINS,
        brier=float(cal.per_item["brier"].mean()) if n else math.nan,
        nll=float(cal.per_item["nll"].mean()) if n else math.nan,
        temperature=temperature,
        ece_after_temperature=after,
        n_validation=len(validation) if validation else 0,
        reliability=reliability(cal.confidence, cal.correct),
        overconfident=bool(n and math.isfinite(over.low) and over.low > 0),
    )


def _deltas(
    task: str,
    arm: str,
    base: str | None,
    cal: ArmCalibration,
    reference: ArmCalibration,
    options: StatsOptions,
) -> dict[str, Comparison]:
    out = {}
    for name in DELTA_METRICS:
        metric = _metric(name)
        out[name] = engine.compare(
            ItemStats(metric, cal.items.example_ids, cal.per_item[name]),
            ItemStats(metric, reference.items.example_ids, reference.per_item[name]),
            options, task=task, arm=arm, reference_arm=base or "", section=SECTION,
        )  # fmt: skip
    return out


def _message(row: CalibrationRow) -> str:
    """Names overconfidence when the data show it (see the module docstring)."""
    if not row.overconfident:
        return ""
    parts = [
        f"{row.arm} is overconfident on {row.task}: mean confidence "
        f"{100 * row.mean_confidence:.1f}% vs accuracy {100 * row.accuracy:.1f}% "
        f"({100 * row.overconfidence:+.1f} points, CI "
        f"[{100 * row.overconfidence_ci_low:+.1f}, {100 * row.overconfidence_ci_high:+.1f}])"
    ]
    nll = row.vs_base.get("nll")
    if (
        nll is not None
        and nll.verdict == stats.REGRESSED
        and row.base_accuracy is not None
        and row.base_accuracy < row.accuracy
    ):
        parts.append("its loss rose vs base while its accuracy rose (high loss, high accuracy)")
    if row.temperature is not None and row.ece_after_temperature is not None:
        fixable = "fixable" if row.ece_after_temperature < 0.5 * row.ece else "not fixed"
        parts.append(
            f"temperature {row.temperature:.2f} fitted on validation takes ECE from "
            f"{100 * row.ece:.1f} to {100 * row.ece_after_temperature:.1f} points "
            f"({fixable} by rescaling)"
        )
    return "; ".join(parts)

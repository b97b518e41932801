"""Metrics: per-item sufficient statistics plus a corpus aggregate (see ``base``)."""

from fteval.metrics.base import MeanMetric, Metric
from fteval.metrics.classification import (
    F1,
    Accuracy,
    NormalisedAccuracy,
    Precision,
    Recall,
    confusion_matrix,
)
from fteval.metrics.registry import available_metrics, make_metrics, register, register_class

__all__ = [
    "F1",
    "Accuracy",
    "MeanMetric",
    "Metric",
    "NormalisedAccuracy",
    "Precision",
    "Recall",
    "available_metrics",
    "confusion_matrix",
    "make_metrics",
    "register",
    "register_class",
]

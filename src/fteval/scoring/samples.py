"""Per-sample metric values and per task x arm scores, from SampleResults alone.

Scoring reads only samples (and each task's metric list and labels, kept in the
manifest), so a saved run can be re-scored or re-reported without loading a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from fteval.engine.items import digest_of
from fteval.errors import FtevalError
from fteval.metrics import Metric, make_metrics
from fteval.records import SampleResult
from fteval.tasks.task import Task


@dataclass(frozen=True)
class TaskInfo:
    """What scoring needs to know of a task (stored in the manifest)."""

    name: str
    kind: str
    metrics: tuple[Any, ...]
    labels: tuple[str, ...]
    n_examples: int
    source: str = ""
    groups: tuple[str, ...] = ()
    judge: dict[str, Any] | None = None
    role: str = "target"
    primary_metric: str = ""

    @classmethod
    def of(cls, task: Task) -> TaskInfo:
        return cls(
            task.name,
            task.kind,
            task.metrics,
            task.labels,
            len(task.examples),
            task.source,
            task.groups,
            task.judge,
            task.role,
            task.primary_metric or "",
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskInfo:
        return cls(
            name=data["name"],
            kind=data["kind"],
            metrics=tuple(data["metrics"]),
            labels=tuple(data.get("labels", ())),
            n_examples=int(data["n_examples"]),
            source=data.get("source", ""),
            groups=tuple(data.get("groups", ())),
            judge=data.get("judge"),
            role=data.get("role", "target"),
            primary_metric=data.get("primary_metric") or "",
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "primary_metric": self.primary_key}

    @cached_property
    def primary_key(self) -> str:
        """The key of the metric the headline verdict is on: ``primary_metric`` when set,
        else the first metric listed."""
        if self.primary_metric:
            return self.primary_metric
        metrics = self.build_metrics()
        return metrics[0].key if metrics else ""

    def build_metrics(self) -> list[Metric]:
        return make_metrics(self.metrics, labels=self.labels or None)


@dataclass(frozen=True)
class ArmStats:
    """One task x arm x metric: the per-item statistics, aligned by example id."""

    task: str
    arm: str
    metric: Metric
    example_ids: tuple[str, ...]
    stats: np.ndarray

    @property
    def value(self) -> float:
        """The metric on all items (metric units)."""
        return float(self.metric.from_totals(self.stats.sum(axis=0), len(self.stats)))

    @cached_property
    def digest(self) -> str:
        """sha256 of the per-item statistics (``engine.digest_of``): equal for equal numbers
        whatever the task, arm or metric is called, so intervals and tests seeded from it
        are the same however the predictions were scored."""
        return digest_of(self.stats)


def prediction_of(sample: SampleResult, metric: Metric) -> Any:
    """The prediction field a metric reads (``prediction`` or ``meta.prediction_norm``)."""
    if metric.reads == "prediction":
        return sample.prediction
    return sample.meta.get(metric.reads, sample.prediction)


def attach_scores(samples: Sequence[SampleResult], metrics: Sequence[Metric]) -> None:
    """Fill each sample's ``scores`` with every metric's per-item value (in place)."""
    targets = [s.target for s in samples]
    for metric in metrics:
        predictions = [prediction_of(s, metric) for s in samples]
        stats = metric.item_stats(targets, predictions)
        values = metric.item_values(stats)
        for sample, value, row in zip(samples, values, stats):
            sample.scores[metric.key] = float(value)
            if metric.store_stats:
                sample.stats = {**(sample.stats or {}), metric.key: [float(x) for x in row]}


def arm_stats(
    task: TaskInfo, samples: Sequence[SampleResult], metrics: Sequence[Metric] | None = None
) -> dict[tuple[str, str], ArmStats]:
    """(arm, metric key) -> ArmStats for one task, every arm aligned on the same ids.

    Items are ordered as the first arm saw them; an arm missing an item another arm has
    is an error — comparisons are paired.
    """
    metrics = list(metrics) if metrics is not None else task.build_metrics()
    by_arm: dict[str, dict[str, SampleResult]] = {}
    for sample in samples:
        if sample.task == task.name:
            by_arm.setdefault(sample.arm, {})[sample.example_id] = sample
    if not by_arm:
        return {}
    ids = tuple(next(iter(by_arm.values())))  # the first arm's order (dicts keep it)
    out: dict[tuple[str, str], ArmStats] = {}
    for arm, items in by_arm.items():
        missing = [i for i in ids if i not in items]
        if missing or len(items) != len(ids):
            raise FtevalError(
                f"task {task.name!r}: arm {arm!r} has {len(items)} samples where the first arm "
                f"has {len(ids)} (missing e.g. {missing[:3]}); paired scoring needs both"
            )
        aligned = [items[i] for i in ids]
        targets = [s.target for s in aligned]
        for metric in metrics:
            stored = [(s.stats or {}).get(metric.key) for s in aligned]
            if metric.store_stats and aligned and all(row is not None for row in stored):
                stats = np.array(stored, dtype=np.float64)
            else:
                predictions = [prediction_of(s, metric) for s in aligned]
                stats = metric.item_stats(targets, predictions)
            out[(arm, metric.key)] = ArmStats(task.name, arm, metric, ids, stats)
    return out

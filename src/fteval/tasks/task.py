"""The Task record: formatted examples plus how to score them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fteval.metrics import Metric, make_metrics
from fteval.records import Example

TaskKind = Literal["multiple_choice", "generate"]


@dataclass(frozen=True)
class GenerationSpec:
    """How a generation task decodes. ``temperature == 0`` is greedy."""

    stop: tuple[str, ...] = ("\n\n",)
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    chat_template: bool = False


@dataclass(frozen=True)
class Task:
    """A task = examples + prompts + choices + targets + metrics.

    Attributes:
        name: unique, filename-safe.
        kind: ``multiple_choice`` (loglikelihood of each choice) or ``generate``.
        examples: the items, in a stable order.
        metrics: metric names from the registry.
        labels: the label set of a choice task (what classification metrics count).
        source: where the task came from (file path or built-in name).
        data_sha256: content hash of the data files, for the manifest.
        generation: decoding settings of a generation task.
    """

    name: str
    kind: TaskKind
    examples: tuple[Example, ...]
    metrics: tuple[str, ...]
    labels: tuple[str, ...] = ()
    source: str = ""
    data_sha256: dict[str, str] = field(default_factory=dict)
    generation: GenerationSpec | None = None

    def build_metrics(self) -> list[Metric]:
        """One metric instance per metric name (expanded), shared by every arm."""
        return make_metrics(self.metrics, labels=self.labels or None)

    def limited(self, limit: int | None) -> Task:
        """The task with only its first ``limit`` examples."""
        if limit is None or limit >= len(self.examples):
            return self
        return Task(
            name=self.name,
            kind=self.kind,
            examples=self.examples[:limit],
            metrics=self.metrics,
            labels=self.labels,
            source=self.source,
            data_sha256=self.data_sha256,
            generation=self.generation,
        )


def validate_metric_names(task_name: str, names: Sequence[str], labels: Sequence[str]) -> None:
    """Build the metrics once so an unknown name fails at load time, not after inference."""
    try:
        make_metrics(names, labels=labels or None)
    except ValueError as error:
        raise ValueError(f"task {task_name!r}: {error}") from None

"""The Task record: formatted examples plus how to score them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fteval.metrics import Metric, make_metrics
from fteval.records import Example, SampleResult
from fteval.tasks.selection import Selection

TaskKind = Literal["multiple_choice", "generate", "perplexity"]


@dataclass(frozen=True)
class GenerationSpec:
    """How a generation task decodes. ``temperature == 0`` is greedy."""

    stop: tuple[str, ...] = ("\n\n",)
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    chat_template: bool = False


class ExampleLoader(Protocol):
    """Reads more items in a task's own format: another split, or a user's file.

    Perturbations read out-of-distribution sets (``ood=FILE``) through ``load_file``,
    calibration a validation split and contamination a train split through ``load_split``.
    """

    def splits(self) -> tuple[str, ...]:
        """The split names the task's data has (the evaluated one included)."""
        ...

    def load_split(self, split: str) -> tuple[Example, ...]:
        """Every item of ``split``, formatted exactly as the evaluated split."""
        ...

    def load_file(self, path: str) -> tuple[Example, ...]:
        """Every row of a data file with the task's fields, formatted as the task's items."""
        ...


ROLES = ("target", "guardrail")

# task kind -> the backend request kind it is answered with
REQUEST_KIND_OF = {
    "multiple_choice": "loglikelihood",
    "perplexity": "loglikelihood_rolling",
    "generate": "generate",
}


@dataclass(frozen=True)
class Task:
    """A task = examples + prompts + choices + targets + metrics.

    Attributes:
        name: unique, filename-safe.
        kind: ``multiple_choice`` (loglikelihood of each choice), ``generate``, or
            ``perplexity`` (rolling loglikelihood of each example's text).
        examples: the items, in a stable order.
        metrics: metric names from the registry, or ``{"name": ..., **options}``.
        labels: the label set of a choice task (what classification metrics count).
        source: where the task came from (file path or built-in name).
        data_sha256: content hash of the data files, for the manifest.
        generation: decoding settings of a generation task.
        rolling_stride: tokens newly scored per window of a perplexity task (None: a
            whole context window).
        truncate_field: the template field whose tail may be cut so the prompt fits the
            context window (its span is each example's ``meta["truncatable"]``), or None.
        groups: the task's groups, outermost first (``("mmlu", "mmlu_stem")``); results
            aggregate the members of each group (``compare.groups``).
        postprocess: called on each chunk of an arm's samples after inference, before
            metrics (code execution for HumanEval, lm-evaluation-harness metrics): it
            fills ``meta`` with what the metrics read. Not stored; its results are.
        judge: for judged tasks (AlpacaEval-style win rate), who answers against whom:
            ``{"opponent": "reference" | "base"}``; the judge runs after every arm.
        split: the split the examples come from (``test``, ``validation``...).
        role: ``target`` (what the fine-tune is for) or ``guardrail`` (must not get worse).
        primary_metric: the metric key the headline verdict is on (None: the first listed).
        loader: reads other splits and files in the task's format (None: it cannot).
        num_fewshot: few-shot examples in each prompt, as used (0: none).
        selection: which items were kept (``--limit``), as used.
        n_available: items before the selection (None: no selection was made).
    """

    name: str
    kind: TaskKind
    examples: tuple[Example, ...]
    metrics: tuple[Any, ...]
    labels: tuple[str, ...] = ()
    source: str = ""
    data_sha256: dict[str, str] = field(default_factory=dict)
    generation: GenerationSpec | None = None
    rolling_stride: int | None = None
    truncate_field: str | None = None
    groups: tuple[str, ...] = ()
    postprocess: Callable[[Sequence[SampleResult]], None] | None = field(
        default=None, compare=False, repr=False
    )
    judge: dict[str, Any] | None = None
    split: str = "test"
    role: str = "target"
    primary_metric: str | None = None
    loader: ExampleLoader | None = field(default=None, compare=False, repr=False)
    num_fewshot: int = 0
    selection: Selection = field(default_factory=Selection)
    n_available: int | None = None

    @property
    def request_kind(self) -> str:
        """The backend request kind this task's examples become (``REQUEST_KINDS``)."""
        return REQUEST_KIND_OF[self.kind]

    def build_metrics(self) -> list[Metric]:
        """One metric instance per metric name (expanded), shared by every arm."""
        return make_metrics(self.metrics, labels=self.labels or None)

    def class_counts(self) -> dict[str, int]:
        """Gold-label counts of a choice task, in label order (empty for generation)."""
        counts = dict.fromkeys(self.labels, 0)
        if self.kind != "multiple_choice":
            return counts
        for example in self.examples:
            if example.target in counts:
                counts[example.target] += 1
        return counts

    def with_imbalance_metrics(self, threshold: float) -> Task:
        """Add macro and weighted F1 beside accuracy when the classes are imbalanced.

        Imbalanced: the largest / smallest present class count >= ``threshold``; then a
        majority-class predictor cannot look good.
        """
        counts = [c for c in self.class_counts().values() if c > 0]
        if self.kind != "multiple_choice" or len(counts) < 2:
            return self
        if max(counts) / min(counts) < threshold:
            return self
        names = {m if isinstance(m, str) else m.get("name") for m in self.metrics}
        extra = tuple(m for m in ("f1_macro", "f1_weighted") if m not in names)
        return dataclasses.replace(self, metrics=self.metrics + extra) if extra else self

    def limited(self, limit: int | None) -> Task:
        """The task with only its first ``limit`` examples (None: all)."""
        return self.selected(Selection(limit))

    def selected(self, selection: Selection) -> Task:
        """The task with the examples ``selection`` keeps, the selection recorded
        (``n_available`` keeps the count before the first selection)."""
        available = len(self.examples) if self.n_available is None else self.n_available
        return dataclasses.replace(
            self,
            examples=selection.apply(self.name, self.examples),
            selection=selection,
            n_available=available,
        )

    def selection_record(self) -> dict[str, Any]:
        """Shots and limit as used, for the manifest's task record."""
        available = len(self.examples) if self.n_available is None else self.n_available
        return {"num_fewshot": self.num_fewshot, **self.selection.record(available)}


def validate_metric_names(
    task_name: str, names: Sequence[str | Mapping[str, Any]], labels: Sequence[str]
) -> None:
    """Build the metrics once so an unknown name fails at load time, not after inference."""
    try:
        make_metrics(names, labels=labels or None)
    except ValueError as error:
        raise ValueError(f"task {task_name!r}: {error}") from None

"""Typed rows of the results sections assembled in ``compare``: classification reports,
seed groups, generation health, task groups, cost and judged win rates.

Like every results row (``records.rows``) each is a frozen dataclass whose fields are the
row's JSON fields; docs/results.schema.json is generated from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from fteval.records.rows import Row, meta


@dataclass(frozen=True)
class ClassificationRow(Row):
    """Per choice task x arm: class distribution, confusion matrix, per-class P/R/F1.

    Attributes:
        task: task name.
        arm: arm name.
        labels: the label set, in confusion-matrix order.
        class_counts: gold items per label.
        imbalance_ratio: largest / smallest non-empty class count.
        imbalanced: ``imbalance_ratio >= 3`` (F1 is then shown beside accuracy).
        confusion_matrix: counts, rows gold labels, columns predicted labels.
        predicted_outside_labels: per gold label, predictions outside the label set.
        per_class: label -> ``{"precision", "recall", "f1"}`` in [0, 1].
    """

    DESCRIPTION: ClassVar[str] = (
        "Per choice task x arm: class distribution, confusion matrix, per-class P/R/F1."
    )

    task: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    labels: tuple[str, ...] = field(metadata=meta(required=True))
    class_counts: Mapping[str, int] = field(metadata=meta(required=True))
    imbalance_ratio: float
    imbalanced: bool
    confusion_matrix: tuple[tuple[int, ...], ...] = field(metadata=meta(required=True))
    predicted_outside_labels: tuple[int, ...]
    per_class: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class SeedGroupRow(Row):
    """Adapters trained with several seeds, summarised as one arm (per task x metric).

    Attributes:
        group: the seed group's name (``lora`` for ``lora@seed1``, ``lora@seed2``).
        task: task name.
        metric: metric key.
        arms: the group's arms.
        seed_values: each seed's score (metric units).
        mean: their mean.
        std: their sample standard deviation.
        n_seeds: seeds in the group.
        mean_delta_vs_reference: the mean minus the base's score.
        spread_exceeds_effect: the seed spread is at least the delta (retraining moves
            the score as much as the effect); None without a base.
        scale: multiply metric units by this to display.
    """

    DESCRIPTION: ClassVar[str] = "Adapters trained with several seeds, summarised as one arm."

    group: str = field(metadata=meta(schema="name"))
    task: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    arms: tuple[str, ...] = field(metadata=meta(required=True))
    seed_values: tuple[float, ...] = field(metadata=meta(required=True))
    mean: float = field(metadata=meta(required=True))
    std: float = field(metadata=meta(required=True))
    n_seeds: int = field(metadata=meta(schema="count"))
    mean_delta_vs_reference: float
    spread_exceeds_effect: bool | None
    scale: float


@dataclass(frozen=True)
class GenerationRow(Row):
    """Per generation task x arm: empty outputs, generated tokens, finish reasons.

    Attributes:
        task: task name.
        arm: arm name.
        n: items.
        empty_predictions: outputs empty or whitespace-only after stop-string trimming.
        generated_tokens: tokens generated in all.
        finish_reasons: reason (``stop``, ``length``...) -> outputs.
    """

    DESCRIPTION: ClassVar[str] = (
        "Per generation task x arm: empty outputs, generated tokens, finish reasons."
    )

    task: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    n: int = field(metadata=meta(schema="count"))
    empty_predictions: int = field(default=0, metadata=meta(schema="count"))
    generated_tokens: int = field(default=0, metadata=meta(schema="count"))
    finish_reasons: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskGroupRow(Row):
    """A task group (MMLU and its categories); group scores are rows of ``scores``.

    Attributes:
        name: the group's name.
        parent: its parent group, or None at the top.
        level: ``group`` at the top, ``category`` below.
        members: its direct members (groups or tasks).
        aggregations: ``micro`` (item-weighted) and ``macro`` (mean of members).
    """

    DESCRIPTION: ClassVar[str] = (
        "Task groups (e.g. MMLU and its categories); group scores are rows of scores."
    )

    name: str = field(metadata=meta(schema="name"))
    parent: str | None = field(metadata=meta(required=True))
    level: str = field(metadata=meta(enum=("group", "category"), required=True))
    members: tuple[str, ...] = field(metadata=meta(required=True))
    aggregations: tuple[str, ...] = ("micro", "macro")


@dataclass(frozen=True)
class CostRow(Row):
    """What one arm cost to evaluate (measured by the run, kept in the manifest).

    Attributes:
        arm: arm name.
        kind: the arm's kind.
        trainable_params: parameters the fine-tune trained (adapters: the LoRA weights).
        total_params: parameters of the model as served.
        size_on_disk_bytes: the arm's own files.
        eval_wall_s: seconds spent evaluating the arm in this run (inference and scoring;
            answers from the response cache cost almost nothing here).
        tokens: scored tokens (choice continuations, documents, generated tokens).
        tokens_processed: every token fed to the model for the requests computed in this
            run (prompts, shared prefixes, padding), or None when not counted.
        tokens_per_s: ``tokens_processed / eval_wall_s``, measured on the requests
            computed now (None when none was, or the time was shared with other arms).
        requests_computed: requests the model answered in this run (None: no cache).
        requests_cached: requests the response cache answered.
        cached_compute_s: what the cached answers cost when they were computed (recorded
            in the cache: seconds per request x cached requests), or None.
        cached_cost_measured_at: when that cost was measured (UTC), or None.
        peak_memory_bytes: peak memory while the arm ran.
        memory_kind: ``rss`` (CPU) or ``cuda``.
        items: samples evaluated.
        note: what the reader should know about these figures.
        form: a deployment form arm's form (``merged-int8``...); empty for other arms.
        memory_footprint_bytes: the weights (parameters and buffers) of the model that
            served the arm, as loaded: what a form saves in memory.
    """

    DESCRIPTION: ClassVar[str] = (
        "One row per arm: parameters, size, time, tokens and memory (deployment forms too)."
    )

    arm: str = field(metadata=meta(schema="name"))
    kind: str | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    size_on_disk_bytes: int | None = None
    eval_wall_s: float | None = None
    tokens: int | None = None
    tokens_processed: int | None = None
    tokens_per_s: float | None = None
    requests_computed: int | None = None
    requests_cached: int | None = None
    cached_compute_s: float | None = None
    cached_cost_measured_at: str | None = None
    peak_memory_bytes: int | None = None
    memory_kind: str | None = field(default=None, metadata=meta(enum=("rss", "cuda", None)))
    items: int | None = None
    note: str = ""
    form: str = ""
    memory_footprint_bytes: int | None = None


@dataclass(frozen=True)
class JudgeRow(Row):
    """Judged (AlpacaEval-style) win rates of one arm against its opponent on one task.

    Attributes:
        task: task name.
        arm: arm name.
        opponent: ``reference`` (the task's reference answers) or ``base``.
        judge: the judge model.
        n: items judged in both orders.
        wins: items the judge preferred the arm on.
        ties: items judged a tie.
        losses: items the judge preferred the opponent on.
        unreadable: items whose judgment could not be read (errors, not scores).
        win_rate: wins plus half the ties, over ``n``, in [0, 1].
        lc_win_rate: the length-controlled win rate, in [0, 1].
        mean_length: the arm's mean answer length, characters.
        opponent_mean_length: the opponent's, characters.
    """

    DESCRIPTION: ClassVar[str] = "Judged (AlpacaEval-style) win rates per task x arm x opponent."

    task: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    opponent: str = field(metadata=meta(schema="name"))
    judge: str
    n: int = field(metadata=meta(schema="count"))
    wins: int = field(metadata=meta(schema="count"))
    ties: int = field(metadata=meta(schema="count"))
    losses: int = field(metadata=meta(schema="count"))
    unreadable: int = field(metadata=meta(schema="count"))
    win_rate: float = field(metadata=meta(schema="probability"))
    lc_win_rate: float = field(metadata=meta(schema="probability"))
    mean_length: float
    opponent_mean_length: float


@dataclass(frozen=True)
class TruncationRow(Row):
    """How much of one task's prompts the context window cut (``pipeline.truncation``).

    Attributes:
        task: task name (or a task group's, over its members' items).
        n: items.
        cut: items whose prompt lost tokens from the left to the context window.
        share_cut: ``cut / n``, in [0, 1].
        median_tokens_cut: the median tokens lost by a cut item (None when none is cut).
        max_tokens_cut: the most tokens any item lost (None when none is cut).
        question_cut: cut items that lost part of their own input, not only few-shot
            examples or instructions.
        share_question_cut: ``question_cut / n``, in [0, 1].
        max_length: the smallest context window among the arms, in tokens (None: unknown).
        fitted: items whose truncatable field was shortened to fit (``truncate:``; by
            design: the rest of the prompt is whole).
        fitted_field: that field, or None.
        verdicts_withheld: most items lost their question: the task's comparisons say
            "insufficient data" instead of a verdict.
    """

    DESCRIPTION: ClassVar[str] = "Per task: prompts cut to fit the context window."

    task: str = field(metadata=meta(schema="name"))
    n: int = field(metadata=meta(schema="count"))
    cut: int = field(metadata=meta(schema="count"))
    share_cut: float
    median_tokens_cut: float | None
    max_tokens_cut: int | None
    question_cut: int = field(metadata=meta(schema="count"))
    share_question_cut: float
    max_length: int | None
    fitted: int = field(default=0, metadata=meta(schema="count"))
    fitted_field: str | None = None
    verdicts_withheld: bool = False

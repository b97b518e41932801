"""The typed records that flow through the pipeline.

Data flows one way: ``Example`` (a task's item) -> requests (backend-neutral, string level)
-> responses -> ``SampleResult`` (one per task x example x arm, a line of samples.jsonl).
The on-disk schema is documented in docs/records.md; ``SCHEMA_VERSION`` changes when a
field changes meaning or is removed. Fields may be added without a version change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1"

ARM_KINDS = ("base", "adapter", "full", "model", "form")
"""``base``: the reference every other arm is compared with; ``adapter``: a LoRA (or other
PEFT) adapter on the base; ``full``: a fully fine-tuned checkpoint, the reference of each
adapter too; ``model``: any other arm, compared with the base only (``fteval score``'s
prediction files after the first); ``form``: a deployment form of another arm (merged,
quantized, served), compared with the base and, for parity, with the arm it derives from
(docs/deployment.md)."""


@dataclass(frozen=True)
class ArmSpec:
    """One model variant to evaluate.

    Attributes:
        name: ``base``, the adapter's name, or ``full``.
        kind: one of ``ARM_KINDS``.
        path: local directory or hub id of the weights (the adapter's own folder for
            adapters), or the prediction file an arm of ``fteval score`` was read from.
        group: arms of one seed group (``lora@seed1``, ``lora@seed2`` -> ``lora``).
        form: a ``form`` arm's deployment form (``merged``, ``merged-int8``,
            ``openai:MODEL@URL``...); empty for other arms.
        source: the arm a ``form`` arm derives from; empty for other arms.
    """

    name: str
    kind: str
    path: str
    group: str
    form: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ARM_KINDS:
            raise ValueError(
                f"arm {self.name!r}: kind must be one of {ARM_KINDS}, got {self.kind!r}"
            )
        if (self.kind == "form") != bool(self.form and self.source):
            raise ValueError(
                f"arm {self.name!r}: a form arm needs its form and source arm, and only a "
                f"form arm has them (kind {self.kind!r}, form {self.form!r}, source "
                f"{self.source!r})"
            )

    def record(self, identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The arm's record in manifest.json and results.json.

        Args:
            identity: what identifies the arm's outputs (the backend's identity, or the
                file it was read from); default ``{"path": path}``.

        Returns:
            ``{"name", "kind", "group", "identity"}``, and ``form`` and ``source_arm`` for
            a form arm.
        """
        record: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "identity": dict(identity) if identity is not None else {"path": self.path},
        }
        if self.kind == "form":
            record.update(form=self.form, source_arm=self.source)
        return record


def prompt_hash(prompt: str) -> str:
    """The ``prompt_hash`` of samples.jsonl: sha256 of the prompt's UTF-8, 16 hex digits."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def base_arm_name(arms: Iterable[ArmSpec | Mapping[str, Any]]) -> str | None:
    """The name of the base arm (kind ``base``) among specs or records, or None."""
    for arm in arms:
        kind, name = (
            (arm.kind, arm.name) if isinstance(arm, ArmSpec) else (arm["kind"], arm["name"])
        )
        if kind == "base":
            return str(name)
    return None


def is_empty_prediction(prediction: Any) -> bool:
    """Whether a prediction is empty: None, or text that is empty or whitespace only.

    Non-text predictions (labels of choice tasks, numbers) are never empty.
    """
    return prediction is None or (isinstance(prediction, str) and not prediction.strip())


@dataclass(frozen=True)
class Example:
    """One evaluation item of a task, already formatted.

    Attributes:
        example_id: unique within the task.
        prompt: the context shown to the model (few-shot block included).
        target: the gold label (choice tasks) or reference text(s) (generation tasks).
        choices: label names of a choice task, in the order of ``continuations``.
        continuations: the strings whose loglikelihood is scored after ``prompt``.
        meta: free-form tags (subgroup, source row, ...), written to samples.jsonl.
        input_spans: ``(start, end)`` character spans of ``prompt`` that hold the item's
            own input (its filled template fields, not the few-shot block or the template's
            words): what perturbations may change. Empty: the whole prompt is the input.
        fields: the source row's fields (for ``--slice FIELD``); not written anywhere.
    """

    example_id: str
    prompt: str
    target: Any
    choices: tuple[str, ...] = ()
    continuations: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    input_spans: tuple[tuple[int, int], ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def input_text(self) -> str:
        """The item's own input: its input spans joined by newlines (or the whole prompt)."""
        if not self.input_spans:
            return self.prompt
        return "\n".join(self.prompt[start:end] for start, end in self.input_spans)

    @property
    def prompt_hash(self) -> str:
        """sha256 of the prompt text (first 16 hex digits): ``prompt_hash``."""
        return prompt_hash(self.prompt)


# ---- requests: what a backend is asked (string level, backend neutral) ----


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context), summed over the continuation's tokens."""

    context: str
    continuation: str


@dataclass(frozen=True)
class RollingLoglikelihoodRequest:
    """log P(text) over the whole text, in rolling windows when it exceeds the context.

    ``stride``: new tokens scored per window (None: the whole context window); smaller
    strides give each token more context at more compute.
    """

    text: str
    stride: int | None = None


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. ``temperature == 0`` means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0


@dataclass(frozen=True)
class GenerateRequest:
    """Generate a continuation of ``prompt``; stop at the first of ``stop`` (trimmed).

    ``chat`` asks the backend to wrap the prompt in the model's chat template as one
    user turn (an error when the tokenizer has none).
    """

    prompt: str
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 128
    sampling: SamplingParams = SamplingParams()
    chat: bool = False


Request = LoglikelihoodRequest | RollingLoglikelihoodRequest | GenerateRequest


# ---- responses ----


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Answer to a ``LoglikelihoodRequest``.

    Attributes:
        logprob: natural-log probability of the continuation, <= 0.
        is_greedy: True when every continuation token is the model's argmax.
        n_tokens: number of continuation tokens scored.
        truncated_tokens: tokens dropped because the input exceeded the context window.
        truncation_side: "left" when tokens were dropped from the start, else None.
    """

    logprob: float
    is_greedy: bool
    n_tokens: int
    truncated_tokens: int = 0
    truncation_side: str | None = None


@dataclass(frozen=True)
class RollingLoglikelihoodResult:
    """Answer to a ``RollingLoglikelihoodRequest``: summed log-prob and token count."""

    logprob: float
    n_tokens: int


@dataclass(frozen=True)
class GenerationResult:
    """Answer to a ``GenerateRequest``: ``texts`` holds ``sampling.n`` continuations."""

    texts: tuple[str, ...]
    n_tokens: tuple[int, ...]
    finish_reasons: tuple[str, ...]
    truncated_tokens: int = 0


# ---- results ----


@dataclass
class SampleResult:
    """One line of samples.jsonl: a task x example x arm outcome (the record contract)."""

    task: str
    example_id: str
    arm: str
    prompt_hash: str
    target: Any
    prediction: Any
    choice_logprobs: list[float] | None = None
    generation: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, list[float]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict; absent optional fields are omitted."""
        data = asdict(self)
        for optional in ("choice_logprobs", "generation", "stats"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SampleResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def as_reference_list(target: Any) -> list[str]:
    """A generation target as a list of references (a string becomes a 1-list)."""
    if isinstance(target, str):
        return [target]
    if isinstance(target, Sequence):
        return [str(t) for t in target]
    return [str(target)]

"""The task spec: the keys of a task YAML file, validated, and the checks between them.

A spec says how rows become prompts; it reads no data. Task files are parsed into one
(``parse_spec``) and every built-in benchmark declares one in code, so both are checked by
the same rules (``check_spec``) and formatted by the same loader (``tasks.loader``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fteval._util.validation import describe_validation_error
from fteval.errors import ConfigError

TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "multiple_choice": ("acc", "acc_norm", "f1_macro"),
    "generate": ("exact_match",),
    "perplexity": ("perplexity", "cross_entropy"),
}

FewShotSamplerName = Literal["random", "first_n", "sequential"]


class FewShotSpec(BaseModel):
    """Few-shot examples drawn from a named split (``tasks.samplers`` draws them).

    Samplers: ``random`` (default) draws per example with a generator seeded by (seed,
    example id), so an example's shots never depend on the others; ``first_n`` takes the
    first n rows in file order (lm-evaluation-harness's ``first_n``, MMLU's convention);
    ``sequential`` is lm-evaluation-harness's default sampler: one ``random.Random(seed)``
    drawing n rows per example in example order (its shots for the same items and seed).
    An example is never its own shot when the pool is the evaluated split.
    ``extra_draw`` (``sequential`` only) draws n + 1 rows and keeps the first n that are
    not the item: lm-evaluation-harness 0.4.x does so whenever a task's few-shot and test
    splits are configured alike (both unset, as in its ``sst2``), which shifts later
    items' shots.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    split: str
    n: int = Field(ge=0, le=64)
    seed: int = 0
    separator: str = "\n\n"
    sampler: FewShotSamplerName = "random"
    extra_draw: bool = False


class TruncateSpec(BaseModel):
    """Which field of the prompt may lose its tail so the prompt fits the context window.

    The cut is made at a word boundary, per example, with the evaluated models'
    tokenizers, after room is kept for the answer (``max_new_tokens`` or the longest
    choice); what was kept is recorded in each sample's ``meta.truncation``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str


class HFDatasetSpec(BaseModel):
    """A Hugging Face dataset: a hub id or a local ``save_to_disk`` folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    name: str | None = None
    revision: str | None = None


class TaskSpec(BaseModel):
    """The task YAML schema; unknown keys are rejected (docs/tasks.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: Literal["multiple_choice", "generate", "perplexity"] = "multiple_choice"
    data: str | dict[str, str] | None = None
    hf_dataset: HFDatasetSpec | None = None
    split: str = "test"
    id_field: str | None = None
    template: str | None = None
    text_field: str | None = None
    stride: int | None = Field(default=None, ge=1)
    choices: list[str] | dict[str, str] | None = None
    choices_field: str | None = None
    label_field: str | None = None
    target_delimiter: str = " "
    fewshot: FewShotSpec | None = None
    description: str | None = None
    truncate: TruncateSpec | None = None
    metrics: list[str | dict[str, Any]] | None = None
    primary_metric: str | None = None
    reference_field: str | None = None
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_new_tokens: int = Field(default=128, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=10.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n_samples: int = Field(default=1, ge=1, le=1000)
    chat_template: bool = False
    role: Literal["target", "guardrail"] = "target"

    @property
    def shots(self) -> int:
        """The number of few-shot examples per prompt (0 without a ``fewshot`` key)."""
        return self.fewshot.n if self.fewshot is not None else 0

    def wanted_splits(self) -> tuple[str, ...]:
        """The splits formatting reads: the evaluated one, then the few-shot pool if used."""
        if self.fewshot is not None and self.fewshot.n and self.fewshot.split != self.split:
            return (self.split, self.fewshot.split)
        return (self.split,)


_NESTED: dict[str, type[BaseModel]] = {
    "fewshot": FewShotSpec,
    "hf_dataset": HFDatasetSpec,
    "truncate": TruncateSpec,
}


def parse_spec(data: Any, where: str) -> TaskSpec:
    """Validate a task file's keys into a ``TaskSpec``.

    Args:
        data: the parsed YAML document.
        where: the file, for messages.

    Raises:
        ConfigError: not a mapping, an unknown or missing key, a bad value, or keys that
            contradict each other; the message names the file and the key.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a task file is a mapping of keys, got {type(data).__name__}")
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(where, error)) from None
    if (spec.data is None) == (spec.hf_dataset is None):
        raise ConfigError(f"{where}: give exactly one of 'data' or 'hf_dataset'")
    check_spec(where, spec)
    return spec


def _describe(where: str, error: ValidationError) -> str:
    def known_keys(loc: tuple) -> Iterable[str]:
        model = _NESTED.get(str(loc[0]), TaskSpec) if len(loc) > 1 else TaskSpec
        return model.model_fields

    return describe_validation_error(error, where, known_keys)


def with_num_fewshot(spec: TaskSpec, n: int | None, where: str) -> TaskSpec:
    """``spec`` with ``n`` shots (None: as it is); shots without a few-shot source are an error.

    Whether the pool holds ``n`` rows is checked when the rows are read (``tasks.loader``).
    """
    if n is None:
        return spec
    if n < 0:
        raise ConfigError(f"{where}: --num-fewshot must be >= 0, got {n}")
    if spec.fewshot is None:
        if n == 0:
            return spec
        raise ConfigError(
            f"{where}: --num-fewshot {n}: task {spec.name!r} has no few-shot split ('fewshot' key)"
        )
    return spec.model_copy(update={"fewshot": spec.fewshot.model_copy(update={"n": n})})


def check_spec(where: str, spec: TaskSpec) -> None:
    """The checks between keys that format rows (task files and built-ins alike).

    Raises:
        ConfigError: naming ``where`` and the key at fault.
    """
    if not TASK_NAME.fullmatch(spec.name):
        raise ConfigError(
            f"{where}: key 'name': {spec.name!r} must be 1-64 letters, digits, '_', '.', '-'"
        )
    if isinstance(spec.data, dict) and spec.split not in spec.data:
        raise ConfigError(
            f"{where}: key 'split': {spec.split!r} is not among the data splits {sorted(spec.data)}"
        )
    if spec.truncate is not None and spec.type == "perplexity":
        raise ConfigError(f"{where}: key 'truncate': a perplexity task is scored whole")
    if spec.fewshot and isinstance(spec.data, dict) and spec.fewshot.split not in spec.data:
        raise ConfigError(
            f"{where}: key 'fewshot.split': {spec.fewshot.split!r} is not among the data "
            f"splits {sorted(spec.data)}"
        )
    if spec.type == "multiple_choice":
        _check_choices(where, spec)
    elif spec.type == "generate" and spec.reference_field is None:
        raise ConfigError(f"{where}: a generate task needs 'reference_field'")
    if spec.type == "perplexity":
        if spec.text_field is None:
            raise ConfigError(f"{where}: a perplexity task needs 'text_field'")
        return
    _check_templates(where, spec)


def _check_choices(where: str, spec: TaskSpec) -> None:
    if (spec.choices is None) == (spec.choices_field is None):
        raise ConfigError(f"{where}: a multiple_choice task needs 'choices' or 'choices_field'")
    choices = spec.choices
    if choices is not None:
        if len(choices) < 2:
            raise ConfigError(f"{where}: key 'choices': needs at least 2, got {choices!r}")
        if len(set(choices)) != len(choices):
            raise ConfigError(f"{where}: key 'choices': duplicates in {choices!r}")
        texts = list(choices.values()) if isinstance(choices, dict) else choices
        if any(not str(text).strip() for text in [*texts, *choices]):
            raise ConfigError(f"{where}: key 'choices': an empty choice in {choices!r}")
        if isinstance(choices, dict) and len(set(choices.values())) != len(choices):
            raise ConfigError(f"{where}: key 'choices': two labels share a text {choices!r}")
    if spec.label_field is None:
        raise ConfigError(f"{where}: a multiple_choice task needs 'label_field'")


def _check_templates(where: str, spec: TaskSpec) -> None:
    if spec.template is None:
        raise ConfigError(f"{where}: missing required key 'template'")
    check_template(where, "template", spec.template)
    if spec.description is not None:
        check_template(where, "description", spec.description)
    if spec.truncate is not None and spec.truncate.field not in template_fields(spec.template):
        raise ConfigError(
            f"{where}: key 'truncate.field': {spec.truncate.field!r} is not a placeholder of "
            f"the template {spec.template!r}"
        )


def check_template(where: str, key: str, template: str) -> None:
    """Placeholders must be plain field names: ``{text}``, never ``{a.b}``, ``{a[0]}``,
    ``{a!r}`` or ``{a:>9}`` (str.format would run attribute or index access).

    Raises:
        ConfigError: naming ``where``, ``key`` and the placeholder.
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ConfigError(f"{where}: key {key!r}: {error} (value: {template!r})") from None
    for _, name, format_spec, conversion in parts:
        if name is None:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ -]*", name) or format_spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "")
            shown += f":{format_spec}" if format_spec else ""
            raise ConfigError(
                f"{where}: key {key!r}: placeholder {{{shown}}} must be a plain field name "
                "(no indexing, attributes, conversions or format specs)"
            )


@lru_cache(maxsize=256)
def template_fields(template: str) -> tuple[str, ...]:
    """The placeholder names of a checked template, in order (repeats kept)."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


def default_metrics(spec: TaskSpec) -> tuple[Any, ...]:
    """The spec's metrics, or its type's defaults."""
    return tuple(spec.metrics or DEFAULT_METRICS[spec.type])

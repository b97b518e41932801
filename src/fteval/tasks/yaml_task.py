"""Custom tasks from a small YAML file over JSONL, CSV/TSV, Parquet or HF dataset rows.

The YAML formats fields; it never executes code. Reference (docs/tasks.md)::

    name: my_tickets               # filename-safe task name
    type: multiple_choice          # or: generate
    data: tickets.jsonl            # a path, or {train: a.jsonl, test: b.jsonl}
    # hf_dataset: {path: glue, name: sst2}   # instead of data:, a hub id or local folder
    split: test                    # the split to evaluate when data has several
    id_field: id                   # optional; default: the row number
    template: "Message: {text}\\nIntent:"
    choices: [login, billing]      # or choices_field: options (a per-row list)
    label_field: label             # a choice, or a 0-based index into the choices
    target_delimiter: " "          # between the prompt and each choice
    fewshot: {split: train, n: 3, seed: 0, separator: "\\n\\n"}
    metrics: [acc, acc_norm, f1_macro]
    # generation tasks:
    reference_field: answer        # a string or a list of strings per row
    stop: ["\\n"]
    max_new_tokens: 64

Every row is checked before any model loads; errors name file, row, field and value.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fteval._util.validation import describe_validation_error
from fteval.data.checks import (
    check_column_type,
    check_unique_ids,
    reference_texts,
    require_field,
    scalar_text,
)
from fteval.data.readers import Row, read_hf_dataset, read_rows
from fteval.data.yamltext import load_yaml
from fteval.errors import ConfigError, InputError
from fteval.records import Example, sha256_file
from fteval.tasks.task import GenerationSpec, Task, validate_metric_names

TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_CHOICE_METRICS = ("acc", "acc_norm", "f1_macro")
DEFAULT_GENERATE_METRICS = ("exact_match",)
DEFAULT_PERPLEXITY_METRICS = ("perplexity", "cross_entropy")


class FewShotSpec(BaseModel):
    """Few-shot examples drawn from a named split, seeded per example."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    split: str
    n: int = Field(ge=0, le=64)
    seed: int = 0
    separator: str = "\n\n"


class HFDatasetSpec(BaseModel):
    """A Hugging Face dataset: a hub id or a local ``save_to_disk`` folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    name: str | None = None
    revision: str | None = None


class TaskFile(BaseModel):
    """The task YAML schema; unknown keys are rejected."""

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
    choices: list[str] | None = None
    choices_field: str | None = None
    label_field: str | None = None
    target_delimiter: str = " "
    fewshot: FewShotSpec | None = None
    metrics: list[str | dict[str, Any]] | None = None
    reference_field: str | None = None
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_new_tokens: int = Field(default=128, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=10.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n_samples: int = Field(default=1, ge=1, le=1000)
    chat_template: bool = False


def load_task_file(path: str | Path) -> Task:
    """Load, check and format a task YAML file and its data.

    Raises:
        ConfigError: the YAML is malformed or has unknown/missing keys.
        InputError: a data row is invalid (names file, row, field and value).
    """
    path = Path(path)
    spec = _parse(path)
    splits = _read_splits(path, spec)
    rows = splits[spec.split]
    data_file = _split_source(path, spec, spec.split)
    if spec.type == "multiple_choice":
        examples, labels = _choice_examples(data_file, rows, spec, splits, path)
    elif spec.type == "generate":
        examples, labels = _generate_examples(data_file, rows, spec, splits, path), ()
    else:
        examples, labels = _text_examples(data_file, rows, spec), ()
    defaults = {
        "multiple_choice": DEFAULT_CHOICE_METRICS,
        "generate": DEFAULT_GENERATE_METRICS,
        "perplexity": DEFAULT_PERPLEXITY_METRICS,
    }
    metrics = tuple(spec.metrics or defaults[spec.type])
    try:
        validate_metric_names(spec.name, metrics, labels)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    generation = None
    if spec.type == "generate":
        generation = GenerationSpec(
            stop=tuple(spec.stop),
            max_new_tokens=spec.max_new_tokens,
            temperature=spec.temperature,
            top_p=spec.top_p,
            n=spec.n_samples,
            chat_template=spec.chat_template,
        )
    return Task(
        name=spec.name,
        kind=spec.type,
        examples=tuple(examples),
        metrics=metrics,
        labels=tuple(labels),
        source=str(path),
        data_sha256=_data_hashes(path, spec),
        generation=generation,
        rolling_stride=spec.stride,
    )


def _parse(path: Path) -> TaskFile:
    data = load_yaml(path, what="task file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a task file is a mapping of keys, got {type(data).__name__}")
    try:
        spec = TaskFile.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(path, error)) from None
    _check_spec(path, spec)
    return spec


def _check_spec(path: Path, spec: TaskFile) -> None:
    if not TASK_NAME.fullmatch(spec.name):
        raise ConfigError(
            f"{path}: key 'name': {spec.name!r} must be 1-64 letters, digits, '_', '.', '-'"
        )
    if (spec.data is None) == (spec.hf_dataset is None):
        raise ConfigError(f"{path}: give exactly one of 'data' or 'hf_dataset'")
    if isinstance(spec.data, dict) and spec.split not in spec.data:
        raise ConfigError(
            f"{path}: key 'split': {spec.split!r} is not among the data splits {sorted(spec.data)}"
        )
    if spec.fewshot and isinstance(spec.data, dict) and spec.fewshot.split not in spec.data:
        raise ConfigError(
            f"{path}: key 'fewshot.split': {spec.fewshot.split!r} is not among the data "
            f"splits {sorted(spec.data)}"
        )
    if spec.type == "multiple_choice":
        if (spec.choices is None) == (spec.choices_field is None):
            raise ConfigError(f"{path}: a multiple_choice task needs 'choices' or 'choices_field'")
        if spec.choices is not None and len(spec.choices) < 2:
            raise ConfigError(f"{path}: key 'choices': needs at least 2, got {spec.choices!r}")
        if spec.choices is not None and len(set(spec.choices)) != len(spec.choices):
            raise ConfigError(f"{path}: key 'choices': duplicates in {spec.choices!r}")
        if spec.choices is not None and any(not choice.strip() for choice in spec.choices):
            raise ConfigError(f"{path}: key 'choices': an empty choice in {spec.choices!r}")
        if spec.label_field is None:
            raise ConfigError(f"{path}: a multiple_choice task needs 'label_field'")
    elif spec.type == "generate" and spec.reference_field is None:
        raise ConfigError(f"{path}: a generate task needs 'reference_field'")
    if spec.type == "perplexity":
        if spec.text_field is None:
            raise ConfigError(f"{path}: a perplexity task needs 'text_field'")
        return
    if spec.template is None:
        raise ConfigError(f"{path}: missing required key 'template'")
    try:
        parts = list(string.Formatter().parse(spec.template))
    except ValueError as error:
        raise ConfigError(f"{path}: key 'template': {error} (value: {spec.template!r})") from None
    for _, name, format_spec, conversion in parts:
        if name is None:
            continue
        # no '.' or '[': str.format would read them as attribute or index access
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ -]*", name) or format_spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "")
            shown += f":{format_spec}" if format_spec else ""
            raise ConfigError(
                f"{path}: key 'template': placeholder {{{shown}}} must be a plain field name "
                "(no indexing, attributes, conversions or format specs)"
            )


_NESTED: dict[str, type[BaseModel]] = {"fewshot": FewShotSpec, "hf_dataset": HFDatasetSpec}


def _describe(path: Path, error: ValidationError) -> str:
    def known_keys(loc: tuple) -> Iterable[str]:
        model = _NESTED.get(str(loc[0]), TaskFile) if len(loc) > 1 else TaskFile
        return model.model_fields

    return describe_validation_error(error, str(path), known_keys)


def _split_source(path: Path, spec: TaskFile, split: str) -> str:
    if spec.hf_dataset is not None:
        return f"{spec.hf_dataset.path}[{split}]"
    relative = spec.data if isinstance(spec.data, str) else spec.data[split]
    return str(path.parent / relative)


def _read_splits(path: Path, spec: TaskFile) -> dict[str, list[Row]]:
    wanted = {spec.split} | ({spec.fewshot.split} if spec.fewshot else set())
    splits: dict[str, list[Row]] = {}
    for split in sorted(wanted):
        if spec.hf_dataset is not None:
            hf = spec.hf_dataset
            splits[split] = read_hf_dataset(
                hf.path, name=hf.name, split=split, revision=hf.revision
            )
        elif isinstance(spec.data, str):
            splits[split] = read_rows(_split_source(path, spec, split))
        else:
            splits[split] = read_rows(_split_source(path, spec, split))
    return splits


def _data_hashes(path: Path, spec: TaskFile) -> dict[str, str]:
    hashes = {"task_file": sha256_file(path)}
    if isinstance(spec.data, str):
        hashes[spec.data] = sha256_file(path.parent / spec.data)
    elif isinstance(spec.data, dict):
        for relative in sorted(set(spec.data.values())):
            hashes[relative] = sha256_file(path.parent / relative)
    return hashes


def _template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def format_prompt(source: str, row: Row, template: str) -> str:
    """Fill ``{field}`` placeholders from the row; a missing field names the row."""
    values = {name: require_field(source, row, name) for name in _template_fields(template)}
    return template.format_map({k: _as_text(v) for k, v in values.items()})


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_choices(source: str, row: Row, spec: TaskFile) -> tuple[list[str], list[str]]:
    """(label names, choice texts) for one row."""
    if spec.choices is not None:
        return list(spec.choices), list(spec.choices)
    field = spec.choices_field
    value = require_field(source, row, field)
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise InputError(source, row.number, field, "expected a list of >= 2", value)
    texts = [scalar_text(source, row, field, v) for v in value]
    if len(texts) > 26:
        raise InputError(source, row.number, field, "more than 26 choices", value)
    if any(not text.strip() for text in texts):
        raise InputError(source, row.number, field, "an empty choice", value)
    repeated = sorted({text for text in texts if texts.count(text) > 1})
    if repeated:
        raise InputError(source, row.number, field, f"the choice {repeated[0]!r} repeats", value)
    return list(string.ascii_uppercase[: len(texts)]), texts


def _resolve_label(source: str, row: Row, field: str, labels: Sequence[str]) -> str:
    """The row's gold label name: a label itself, or a 0-based index into the labels."""
    value = require_field(source, row, field)
    if isinstance(value, str) and value in labels:
        return value
    if isinstance(value, str) and value.strip() in labels:
        return value.strip()
    index = _as_index(value)
    if index == -1:
        raise InputError(source, row.number, field, "unlabelled row (label -1)", value)
    by_index = labels[index] if index is not None and 0 <= index < len(labels) else None
    # a number whose text is a choice ("1".."5" stars): the choice, or an index into them?
    by_text = str(index) if index is not None and str(index) in labels else None
    if by_index is not None and by_text is not None and by_index != by_text:
        raise InputError(
            source,
            row.number,
            field,
            f"ambiguous label: the choice {by_text!r}, or index {index} (the choice "
            f"{by_index!r})? write the label as the choice's text, in quotes",
            value,
        )
    if by_index is not None:
        return by_index
    if by_text is not None:
        return by_text
    raise InputError(
        source, row.number, field, f"label is not among the choices {list(labels)!r}", value
    )


def _as_index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or not value.is_integer():
            return None
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _example_ids(source: str, rows: Sequence[Row], spec: TaskFile) -> list[str]:
    if spec.id_field is None:
        return [str(row.number) for row in rows]
    return check_unique_ids(source, rows, spec.id_field)


def _fewshot_block(
    spec: TaskFile,
    splits: dict[str, list[Row]],
    source_of: dict[str, str],
    example_id: str,
    answer_of: Any,
) -> str:
    """The few-shot prefix for one example: seeded by (seed, example id), order-independent."""
    if not spec.fewshot or spec.fewshot.n == 0:
        return ""
    pool = splits[spec.fewshot.split]
    # one file may serve several split names (``data: a.jsonl``): same rows, same exclusion
    same_split = source_of[spec.fewshot.split] == source_of[spec.split]
    rng = random.Random(f"{spec.fewshot.seed}:{example_id}")
    candidates = [r for r in pool if not (same_split and _row_id(spec, r) == example_id)]
    chosen = rng.sample(candidates, min(spec.fewshot.n, len(candidates)))
    source = source_of[spec.fewshot.split]
    shots = [
        format_prompt(source, r, spec.template) + spec.target_delimiter + answer_of(source, r)
        for r in chosen
    ]
    return spec.fewshot.separator.join(shots) + spec.fewshot.separator


def _row_id(spec: TaskFile, row: Row) -> str:
    if spec.id_field is None:
        return str(row.number)
    return str(row.fields.get(spec.id_field))


def _choice_examples(
    source: str, rows: list[Row], spec: TaskFile, splits: dict[str, list[Row]], path: Path
) -> tuple[list[Example], list[str]]:
    check_column_type(source, rows, spec.label_field)
    ids = _example_ids(source, rows, spec)
    source_of = {s: _split_source(path, spec, s) for s in splits}

    def answer_of(src: str, row: Row) -> str:
        labels, texts = _row_choices(src, row, spec)
        return texts[labels.index(_resolve_label(src, row, spec.label_field, labels))]

    examples = []
    label_set: list[str] = []
    for example_id, row in zip(ids, rows):
        labels, texts = _row_choices(source, row, spec)
        target = _resolve_label(source, row, spec.label_field, labels)
        prompt = _fewshot_block(spec, splits, source_of, example_id, answer_of)
        prompt += format_prompt(source, row, spec.template)
        examples.append(
            Example(
                example_id=example_id,
                prompt=prompt,
                target=target,
                choices=tuple(labels),
                continuations=tuple(spec.target_delimiter + text for text in texts),
                meta={"row": row.number, "choice_chars": [len(t) for t in texts]},
            )
        )
        label_set.extend(lab for lab in labels if lab not in label_set)
    return examples, label_set


def _generate_examples(
    source: str, rows: list[Row], spec: TaskFile, splits: dict[str, list[Row]], path: Path
) -> list[Example]:
    ids = _example_ids(source, rows, spec)
    source_of = {s: _split_source(path, spec, s) for s in splits}

    def references(src: str, row: Row) -> list[str]:
        value = reference_texts(src, row, spec.reference_field)  # the rule of fteval score
        return [value] if isinstance(value, str) else value

    examples = []
    for example_id, row in zip(ids, rows):
        refs = references(source, row)
        prompt = _fewshot_block(
            spec, splits, source_of, example_id, lambda s, r: references(s, r)[0]
        )
        prompt += format_prompt(source, row, spec.template)
        target: Any = refs[0] if len(refs) == 1 else refs
        examples.append(Example(example_id, prompt, target, meta={"row": row.number}))
    return examples


def _text_examples(source: str, rows: list[Row], spec: TaskFile) -> list[Example]:
    """Perplexity items: each row's text, scored whole (no prompt, no target)."""
    ids = _example_ids(source, rows, spec)
    examples = []
    for example_id, row in zip(ids, rows):
        text = require_field(source, row, spec.text_field)
        if not isinstance(text, str) or not text:
            raise InputError(source, row.number, spec.text_field, "expected non-empty text", text)
        examples.append(Example(example_id, text, None, meta={"row": row.number}))
    return examples

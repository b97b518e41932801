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
    fewshot: {split: train, n: 3, seed: 0, separator: "\\n\\n", sampler: random}
    description: "About {topic}.\\n\\n"   # optional; once, before the few-shot block
    truncate: {field: text}        # optional; cut this field's tail to fit the window
    metrics: [acc, acc_norm, f1_macro]
    role: target                   # or guardrail: must not get worse than the base
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

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
_T = TypeVar("_T")

DEFAULT_CHOICE_METRICS = ("acc", "acc_norm", "f1_macro")
DEFAULT_GENERATE_METRICS = ("exact_match",)
DEFAULT_PERPLEXITY_METRICS = ("perplexity", "cross_entropy")


FewShotSampler = Literal["random", "first_n", "sequential"]


class FewShotSpec(BaseModel):
    """Few-shot examples drawn from a named split.

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
    sampler: FewShotSampler = "random"
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
    choices: list[str] | dict[str, str] | None = None
    choices_field: str | None = None
    label_field: str | None = None
    target_delimiter: str = " "
    fewshot: FewShotSpec | None = None
    description: str | None = None
    truncate: TruncateSpec | None = None
    metrics: list[str | dict[str, Any]] | None = None
    reference_field: str | None = None
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    max_new_tokens: int = Field(default=128, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=10.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n_samples: int = Field(default=1, ge=1, le=1000)
    chat_template: bool = False
    role: Literal["target", "guardrail"] = "target"


def load_task_file(path: str | Path, *, num_fewshot: int | None = None) -> Task:
    """Load, check and format a task YAML file and its data.

    Args:
        path: the task file.
        num_fewshot: overrides the file's ``fewshot.n`` (``--num-fewshot``).

    Raises:
        ConfigError: the YAML is malformed or has unknown/missing keys.
        InputError: a data row is invalid (names file, row, field and value).
    """
    path = Path(path)
    spec = with_num_fewshot(_parse(path), num_fewshot, str(path))
    splits = _read_splits(path, spec)
    sources = {split: _split_source(path, spec, split) for split in splits}
    return build_task(
        spec,
        splits,
        sources,
        source=str(path),
        data_sha256=_data_hashes(path, spec),
        split=spec.split,
        role=spec.role,
        loader=_Loader(path, spec),
    )


def _items(
    spec: TaskFile,
    rows: list[Row],
    data_file: str,
    splits: Mapping[str, list[Row]],
    sources: Mapping[str, str],
) -> list[Example]:
    """``rows`` formatted as the task's items (few-shot shots from the task's own pool)."""
    if spec.type == "multiple_choice":
        return _choice_examples(data_file, rows, spec, splits, sources)[0]
    if spec.type == "generate":
        return _generate_examples(data_file, rows, spec, splits, sources)
    return _text_examples(data_file, rows, spec)


class _Loader:
    """Reads other splits and files with a task file's format (``ExampleLoader``)."""

    def __init__(self, path: Path, spec: TaskFile) -> None:
        self.path = path
        self.spec = spec

    def splits(self) -> tuple[str, ...]:
        if isinstance(self.spec.data, dict):
            return tuple(self.spec.data)
        return (self.spec.split,)

    def load_split(self, split: str) -> tuple[Example, ...]:
        if split not in self.splits():
            raise ConfigError(f"{self.path}: no split {split!r} (splits: {list(self.splits())})")
        spec = self.spec.model_copy(update={"split": split})
        splits = _read_splits(self.path, spec)
        sources = {s: _split_source(self.path, spec, s) for s in splits}
        return tuple(_items(spec, splits[split], sources[split], splits, sources))

    def load_file(self, path: str) -> tuple[Example, ...]:
        """Rows of ``path`` formatted as the evaluated split's items (an item whose id is a
        test item's gets the same few-shot block)."""
        splits = _read_splits(self.path, self.spec)
        sources = {s: _split_source(self.path, self.spec, s) for s in splits}
        return tuple(_items(self.spec, read_rows(path), path, splits, sources))


def build_task(
    spec: TaskFile,
    splits: Mapping[str, list[Row]],
    sources: Mapping[str, str],
    *,
    source: str,
    data_sha256: Mapping[str, str],
    **extra: Any,
) -> Task:
    """Format a checked task spec over rows already read, split by split.

    The one path from a spec to a ``Task``: task files and built-in benchmarks both take it.

    Args:
        spec: the task's keys (what a YAML task file says).
        splits: split name -> rows; holds ``spec.split`` and the few-shot split.
        sources: split name -> where its rows came from (named in errors).
        source: where the task came from (file path or built-in name), for the manifest.
        data_sha256: content hashes of the data, for the manifest.
        **extra: further ``Task`` fields (``groups``, ``postprocess``...).

    Raises:
        ConfigError: the spec does not fit the data (unknown metric, missing split...).
        InputError: a data row is invalid.
    """
    where = source
    _check_format(Path(where), spec)
    wanted = {spec.split} | ({spec.fewshot.split} if spec.fewshot and spec.fewshot.n else set())
    for split in sorted(wanted):
        if split not in splits:
            raise ConfigError(
                f"{where}: split {split!r} is not among the data's splits {sorted(splits)}"
            )
    rows = splits[spec.split]
    data_file = sources[spec.split]
    if spec.type == "multiple_choice":
        examples, labels = _choice_examples(data_file, rows, spec, splits, sources)
    elif spec.type == "generate":
        examples, labels = _generate_examples(data_file, rows, spec, splits, sources), []
    else:
        examples, labels = _text_examples(data_file, rows, spec), []
    defaults = {
        "multiple_choice": DEFAULT_CHOICE_METRICS,
        "generate": DEFAULT_GENERATE_METRICS,
        "perplexity": DEFAULT_PERPLEXITY_METRICS,
    }
    metrics = tuple(spec.metrics or defaults[spec.type])
    try:
        validate_metric_names(spec.name, metrics, labels)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
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
        source=source,
        data_sha256=dict(data_sha256),
        generation=generation,
        rolling_stride=spec.stride,
        truncate_field=spec.truncate.field if spec.truncate else None,
        **extra,
    )


def with_num_fewshot(spec: TaskFile, n: int | None, where: str) -> TaskFile:
    """``spec`` with ``n`` shots (None: as it is); shots without a few-shot source are an error."""
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
    if (spec.data is None) == (spec.hf_dataset is None):
        raise ConfigError(f"{path}: give exactly one of 'data' or 'hf_dataset'")
    _check_format(path, spec)


def _check_format(path: Path, spec: TaskFile) -> None:
    """Checks of the keys that format rows (shared by task files and built-ins)."""
    if not TASK_NAME.fullmatch(spec.name):
        raise ConfigError(
            f"{path}: key 'name': {spec.name!r} must be 1-64 letters, digits, '_', '.', '-'"
        )
    if isinstance(spec.data, dict) and spec.split not in spec.data:
        raise ConfigError(
            f"{path}: key 'split': {spec.split!r} is not among the data splits {sorted(spec.data)}"
        )
    if spec.truncate is not None and spec.type == "perplexity":
        raise ConfigError(f"{path}: key 'truncate': a perplexity task is scored whole")
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
        if spec.choices is not None:
            choices = spec.choices
            texts = list(choices.values()) if isinstance(choices, dict) else choices
            if any(not str(text).strip() for text in [*texts, *choices]):
                raise ConfigError(f"{path}: key 'choices': an empty choice in {choices!r}")
        if isinstance(spec.choices, dict) and len(set(spec.choices.values())) != len(spec.choices):
            raise ConfigError(f"{path}: key 'choices': two labels share a text {spec.choices!r}")
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
    _check_template(path, "template", spec.template)
    if spec.description is not None:
        _check_template(path, "description", spec.description)
    if spec.truncate is not None and spec.truncate.field not in _template_fields(spec.template):
        raise ConfigError(
            f"{path}: key 'truncate.field': {spec.truncate.field!r} is not a placeholder of "
            f"the template {spec.template!r}"
        )


def _check_template(path: Path, key: str, template: str) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ConfigError(f"{path}: key {key!r}: {error} (value: {template!r})") from None
    for _, name, format_spec, conversion in parts:
        if name is None:
            continue
        # no '.' or '[': str.format would read them as attribute or index access
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ -]*", name) or format_spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "")
            shown += f":{format_spec}" if format_spec else ""
            raise ConfigError(
                f"{path}: key {key!r}: placeholder {{{shown}}} must be a plain field name "
                "(no indexing, attributes, conversions or format specs)"
            )


_NESTED: dict[str, type[BaseModel]] = {
    "fewshot": FewShotSpec,
    "hf_dataset": HFDatasetSpec,
    "truncate": TruncateSpec,
}


def _describe(path: Path, error: ValidationError) -> str:
    def known_keys(loc: tuple) -> Iterable[str]:
        model = _NESTED.get(str(loc[0]), TaskFile) if len(loc) > 1 else TaskFile
        return model.model_fields

    return describe_validation_error(error, str(path), known_keys)


def _split_source(path: Path, spec: TaskFile, split: str) -> str:
    if spec.hf_dataset is not None:
        return f"{spec.hf_dataset.path}[{split}]"
    data = spec.data
    if data is None:  # parsing refused a file with neither data nor hf_dataset
        raise ConfigError(f"{path}: the task file needs 'data' or 'hf_dataset'")
    relative = data if isinstance(data, str) else data[split]
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


@lru_cache(maxsize=256)
def _template_fields(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


def format_prompt(source: str, row: Row, template: str) -> str:
    """Fill ``{field}`` placeholders from the row; a missing field names the row."""
    values = {name: require_field(source, row, name) for name in _template_fields(template)}
    return template.format_map({k: _as_text(v) for k, v in values.items()})


def input_spans(
    source: str, row: Row, template: str, offset: int = 0
) -> tuple[tuple[int, int], ...]:
    """The ``(start, end)`` characters of each filled field in ``template``'s output
    (shifted by ``offset``): the item's own input, which perturbations may change."""
    spans: list[tuple[int, int]] = []
    length = offset
    for literal, name, _, _ in string.Formatter().parse(template):
        length += len(literal)
        if name:
            value = _as_text(require_field(source, row, name))
            spans.append((length, length + len(value)))
            length += len(value)
    return tuple(spans)


_MARK = "\x00fteval-truncatable\x00"


def _format_with_span(
    source: str, row: Row, template: str, field: str | None
) -> tuple[str, list[int] | None]:
    """The formatted prompt and the [start, end) characters of ``field``'s text in it."""
    if field is None:
        return format_prompt(source, row, template), None
    values = {name: require_field(source, row, name) for name in _template_fields(template)}
    texts = {k: _as_text(v) for k, v in values.items()}
    marked = template.format_map({**texts, field: _MARK})
    start = marked.index(_MARK)
    before = marked[:start].replace(_MARK, texts[field])
    prompt = template.format_map(texts)
    return prompt, [len(before), len(before) + len(texts[field])]


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_choices(source: str, row: Row, spec: TaskFile) -> tuple[list[str], list[str]]:
    """(label names, choice texts) for one row."""
    if isinstance(spec.choices, dict):
        return list(spec.choices), list(spec.choices.values())
    if spec.choices is not None:
        return list(spec.choices), list(spec.choices)
    field = _given(spec.choices_field, "choices_field")
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


def _given(value: _T | None, key: str) -> _T:
    """A key the task's type requires; parsing already refused a file without it."""
    if value is None:
        raise ConfigError(f"the task file needs {key!r} for its type")
    return value


def _row_id(spec: TaskFile, row: Row) -> str:
    if spec.id_field is None:
        return str(row.number)
    return str(row.fields.get(spec.id_field))


class _Shots:
    """Few-shot prefixes for the examples of one task, in example order.

    Built once per task: the ``sequential`` sampler's draws depend on the examples before
    (as lm-evaluation-harness's), so prefixes must be made in example order.
    """

    def __init__(
        self,
        spec: TaskFile,
        splits: Mapping[str, list[Row]],
        sources: Mapping[str, str],
        answer_of: Callable[[str, Row], str],
    ) -> None:
        self.spec = spec
        self.fewshot = spec.fewshot if spec.fewshot and spec.fewshot.n > 0 else None
        self.answer_of = answer_of
        self._formatted: dict[int, str] = {}
        if self.fewshot is None:
            return
        self.pool = splits[self.fewshot.split]
        self.source = sources[self.fewshot.split]
        # one file may serve several split names (``data: a.jsonl``): same rows, same exclusion
        self.same_split = sources[self.fewshot.split] == sources[spec.split]
        self.sequential = random.Random(self.fewshot.seed)
        self.by_id: dict[str, list[int]] = {}
        if self.same_split:
            for i, r in enumerate(self.pool):
                self.by_id.setdefault(_row_id(spec, r), []).append(i)
        if self.fewshot.sampler == "first_n" and len(self.pool) < self.fewshot.n:
            raise ConfigError(
                f"{self.source}: {self.fewshot.n} few-shot examples asked, the split has "
                f"{len(self.pool)}"
            )

    def prefix(self, example_id: str) -> str:
        """The few-shot block for one example (empty without shots), ending in the separator."""
        if self.fewshot is None:
            return ""
        shots = [self._shot(i) for i in self._choose(example_id)]
        return self.fewshot.separator.join(shots) + self.fewshot.separator

    def _choose(self, example_id: str) -> list[int]:
        assert self.fewshot is not None
        n = self.fewshot.n
        own = self.by_id.get(example_id, [])
        if self.fewshot.sampler == "first_n":
            return [i for i in range(len(self.pool)) if i not in own][:n]
        if self.fewshot.sampler == "sequential":
            extra = len(own) or int(self.fewshot.extra_draw)
            drawn = self.sequential.sample(range(len(self.pool)), min(n + extra, len(self.pool)))
            return [i for i in drawn if i not in own][:n]
        rng = random.Random(f"{self.fewshot.seed}:{example_id}")
        candidates = [i for i in range(len(self.pool)) if i not in own]
        return rng.sample(candidates, min(n, len(candidates)))

    def _shot(self, index: int) -> str:
        if index not in self._formatted:
            row = self.pool[index]
            text = format_prompt(self.source, row, _given(self.spec.template, "template"))
            self._formatted[index] = (
                text + self.spec.target_delimiter + self.answer_of(self.source, row)
            )
        return self._formatted[index]


def _render(
    source: str, row: Row, spec: TaskFile, shots: _Shots, example_id: str
) -> tuple[str, dict[str, Any]]:
    """Description + few-shot block + the formatted item; meta with the truncatable span."""
    head = format_prompt(source, row, spec.description) if spec.description else ""
    head += shots.prefix(example_id)
    field = spec.truncate.field if spec.truncate else None
    text, span = _format_with_span(source, row, _given(spec.template, "template"), field)
    meta: dict[str, Any] = {"row": row.number}
    if span is not None:
        meta["truncatable"] = [len(head) + span[0], len(head) + span[1]]
    meta[_SPANS] = input_spans(source, row, _given(spec.template, "template"), len(head))
    return head + text, meta


_SPANS = "\x00input_spans"  # carried from _render to the Example, never into meta


def _example(
    example_id: str, prompt: str, target: Any, meta: dict[str, Any], row: Row, **rest: Any
) -> Example:
    spans = meta.pop(_SPANS)
    return Example(
        example_id, prompt, target, meta=meta, input_spans=spans, fields=row.fields, **rest
    )


def _choice_examples(
    source: str,
    rows: list[Row],
    spec: TaskFile,
    splits: Mapping[str, list[Row]],
    sources: Mapping[str, str],
) -> tuple[list[Example], list[str]]:
    label_field = _given(spec.label_field, "label_field")
    check_column_type(source, rows, label_field)
    ids = _example_ids(source, rows, spec)

    def answer_of(src: str, row: Row) -> str:
        labels, texts = _row_choices(src, row, spec)
        return texts[labels.index(_resolve_label(src, row, label_field, labels))]

    shots = _Shots(spec, splits, sources, answer_of)
    examples = []
    label_set: list[str] = []
    fixed = _row_choices(source, rows[0], spec) if spec.choices is not None else None
    for example_id, row in zip(ids, rows):
        labels, texts = fixed or _row_choices(source, row, spec)
        target = _resolve_label(source, row, label_field, labels)
        prompt, meta = _render(source, row, spec, shots, example_id)
        meta["choice_chars"] = [len(t) for t in texts]
        examples.append(
            _example(
                example_id,
                prompt,
                target,
                meta,
                row,
                choices=tuple(labels),
                continuations=tuple(spec.target_delimiter + text for text in texts),
            )
        )
        if fixed is None or not label_set:
            label_set.extend(lab for lab in labels if lab not in label_set)
    return examples, label_set


def _generate_examples(
    source: str,
    rows: list[Row],
    spec: TaskFile,
    splits: Mapping[str, list[Row]],
    sources: Mapping[str, str],
) -> list[Example]:
    reference_field = _given(spec.reference_field, "reference_field")
    ids = _example_ids(source, rows, spec)

    def references(src: str, row: Row) -> list[str]:
        value = reference_texts(src, row, reference_field)  # the rule of fteval score
        return [value] if isinstance(value, str) else value

    shots = _Shots(spec, splits, sources, lambda s, r: references(s, r)[0])
    examples = []
    for example_id, row in zip(ids, rows):
        refs = references(source, row)
        prompt, meta = _render(source, row, spec, shots, example_id)
        target: Any = refs[0] if len(refs) == 1 else refs
        examples.append(_example(example_id, prompt, target, meta, row))
    return examples


def _text_examples(source: str, rows: list[Row], spec: TaskFile) -> list[Example]:
    """Perplexity items: each row's text, scored whole (no prompt, no target)."""
    text_field = _given(spec.text_field, "text_field")
    ids = _example_ids(source, rows, spec)
    examples = []
    for example_id, row in zip(ids, rows):
        text = require_field(source, row, text_field)
        if not isinstance(text, str) or not text:
            raise InputError(source, row.number, text_field, "expected non-empty text", text)
        examples.append(
            Example(example_id, text, None, meta={"row": row.number}, fields=row.fields)
        )
    return examples

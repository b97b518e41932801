"""The prompt formatter: rows of a task spec -> examples (prompt, choices, target, spans).

A prompt is ``description + few-shot block + template`` with the row's fields filled in;
the few-shot block is each shot's ``template + target_delimiter + answer``, joined and
followed by ``fewshot.separator`` (lm-evaluation-harness's layout). Every row is checked
as it is formatted; errors name the file, row, field and value.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from typing import Any, TypeVar

from fteval.data.checks import (
    check_column_type,
    check_unique_ids,
    reference_texts,
    require_field,
    scalar_text,
)
from fteval.data.readers import Row
from fteval.errors import ConfigError, InputError
from fteval.records import Example
from fteval.tasks.samplers import make_sampler
from fteval.tasks.spec import TaskSpec, template_fields

_T = TypeVar("_T")
MAX_ROW_CHOICES = 26  # labels A..Z


def format_prompt(source: str, row: Row, template: str) -> str:
    """Fill ``{field}`` placeholders from the row; a missing field names the row."""
    values = {name: require_field(source, row, name) for name in template_fields(template)}
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
    values = {name: require_field(source, row, name) for name in template_fields(template)}
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


def _given(value: _T | None, key: str) -> _T:
    """A key the task's type requires; checking the spec already refused one without it."""
    if value is None:
        raise ConfigError(f"the task needs {key!r} for its type")
    return value


class PromptFormatter:
    """Formats the rows of one task spec: prompts, choices, targets, input spans.

    Args:
        spec: a checked task spec (``spec.check_spec``).
    """

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    # ---- one row ----

    def row_id(self, row: Row) -> str:
        """The row's example id: its ``id_field`` value, or its row number."""
        if self.spec.id_field is None:
            return str(row.number)
        return str(row.fields.get(self.spec.id_field))

    def shot(self, source: str, row: Row) -> str:
        """The row as a few-shot example: ``template + target_delimiter + answer``."""
        text = format_prompt(source, row, _given(self.spec.template, "template"))
        return text + self.spec.target_delimiter + self.answer(source, row)

    def answer(self, source: str, row: Row) -> str:
        """The gold answer text: the gold choice's text, or the first reference."""
        if self.spec.type == "multiple_choice":
            labels, texts = self.row_choices(source, row)
            label = self.resolve_label(source, row, labels)
            return texts[labels.index(label)]
        return self.references(source, row)[0]

    def references(self, source: str, row: Row) -> list[str]:
        """The row's references (``reference_field``: one string or a list)."""
        value = reference_texts(source, row, _given(self.spec.reference_field, "reference_field"))
        return [value] if isinstance(value, str) else value  # the rule of fteval score

    def row_choices(self, source: str, row: Row) -> tuple[list[str], list[str]]:
        """(label names, choice texts) for one row."""
        choices = self.spec.choices
        if isinstance(choices, dict):
            return list(choices), list(choices.values())
        if choices is not None:
            return list(choices), list(choices)
        field = _given(self.spec.choices_field, "choices_field")
        value = require_field(source, row, field)
        if not isinstance(value, (list, tuple)) or len(value) < 2:
            raise InputError(source, row.number, field, "expected a list of >= 2", value)
        texts = [scalar_text(source, row, field, v) for v in value]
        if len(texts) > MAX_ROW_CHOICES:
            raise InputError(source, row.number, field, "more than 26 choices", value)
        if any(not text.strip() for text in texts):
            raise InputError(source, row.number, field, "an empty choice", value)
        repeated = sorted({text for text in texts if texts.count(text) > 1})
        if repeated:
            problem = f"the choice {repeated[0]!r} repeats"
            raise InputError(source, row.number, field, problem, value)
        return list(string.ascii_uppercase[: len(texts)]), texts

    def resolve_label(self, source: str, row: Row, labels: Sequence[str]) -> str:
        """The row's gold label name: a label itself, or a 0-based index into the labels."""
        field = _given(self.spec.label_field, "label_field")
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

    def render(self, source: str, row: Row, prefix: str) -> tuple[str, dict[str, Any]]:
        """``prefix`` (the few-shot block) after the description, then the formatted row;
        meta with the row number and the truncatable span; the input spans."""
        spec = self.spec
        template = _given(spec.template, "template")
        head = format_prompt(source, row, spec.description) if spec.description else ""
        head += prefix
        field = spec.truncate.field if spec.truncate else None
        text, span = _format_with_span(source, row, template, field)
        meta: dict[str, Any] = {"row": row.number}
        if span is not None:
            meta["truncatable"] = [len(head) + span[0], len(head) + span[1]]
        meta[_SPANS] = input_spans(source, row, template, len(head))
        return head + text, meta

    # ---- every row of a split ----

    def example_ids(self, source: str, rows: Sequence[Row]) -> list[str]:
        """The rows' example ids; duplicates are an error naming both rows."""
        if self.spec.id_field is None:
            return [str(row.number) for row in rows]
        return check_unique_ids(source, rows, self.spec.id_field)

    def examples(
        self, source: str, rows: list[Row], shots: ShotBlock
    ) -> tuple[list[Example], list[str]]:
        """The rows as examples, and the label set (choice tasks; empty otherwise)."""
        if self.spec.type == "multiple_choice":
            return self._choice_examples(source, rows, shots)
        if self.spec.type == "generate":
            return self._generate_examples(source, rows, shots), []
        return self._text_examples(source, rows), []

    def _choice_examples(
        self, source: str, rows: list[Row], shots: ShotBlock
    ) -> tuple[list[Example], list[str]]:
        spec = self.spec
        check_column_type(source, rows, _given(spec.label_field, "label_field"))
        ids = self.example_ids(source, rows)
        examples = []
        label_set: list[str] = []
        fixed = self.row_choices(source, rows[0]) if spec.choices is not None else None
        for example_id, row in zip(ids, rows):
            labels, texts = fixed or self.row_choices(source, row)
            target = self.resolve_label(source, row, labels)
            prompt, meta = self.render(source, row, shots.prefix(example_id))
            meta["choice_chars"] = [len(t) for t in texts]
            continuations = tuple(spec.target_delimiter + text for text in texts)
            examples.append(
                _example(example_id, prompt, target, meta, row, tuple(labels), continuations)
            )
            if fixed is None or not label_set:
                label_set.extend(lab for lab in labels if lab not in label_set)
        return examples, label_set

    def _generate_examples(self, source: str, rows: list[Row], shots: ShotBlock) -> list[Example]:
        examples = []
        for example_id, row in zip(self.example_ids(source, rows), rows):
            refs = self.references(source, row)
            prompt, meta = self.render(source, row, shots.prefix(example_id))
            target: Any = refs[0] if len(refs) == 1 else refs
            examples.append(_example(example_id, prompt, target, meta, row))
        return examples

    def _text_examples(self, source: str, rows: list[Row]) -> list[Example]:
        """Perplexity items: each row's text, scored whole (no prompt, no target)."""
        text_field = _given(self.spec.text_field, "text_field")
        examples = []
        for example_id, row in zip(self.example_ids(source, rows), rows):
            text = require_field(source, row, text_field)
            if not isinstance(text, str) or not text:
                raise InputError(source, row.number, text_field, "expected non-empty text", text)
            examples.append(
                Example(example_id, text, None, meta={"row": row.number}, fields=row.fields)
            )
        return examples


_SPANS = "\x00input_spans"  # carried from render to the Example, never into meta


def _example(
    example_id: str,
    prompt: str,
    target: Any,
    meta: dict[str, Any],
    row: Row,
    choices: tuple[str, ...] = (),
    continuations: tuple[str, ...] = (),
) -> Example:
    spans = meta.pop(_SPANS)
    return Example(
        example_id,
        prompt,
        target,
        choices,
        continuations,
        meta=meta,
        input_spans=spans,
        fields=row.fields,
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


class FewShotPoolError(ConfigError):
    """More shots asked than the few-shot pool can give."""


class ShotBlock:
    """The few-shot prefix of each example of one split, asked in example order.

    Built once per formatted split: the ``sequential`` sampler's draws depend on the
    examples before (as lm-evaluation-harness's), so prefixes are made in example order.

    Args:
        formatter: formats the pool's rows as shots.
        pool: the few-shot split's rows (empty without shots).
        pool_source: where the pool's rows come from.
        same_rows: the pool is the evaluated rows' own file (an example is then never its
            own shot, so it has one row fewer to draw from).

    Raises:
        ConfigError: more shots asked than the pool can give; names the task, the pool's
            split and size, and the value.
    """

    def __init__(
        self, formatter: PromptFormatter, pool: list[Row], pool_source: str, same_rows: bool
    ) -> None:
        spec = formatter.spec
        self.formatter = formatter
        self.fewshot = spec.fewshot if spec.fewshot and spec.fewshot.n > 0 else None
        self._formatted: dict[int, str] = {}
        self.pool = pool
        self.source = pool_source
        self.by_id: dict[str, list[int]] = {}
        if self.fewshot is None:
            return
        if same_rows:
            for i, row in enumerate(pool):
                self.by_id.setdefault(formatter.row_id(row), []).append(i)
        available = len(pool) - (1 if same_rows else 0)
        if self.fewshot.n > available:
            raise FewShotPoolError(
                f"task {spec.name!r}: {self.fewshot.n} few-shot examples asked "
                f"(--num-fewshot or fewshot.n), but the few-shot pool, split "
                f"{self.fewshot.split!r} ({pool_source}), has {len(pool)} rows"
                + (" and an item is never its own shot" if same_rows else "")
                + f": at most {max(available, 0)}"
            )
        self.sampler = make_sampler(self.fewshot, len(pool))

    @classmethod
    def none(cls, formatter: PromptFormatter) -> ShotBlock:
        """A block that adds nothing (a spec without shots)."""
        return cls(formatter, [], "", same_rows=False)

    def prefix(self, example_id: str) -> str:
        """The few-shot block for one example (empty without shots), ending in the separator."""
        if self.fewshot is None:
            return ""
        chosen = self.sampler.choose(example_id, self.by_id.get(example_id, []))
        shots = [self._shot(i) for i in chosen]
        return self.fewshot.separator.join(shots) + self.fewshot.separator

    def _shot(self, index: int) -> str:
        if index not in self._formatted:
            self._formatted[index] = self.formatter.shot(self.source, self.pool[index])
        return self._formatted[index]

"""What a run adds around its tasks for the sections behind the clean score: roles, slice
and contamination tags, perturbed and validation variants, training logs.

Everything runs before any model weights load: tags when the tasks load, variants once
the backend can tell each arm's tokenizer and context window (``token_budget``, read from
files), so bad input (a misspelt slice field, an unreadable ``ood`` file, a ``long``
target beyond the window, a malformed training log) never costs a model load.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from fteval.backends import Backend
from fteval.backends.base import TokenBudget
from fteval.config import RunConfig
from fteval.errors import FtevalError
from fteval.pipeline.task_setup import load_spec
from fteval.records import ArmSpec, Example, sha256_file
from fteval.robustness import parse_perturbations, perturbed_tasks, validation_task
from fteval.robustness.contamination import (
    TRAIN_SPLIT,
    file_texts,
    tag_contamination,
    train_split_texts,
)
from fteval.robustness.slices import LENGTH, tag_slices
from fteval.robustness.training import read_training_log
from fteval.tasks import Task
from fteval.tasks.formatter import FewShotPoolError
from fteval.tasks.selection import is_glob

logger = logging.getLogger(__name__)


def with_guardrails(tasks: Sequence[Task], config: RunConfig) -> list[Task]:
    """The tasks plus ``--guardrail`` tasks not among them; every task a guardrail names
    (by spec, task name, source or group) gets ``role="guardrail"``."""
    out = list(tasks)
    for spec in config.guardrails:
        if spec not in config.tasks and not any(_named(task, spec) for task in out):
            out += load_spec(config, spec)
    marks = set(config.guardrails)
    return [
        dataclasses.replace(task, role="guardrail")
        if any(_named(task, mark) for mark in marks)
        else task
        for task in out
    ]


def _named(task: Task, spec: str) -> bool:
    """Whether ``spec`` names ``task``: its name, source or a group, or a glob of these."""
    names = (task.name, task.source, *task.groups)
    if is_glob(spec):
        return any(fnmatchcase(name, spec) for name in names)
    return spec in names


def prepare_tasks(tasks: Sequence[Task], config: RunConfig) -> list[Task]:
    """Slice tags (``--slice``) and contamination overlaps (``--train-data``, train splits)."""
    for field in config.slices:
        if field != LENGTH and tasks and not any(_has_field(task, field) for task in tasks):
            tag_slices(tasks[0], [field])  # raises the error that names the task's fields
    out = [tag_slices(task, _fields_of(task, config.slices)) for task in tasks]
    files = {path: list(file_texts(path)) for path in dict.fromkeys(config.train_data.values())}
    tagged = []
    for task in out:
        sources: dict[str, Any] = dict(files)
        own = train_split_texts(task)
        if own is not None:
            sources[TRAIN_SPLIT] = list(own)
        tagged.append(
            tag_contamination(task, sources, ngram=config.contamination_ngram) if sources else task
        )
    return tagged


def _has_field(task: Task, field: str) -> bool:
    return any(field in example.fields for example in task.examples)


def _fields_of(task: Task, fields: Sequence[str]) -> list[str]:
    """The slice fields that apply to ``task`` (``length`` always; columns it has)."""
    return [f for f in fields if f == LENGTH or _has_field(task, f)]


def realign_spans(tasks: Sequence[Task]) -> list[Task]:
    """Input spans moved after ``fit_tasks`` cut a field's tail (``meta.truncation``)."""
    return [
        dataclasses.replace(task, examples=tuple(_realigned(e) for e in task.examples))
        if any(e.meta.get("truncation", {}).get("cut") for e in task.examples)
        else task
        for task in tasks
    ]


def _realigned(example: Example) -> Example:
    if not example.meta.get("truncation", {}).get("cut") or not example.input_spans:
        return example
    start, end = example.meta["truncatable"]
    spans = []
    shift = 0
    for span_start, span_end in example.input_spans:
        if span_start == start:
            shift = end - span_end
            spans.append((span_start, end))
        else:
            spans.append((span_start + shift, span_end + shift))
    return dataclasses.replace(example, input_spans=tuple(spans))


def build_variants(
    tasks: Sequence[Task], config: RunConfig, backend: Backend, arms: Sequence[ArmSpec]
) -> list[Task]:
    """Perturbed copies of every task (judged tasks excepted) and validation splits."""
    specs = parse_perturbations(config.perturbations)
    counter, window = (
        _measure(backend, arms) if any(s.name == "long" for s in specs) else (None, None)
    )
    out: list[Task] = []
    for task in tasks:
        if task.judge is None:
            out += perturbed_tasks(
                task,
                specs,
                limit=task.selection.limit,
                count_tokens=counter,
                context_window=window,
            )
        if config.temperature_scaling:
            validation = _validation(task)
            if validation is not None:
                # the validation split keeps as many items as the task, chosen the same way
                fresh = dataclasses.replace(validation, n_available=None)
                out.append(fresh.selected(task.selection))
    return out


def _validation(task: Task) -> Task | None:
    """The task's validation variant, or None (also, with a warning, when that split is
    the few-shot pool itself and too small to give every item its shots)."""
    try:
        return validation_task(task)
    except FewShotPoolError as error:
        logger.warning("task %r: no temperature scaling: %s", task.name, error)
        return None


def _measure(backend: Backend, arms: Sequence[ArmSpec]) -> tuple[Any, int | None]:
    """The base arm's token counter and the smallest context window of every arm (the
    ``long`` target must fit them all), or (None, None) when the backend cannot tell."""
    budgets: dict[str, TokenBudget] = {}
    for arm in arms:
        budget = backend.token_budget(arm.name)
        if budget is not None:
            budgets.setdefault(budget.key, budget)
    if not budgets:
        return None, None
    first = next(iter(budgets.values()))
    return first.count, min(b.max_length for b in budgets.values())


def describe_variants(variants: Sequence[Task]) -> list[dict[str, Any]]:
    """The manifest's ``variants``: name, parent task, kind, size, signature, file hash."""
    out = []
    for variant in variants:
        meta = variant.examples[0].meta if variant.examples else {}
        record = {
            "name": variant.name,
            "task": meta.get("parent_task"),
            "kind": "validation" if meta.get("split") == "validation" else "perturbation",
            "perturbation": meta.get("perturbation"),
            "signature": meta.get("perturbation_signature"),
            "n_examples": len(variant.examples),
        }
        if meta.get("file"):
            record["data_sha256"] = sha256_file(meta["file"])
        out.append(record)
    return out


def check_same_variants(previous: dict[str, Any], manifest: dict[str, Any]) -> None:
    """A resumed run must perturb the same way and read the same ``ood`` files."""
    before = {v["name"]: v for v in previous.get("variants", [])}
    for variant in manifest.get("variants", []):
        old = before.get(variant["name"])
        if old is None:
            continue
        for key in ("signature", "data_sha256"):
            if old.get(key) != variant.get(key):
                raise FtevalError(
                    f"cannot resume: the variant {variant['name']!r} changed since the run "
                    f"started ({key} differs); start a new run with another --out"
                )


def read_training_logs(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Every ``--training-log``, parsed (errors name file, row and field)."""
    return {arm: read_training_log(path) for arm, path in config.training_logs.items()}

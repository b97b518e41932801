"""Custom tasks from a small YAML file over JSONL, CSV/TSV, Parquet or HF dataset rows.

The YAML formats fields; it never executes code. Reference (docs/tasks.md)::

    name: my_tickets               # filename-safe task name
    type: multiple_choice          # or: generate, perplexity
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

A task file is a spec (``tasks.spec``) over a data source (``tasks.source``), formatted
by the loader every task takes (``tasks.loader``). Every row is checked before any model
loads; errors name file, row, field and value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fteval.data.yamltext import load_yaml
from fteval.errors import ConfigError
from fteval.tasks.loader import build_task
from fteval.tasks.source import DataSource, file_source, hf_source
from fteval.tasks.spec import TaskSpec, parse_spec, with_num_fewshot
from fteval.tasks.task import Task

ShotsRule = int | Callable[[str], "int | None"] | None


def load_task_file(path: str | Path, *, num_fewshot: ShotsRule = None) -> Task:
    """Load, check and format a task YAML file and its data.

    Args:
        path: the task file.
        num_fewshot: overrides the file's ``fewshot.n`` (``--num-fewshot``): a number, a
            function of the task's name (per-task values), or None (the file's own).

    Raises:
        ConfigError: the YAML is malformed, has unknown/missing keys, or asks more shots
            than its few-shot pool holds.
        InputError: a data row is invalid (names file, row, field and value).
    """
    path = Path(path)
    spec = read_task_spec(path)
    shots = num_fewshot(spec.name) if callable(num_fewshot) else num_fewshot
    spec = with_num_fewshot(spec, shots, str(path))
    return build_task(spec, task_file_source(path, spec), origin=str(path))


def read_task_spec(path: Path) -> TaskSpec:
    """The checked spec of a task file (its data not read)."""
    return parse_spec(load_yaml(path, what="task file"), str(path))


def task_file_source(path: Path, spec: TaskSpec) -> DataSource:
    """The data source a task file names: ``data`` files or an ``hf_dataset``."""
    if spec.hf_dataset is not None:
        hf = spec.hf_dataset
        return hf_source(
            path, hf.path, name=hf.name, revision=hf.revision, splits=spec.wanted_splits()
        )
    if spec.data is None:  # parse_spec refused a file with neither
        raise ConfigError(f"{path}: the task file needs 'data' or 'hf_dataset'")
    return file_source(path, spec.data, spec.split)

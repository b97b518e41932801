"""The one task loader: a spec over a data source -> a ``Task``.

Task files (``tasks.yaml_task``) and built-in benchmarks (``tasks.builtin``) both end
here: ``build_task`` checks the spec, formats the evaluated split (few-shot shots from
the spec's pool) and keeps a ``TaskLoader`` on the task, which formats any other split of
the source, or a user's file, exactly as the evaluated items (``ExampleLoader``). That is
how calibration finds a validation split and contamination a train split, for every task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fteval.data.readers import read_rows
from fteval.errors import ConfigError
from fteval.metrics import make_metrics
from fteval.records import Example
from fteval.tasks.formatter import PromptFormatter, ShotBlock
from fteval.tasks.source import DataSource
from fteval.tasks.spec import TaskSpec, check_spec, default_metrics
from fteval.tasks.task import GenerationSpec, Task, validate_metric_names


class TaskLoader:
    """Formats the splits of one source with one spec (an ``ExampleLoader``).

    Args:
        spec: the task's checked spec.
        source: its rows by split.
    """

    def __init__(self, spec: TaskSpec, source: DataSource) -> None:
        self.spec = spec
        self.source = source
        self.formatter = PromptFormatter(spec)

    def splits(self) -> tuple[str, ...]:
        """The split names the task's data has (the evaluated one included)."""
        return self.source.splits()

    def load_split(self, split: str) -> tuple[Example, ...]:
        """Every item of ``split``, formatted exactly as the evaluated split's.

        Raises:
            ConfigError: the data has no such split.
            InputError: a row is invalid.
        """
        if split not in self.splits():
            raise ConfigError(
                f"{self.source.name}: no split {split!r} (splits: {list(self.splits())})"
            )
        return tuple(self.examples_of(split)[0])

    def load_file(self, path: str) -> tuple[Example, ...]:
        """Rows of ``path`` with the task's fields, formatted as the evaluated split's items
        (an item whose id is an evaluated item's gets the same few-shot exclusion)."""
        shots = self._shots(self.spec.split)
        return tuple(self.formatter.examples(path, read_rows(path), shots)[0])

    def examples_of(self, split: str) -> tuple[list[Example], list[str]]:
        """The items of ``split`` and the label set (choice tasks)."""
        rows = self.source.rows(split)  # the evaluated rows first: their errors come first
        return self.formatter.examples(self.source.where(split), rows, self._shots(split))

    def _shots(self, split: str) -> ShotBlock:
        fewshot = self.spec.fewshot
        if fewshot is None or fewshot.n == 0:
            return ShotBlock.none(self.formatter)
        pool_source = self.source.where(fewshot.split)
        same_rows = pool_source == self.source.where(split)
        return ShotBlock(self.formatter, self.source.rows(fewshot.split), pool_source, same_rows)


def build_task(spec: TaskSpec, source: DataSource, *, origin: str, **extra: Any) -> Task:
    """Check ``spec``, format its evaluated split from ``source``: the task.

    Args:
        spec: the task's keys (what a YAML task file says).
        source: the task's rows by split; holds ``spec.split`` and the few-shot split.
        origin: where the task came from (task file path or ``builtin:NAME``), for the
            manifest and messages.
        **extra: further ``Task`` fields (``groups``, ``postprocess``, ``role``...).

    Raises:
        ConfigError: the spec does not fit the data (unknown metric, missing split, more
            shots than the few-shot pool holds...).
        InputError: a data row is invalid.
    """
    check_spec(origin, spec)
    for split in spec.wanted_splits():
        if not source.has(split):
            raise ConfigError(
                f"{origin}: split {split!r} is not among the data's splits "
                f"{sorted(source.splits())}"
            )
    loader = TaskLoader(spec, source)
    examples, labels = loader.examples_of(spec.split)
    metrics = default_metrics(spec)
    try:
        validate_metric_names(spec.name, metrics, labels)
    except ValueError as error:
        raise ConfigError(f"{origin}: {error}") from None
    primary = check_primary_metric(origin, spec.primary_metric, metrics, labels)
    return Task(
        name=spec.name,
        kind=spec.type,
        examples=tuple(examples),
        metrics=metrics,
        labels=tuple(labels),
        source=origin,
        data_sha256=dict(source.hashes),
        generation=_generation(spec),
        rolling_stride=spec.stride,
        truncate_field=spec.truncate.field if spec.truncate else None,
        split=spec.split,
        role=spec.role,
        loader=loader,
        num_fewshot=spec.shots,
        primary_metric=primary,
        **extra,
    )


def check_primary_metric(
    origin: str, primary: str | None, metrics: Sequence[Any], labels: Sequence[str]
) -> str | None:
    """The task's ``primary_metric`` when it names one of its metrics' keys.

    Raises:
        ConfigError: it names none of them (the message lists the keys).
    """
    if primary is None:
        return None
    keys = [metric.key for metric in make_metrics(metrics, labels=labels or None)]
    if primary not in keys:
        raise ConfigError(
            f"{origin}: primary_metric {primary!r} is not one of the task's metrics {keys}"
        )
    return primary


def _generation(spec: TaskSpec) -> GenerationSpec | None:
    if spec.type != "generate":
        return None
    return GenerationSpec(
        stop=tuple(spec.stop),
        max_new_tokens=spec.max_new_tokens,
        temperature=spec.temperature,
        top_p=spec.top_p,
        n=spec.n_samples,
        chat_template=spec.chat_template,
    )

"""The run's tasks from its config: names expanded (groups), local data, shots, settings.

``--data NAME=PATH`` and ``--task-option NAME:KEY=VALUE`` are looked up under the task
spec as written (``mmlu_stem``), then under the built-in's data family (``mmlu`` serves
every MMLU subject and category); a name that no task of the run uses is an error, so a
typo never silently falls back to the Hub or to defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fteval.config import RunConfig
from fteval.errors import ConfigError
from fteval.tasks import Task, TaskOptions, load_tasks
from fteval.tasks.builtin import catalogue, check_settings


def family_of(spec: str) -> str:
    """The name a built-in's ``--data`` may be given under besides its own."""
    entry = catalogue().get(spec)
    return entry.data_key if entry is not None else spec


def options_for(config: RunConfig, spec: str) -> TaskOptions:
    """What the run asks of task ``spec``."""

    def lookup(table: Mapping[str, Any]) -> Any:
        return table.get(spec, table.get(family_of(spec)))

    return TaskOptions(
        data=lookup(config.data),
        num_fewshot=config.num_fewshot,
        settings=dict(lookup(config.task_options) or {}),
        lmeval_include=tuple(config.lmeval_include),
    )


def tasks_of(config: RunConfig) -> list[Task]:
    """Every task of the run (group members expanded), each cut to ``config.limit``."""
    used = set(config.tasks) | {family_of(spec) for spec in config.tasks}
    for flag, table in (("--data", config.data), ("--task-option", config.task_options)):
        unused = sorted(set(table) - used)
        if unused:
            raise ConfigError(
                f"{flag} {unused[0]}=...: no task of this run is named {unused[0]!r} "
                f"(tasks: {', '.join(config.tasks)})"
            )
    check_task_options(config)
    tasks: list[Task] = []
    for spec in config.tasks:
        tasks += load_tasks(spec, limit=config.limit, options=options_for(config, spec))
    return tasks


def check_task_options(config: RunConfig) -> None:
    """Every ``--task-option`` parsed and range-checked before any task's data is read.

    The built-in's own declaration (its catalogue ``settings``) types each value through
    the one option checker, as the task's loader does again when it loads.

    Raises:
        ConfigError: an unknown setting, a value of the wrong type or out of range.
    """
    entries = catalogue()
    for key, settings in config.task_options.items():
        for entry in entries.values():
            if key in (entry.name, entry.data_key):
                check_settings(entry.name, settings, entry.settings)

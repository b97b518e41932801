"""The run's tasks from its config: names expanded (globs, groups), local data, shots,
settings and the items each task keeps.

``--data NAME=PATH`` and ``--task-option NAME:KEY=VALUE`` are looked up under the task
spec as written (``mmlu_stem``), then under the built-in's data family (``mmlu`` serves
every MMLU subject and category); a name that no task of the run uses is an error, so a
typo never silently falls back to the Hub or to defaults. ``--limit`` and
``--num-fewshot`` are per task (``tasks.selection``): a key that matches no task of the
run is an error too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.config import RunConfig
from fteval.errors import ConfigError
from fteval.tasks import Task, TaskOptions, load_tasks
from fteval.tasks.builtin import catalogue, check_settings
from fteval.tasks.lmeval import check_include_folders
from fteval.tasks.registry import expand_task_globs
from fteval.tasks.selection import PerTask, Selection, candidate_names


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
        num_fewshot=PerTask.of(config.num_fewshot, "--num-fewshot"),
        settings=dict(lookup(config.task_options) or {}),
        lmeval_include=tuple(config.lmeval_include),
        asked_as=spec,
    )


def run_specs(config: RunConfig) -> list[str]:
    """The run's task specs with every glob expanded (``mmlu_*``)."""
    return expand_task_globs(config.tasks)


def tasks_of(config: RunConfig) -> list[Task]:
    """Every task of the run (group members expanded), each with the items it keeps."""
    check_include_folders(config.lmeval_include)  # whether or not an lmeval: task uses them
    specs = run_specs(config)
    named = [*specs, *expand_task_globs(config.guardrails)]  # guardrails may take --data too
    used = set(named) | {family_of(spec) for spec in named}
    for flag, table in (("--data", config.data), ("--task-option", config.task_options)):
        unused = sorted(set(table) - used)
        if unused:
            raise ConfigError(
                f"{flag} {unused[0]}=...: no task of this run is named {unused[0]!r} "
                f"(tasks: {', '.join(specs)})"
            )
    check_task_options(config)
    tasks: list[Task] = []
    for spec in specs:
        tasks += load_spec(config, spec)
    return tasks


def load_spec(config: RunConfig, spec: str) -> list[Task]:
    """The tasks ``spec`` (a name, file or glob) names, loaded with the run's options,
    each cut to its limit."""
    limits = PerTask.of(config.limit, "--limit")
    out = []
    for name in expand_task_globs([spec]):
        for task in load_tasks(name, options=options_for(config, name)):
            limit = limits.value(candidate_names(task.name, task.groups, name))
            selection = Selection(limit, config.limit_sampling, config.limit_seed)
            out.append(task.selected(selection))
    return out


def check_per_task_keys(config: RunConfig, tasks: Sequence[Task], specs: Sequence[str]) -> None:
    """Every ``--limit TASK=N`` and ``--num-fewshot TASK=N`` must match a task of the run
    (its name, a group, its source, or a spec as written).

    Raises:
        ConfigError: naming the flag, the key and the run's tasks.
    """
    known = [(*candidate_names(t.name, t.groups, t.source), *specs) for t in tasks]
    for flag, value in (("--limit", config.limit), ("--num-fewshot", config.num_fewshot)):
        unmatched = PerTask.of(value, flag).unmatched(known)
        if unmatched:
            names = ", ".join(sorted({t.name for t in tasks})[:8])
            raise ConfigError(
                f"{flag} {unmatched[0]}=...: no task of this run is named or matches "
                f"{unmatched[0]!r} (tasks: {names}{', ...' if len(tasks) > 8 else ''})"
            )


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

"""Find tasks by built-in name, ``lmeval:NAME``, task-file path, or a glob of these.

A built-in name may stand for one task (``sst2``) or a group of tasks (``mmlu``: 57
subjects in four categories); ``load_tasks`` returns every member, ``load_task`` one.
A glob (``mmlu_*``, ``mmlu_high_school_*``, ``tasks/*.yaml``) stands for every built-in
name or task file it matches; a name inside a matched group is loaded once, with that
group; a glob that matches nothing is an error naming it. Built-in modules
(``fteval.tasks.builtin``) register themselves when first needed.
"""

from __future__ import annotations

import dataclasses
import glob
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from fteval._util.registry import Registry
from fteval.errors import ConfigError
from fteval.tasks.options import TaskOptions
from fteval.tasks.selection import is_glob
from fteval.tasks.task import Task
from fteval.tasks.yaml_task import load_task_file

BuiltinFactory = Callable[..., Task | Sequence[Task]]
# importing ``fteval.tasks.builtin`` imports the built-in task modules, which register
# themselves with ``register_builtin`` (cheap: no data is read until a task is loaded)
BUILTINS: Registry[BuiltinFactory] = Registry("built-in task", loaders=("fteval.tasks.builtin",))
# a group's name -> the registered names it includes (``mmlu_stem`` -> its subjects)
_MEMBERS: dict[str, tuple[str, ...]] = {}
LMEVAL_PREFIX = "lmeval:"
TASK_FILE_SUFFIXES = (".yaml", ".yml")


def register_builtin(
    name: str, *, members: Sequence[str] = ()
) -> Callable[[BuiltinFactory], BuiltinFactory]:
    """Register a built-in task factory under ``name`` (a decorator).

    The factory takes a ``TaskOptions`` (or nothing) and returns a task or a list of
    tasks (a group). ``members``: the registered names a group includes (a glob matching
    the group and a member loads the member once, inside the group).
    """
    _MEMBERS[name] = tuple(members)
    return BUILTINS.register(name)


def builtin_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return BUILTINS.names()


def expand_task_globs(specs: Sequence[str]) -> list[str]:
    """``specs`` with every glob replaced by the names or task files it matches.

    A built-in glob keeps the largest matched groups: ``mmlu_*`` is the four MMLU
    categories (their subjects inside), not the categories and their subjects again.

    Raises:
        ConfigError: a glob that matches no built-in name or task file (named).
    """
    out: list[str] = []
    for spec in specs:
        if not is_glob(spec) or spec.startswith(LMEVAL_PREFIX) or Path(spec).exists():
            out.append(spec)
        elif Path(spec).suffix.lower() in TASK_FILE_SUFFIXES:
            out += _matched_files(spec)
        else:
            out += _matched_builtins(spec)
    return list(dict.fromkeys(out))


def _matched_files(pattern: str) -> list[str]:
    files = sorted(glob.glob(pattern))
    if not files:
        raise ConfigError(f"task {pattern!r}: the glob matches no task file")
    return files


def _matched_builtins(pattern: str) -> list[str]:
    matched = [name for name in builtin_tasks() if fnmatchcase(name, pattern)]
    if not matched:
        raise ConfigError(
            f"task {pattern!r}: the glob matches no built-in task (`fteval tasks --all` "
            "lists them; a task file glob ends in .yaml)"
        )
    inside = {member for name in matched for member in _MEMBERS.get(name, ())}
    return [name for name in matched if name not in inside]


def load_task(spec: str, *, limit: int | None = None, options: TaskOptions | None = None) -> Task:
    """A task from a YAML file path or a built-in name, cut to ``limit`` examples.

    Raises:
        ConfigError: neither a task file nor a known built-in name, or a group of tasks
            (use ``load_tasks``).
    """
    tasks = load_tasks(spec, limit=limit, options=options)
    if len(tasks) != 1:
        raise ConfigError(f"{spec!r} is a group of {len(tasks)} tasks; load it with load_tasks")
    return tasks[0]


def load_tasks(
    spec: str, *, limit: int | None = None, options: TaskOptions | None = None
) -> list[Task]:
    """Every task ``spec`` names (one, a group's members, or a glob's), each cut to ``limit``.

    Args:
        spec: a ``.yaml`` task file, a built-in name, ``lmeval:NAME``, or a glob of
            built-in names or task files.
        limit: first N examples of each task (None: all).
        options: local data, shots and task settings.

    Raises:
        ConfigError: unknown name, a missing file, a glob matching nothing, or options
            that do not apply.
    """
    options = options or TaskOptions()
    names = expand_task_globs([spec])
    if names != [spec]:
        return [t for name in names for t in load_tasks(name, limit=limit, options=options)]
    options = options if options.asked_as else dataclasses.replace(options, asked_as=spec)
    return [task.limited(limit) for task in _load(spec, options)]


def _load(spec: str, options: TaskOptions) -> list[Task]:
    path = Path(spec)
    if path.suffix.lower() in TASK_FILE_SUFFIXES:
        if path.is_dir():
            raise ConfigError(f"{spec}: is a directory, not a task file")
        if not path.is_file():
            raise ConfigError(f"{spec}: task file not found")
        if options.data is not None or options.settings:
            raise ConfigError(f"{spec}: --data and --task-option apply to built-in tasks only")
        return [load_task_file(path, num_fewshot=options.shots_for)]
    if spec.startswith(LMEVAL_PREFIX):
        from fteval.tasks.lmeval import load_lmeval_tasks

        return load_lmeval_tasks(spec[len(LMEVAL_PREFIX) :], options)
    factory = BUILTINS.find(spec)
    if factory is not None:
        made = factory(options)
        return [made] if isinstance(made, Task) else list(made)
    known = ", ".join(builtin_tasks()) or "none yet"
    raise ConfigError(
        f"unknown task {spec!r}: not a .yaml task file, not lmeval:NAME and not a built-in "
        f"task (built-ins: {known}; `fteval tasks` lists them)"
    )

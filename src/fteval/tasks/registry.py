"""Find tasks by built-in name, ``lmeval:NAME`` or task-file path.

A built-in name may stand for one task (``sst2``) or a group of tasks (``mmlu``: 57
subjects in four categories); ``load_tasks`` returns every member, ``load_task`` one.
Built-in modules (``fteval.tasks.builtin``) register themselves when first needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from fteval._util.registry import Registry
from fteval.errors import ConfigError
from fteval.tasks.options import TaskOptions
from fteval.tasks.task import Task
from fteval.tasks.yaml_task import load_task_file

BuiltinFactory = Callable[..., Task | Sequence[Task]]
# importing ``fteval.tasks.builtin`` imports the built-in task modules, which register
# themselves with ``register_builtin`` (cheap: no data is read until a task is loaded)
BUILTINS: Registry[BuiltinFactory] = Registry("built-in task", loaders=("fteval.tasks.builtin",))
LMEVAL_PREFIX = "lmeval:"


def register_builtin(name: str) -> Callable[[BuiltinFactory], BuiltinFactory]:
    """Register a built-in task factory under ``name`` (a decorator).

    The factory takes a ``TaskOptions`` (or nothing) and returns a task or a list of
    tasks (a group).
    """
    return BUILTINS.register(name)


def builtin_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return BUILTINS.names()


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
    """Every task ``spec`` names (one, or a group's members), each cut to ``limit``.

    Args:
        spec: a ``.yaml`` task file, a built-in name, or ``lmeval:NAME``.
        limit: first N examples of each task.
        options: local data, shots and task settings.

    Raises:
        ConfigError: unknown name, a missing file, or options that do not apply.
    """
    options = options or TaskOptions()
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml"):
        if path.is_dir():
            raise ConfigError(f"{spec}: is a directory, not a task file")
        if not path.is_file():
            raise ConfigError(f"{spec}: task file not found")
        if options.data is not None or options.settings:
            raise ConfigError(f"{spec}: --data and --task-option apply to built-in tasks only")
        return [load_task_file(path, num_fewshot=options.num_fewshot).limited(limit)]
    if spec.startswith(LMEVAL_PREFIX):
        from fteval.tasks.lmeval import load_lmeval_tasks

        return [t.limited(limit) for t in load_lmeval_tasks(spec[len(LMEVAL_PREFIX) :], options)]
    factory = BUILTINS.find(spec)
    if factory is not None:
        made = factory(options)
        tasks = [made] if isinstance(made, Task) else list(made)
        return [t.limited(limit) for t in tasks]
    known = ", ".join(builtin_tasks()) or "none yet"
    raise ConfigError(
        f"unknown task {spec!r}: not a .yaml task file, not lmeval:NAME and not a built-in "
        f"task (built-ins: {known}; `fteval tasks` lists them)"
    )

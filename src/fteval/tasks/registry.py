"""Find a task by built-in name or task-file path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fteval.errors import ConfigError
from fteval.tasks.task import Task
from fteval.tasks.yaml_task import load_task_file

BuiltinFactory = Callable[[], Task]
_BUILTINS: dict[str, BuiltinFactory] = {}


def register_builtin(name: str) -> Callable[[BuiltinFactory], BuiltinFactory]:
    """Register a built-in task factory under ``name`` (a decorator)."""

    def decorate(factory: BuiltinFactory) -> BuiltinFactory:
        if name in _BUILTINS:
            raise ValueError(f"built-in task {name!r} is registered twice")
        _BUILTINS[name] = factory
        return factory

    return decorate


def builtin_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return sorted(_BUILTINS)


def load_task(spec: str, *, limit: int | None = None) -> Task:
    """A task from a YAML file path or a built-in name, cut to ``limit`` examples.

    Raises:
        ConfigError: neither a task file nor a known built-in name.
    """
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml"):
        if path.is_dir():
            raise ConfigError(f"{spec}: is a directory, not a task file")
        if not path.is_file():
            raise ConfigError(f"{spec}: task file not found")
        return load_task_file(path).limited(limit)
    if spec in _BUILTINS:
        return _BUILTINS[spec]().limited(limit)
    known = ", ".join(builtin_tasks()) or "none yet"
    raise ConfigError(
        f"unknown task {spec!r}: not a .yaml task file and not a built-in task (built-ins: {known})"
    )

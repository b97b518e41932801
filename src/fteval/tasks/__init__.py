"""Tasks: examples + prompt + choices + target + metrics; YAML task files; registry."""

from fteval.tasks.registry import builtin_tasks, load_task, register_builtin
from fteval.tasks.task import GenerationSpec, Task
from fteval.tasks.yaml_task import load_task_file

__all__ = [
    "GenerationSpec",
    "Task",
    "builtin_tasks",
    "load_task",
    "load_task_file",
    "register_builtin",
]

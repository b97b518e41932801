"""Tasks: examples + prompt + choices + target + metrics; YAML task files; registry."""

from fteval.tasks.options import TaskOptions
from fteval.tasks.registry import builtin_tasks, load_task, load_tasks, register_builtin
from fteval.tasks.task import GenerationSpec, Task
from fteval.tasks.yaml_task import load_task_file

__all__ = [
    "GenerationSpec",
    "Task",
    "TaskOptions",
    "builtin_tasks",
    "load_task",
    "load_task_file",
    "load_tasks",
    "register_builtin",
]

"""What a run asks of a task beyond its name: local data, shots, task settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fteval._util.options import Choices, Range, Rule
from fteval.tasks.selection import PerTask, candidate_names

# The ranges of task settings, by name: a name means the same in every task (built-ins'
# --task-option settings, lm-evaluation-harness generation_kwargs).
SETTING_RULES: dict[str, Rule] = {
    "max_new_tokens": Range(ge=1, le=32768),
    "n_samples": Range(ge=1, le=1000),
    "temperature": Range(ge=0, le=10),
    "top_p": Range(gt=0, le=1),
    "timeout_s": Range(gt=0, le=3600),
    "opponent": Choices(("reference", "base")),
}


@dataclass(frozen=True)
class TaskOptions:
    """Per-task choices of a run.

    Attributes:
        data: a local copy of a built-in task's data (``--data NAME=PATH``): the original
            release's format, a Parquet file or folder, or a ``save_to_disk`` folder.
            None loads the pinned Hugging Face Hub dataset.
        num_fewshot: overrides the tasks' default number of shots (``--num-fewshot``): one
            number for every task, or per task (``PerTask``: by name, group or glob).
        settings: the task's own settings (``--task-option NAME:KEY=VALUE``), e.g.
            HumanEval's ``n_samples`` and ``temperature``; an unknown key is an error.
        lmeval_include: folders of the user's own lm-evaluation-harness task YAMLs.
        asked_as: the name or file the task was asked for by (per-task values may use it).
    """

    data: str | None = None
    num_fewshot: int | PerTask | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    lmeval_include: tuple[str, ...] = ()
    asked_as: str = ""

    def shots_for(self, name: str, groups: Sequence[str] = ()) -> int | None:
        """The shots asked for task ``name`` (in ``groups``), or None for its default."""
        if self.num_fewshot is None or isinstance(self.num_fewshot, int):
            return self.num_fewshot
        return self.num_fewshot.value(candidate_names(name, groups, self.asked_as))

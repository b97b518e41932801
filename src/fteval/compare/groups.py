"""Task groups (MMLU's categories and the whole): micro and macro aggregates per arm.

A task's ``groups`` lists its groups, outermost first (``("mmlu", "mmlu_stem")``). For
each group and each per-item mean metric its member tasks share (``acc``), two rows
join the ordinary ``scores`` and ``comparisons``, so CIs, paired tests, the correction
family, verdicts and the gate treat a group like a task:

* ``<metric>_micro``: item-weighted, the mean over every item of every member task;
* ``<metric>_macro``: the unweighted mean over the group's member tasks (for MMLU's top
  group, over all 57 subjects, not over the four category means).

Both are functions of summed per-item rows, so the bootstrap and the paired permutation
test resample items as for any metric: a macro row holds, per item, its value and a 1
in its task's column (a resample without any item of a task leaves that task out of
the mean). ``task_groups`` records the tree: ``{"name", "parent", "level" ("group" at
the top, "category" below), "members", "aggregations": ["micro", "macro"]}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fteval.compare.rows import TaskGroupRow
from fteval.metrics import MeanMetric, Metric
from fteval.scoring import ArmStats, TaskInfo
from fteval.version import __version__

AGGREGATIONS = ("micro", "macro")


class GroupMicro(MeanMetric):
    """Item-weighted mean of a member metric over every item of a group's tasks."""

    name = "group_micro"

    def __init__(self, member: Metric, group: str, n_tasks: int) -> None:
        self.member = member
        self.group = group
        self.n_tasks = n_tasks
        self.binary_outcome = member.binary_outcome  # type: ignore[misc]
        self.scale = member.scale  # type: ignore[misc]
        self.unit = member.unit  # type: ignore[misc]
        self.higher_is_better = member.higher_is_better  # type: ignore[misc]

    @property
    def key(self) -> str:
        return f"{self.member.key}_micro"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise TypeError("group rows are built from member statistics, not from predictions")

    def signature(self) -> str:
        return (
            f"{self.key}|group:{self.group}|tasks:{self.n_tasks}|weight:items"
            f"|member:{self.member.signature()}|fteval:{__version__}"
        )


class GroupMacro(Metric):
    """Unweighted mean over a group's tasks of each task's mean of a member metric."""

    name = "group_macro"

    def __init__(self, member: Metric, group: str, n_tasks: int) -> None:
        self.member = member
        self.group = group
        self.n_tasks = n_tasks
        self.scale = member.scale  # type: ignore[misc]
        self.unit = member.unit  # type: ignore[misc]
        self.higher_is_better = member.higher_is_better  # type: ignore[misc]

    @property
    def key(self) -> str:
        return f"{self.member.key}_macro"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise TypeError("group rows are built from member statistics, not from predictions")

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        sums, counts = totals[..., : self.n_tasks], totals[..., self.n_tasks :]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
            present = (counts > 0).sum(axis=-1)
            total = np.where(counts > 0, means, 0.0).sum(axis=-1)
            return np.where(present > 0, total / np.where(present > 0, present, 1), np.nan)

    def signature(self) -> str:
        return (
            f"{self.key}|group:{self.group}|tasks:{self.n_tasks}|weight:tasks"
            f"|member:{self.member.signature()}|fteval:{__version__}"
        )


def group_members(tasks: Sequence[TaskInfo]) -> dict[str, list[str]]:
    """Group name -> its member (leaf) tasks, in task order."""
    members: dict[str, list[str]] = {}
    for task in tasks:
        for group in task.groups:
            members.setdefault(group, []).append(task.name)
    return members


def group_records(tasks: Sequence[TaskInfo]) -> list[TaskGroupRow]:
    """The ``task_groups`` section: each group's parent, level and direct members."""
    records: dict[str, dict[str, Any]] = {}
    for task in tasks:
        chain = list(task.groups)
        for depth, group in enumerate(chain):
            parent = chain[depth - 1] if depth else None
            record = records.setdefault(
                group,
                {
                    "name": group,
                    "parent": parent,
                    "level": "group" if parent is None else "category",
                    "members": [],
                },
            )
            child = chain[depth + 1] if depth + 1 < len(chain) else task.name
            if child not in record["members"]:
                record["members"].append(child)
    return [
        TaskGroupRow(**{**record, "members": tuple(record["members"])}, aggregations=AGGREGATIONS)
        for record in records.values()
    ]


def group_table(
    tasks: Sequence[TaskInfo], table: Mapping[tuple[str, str, str], ArmStats]
) -> dict[tuple[str, str, str], ArmStats]:
    """(group, arm, ``<metric>_micro`` / ``_macro``) -> ArmStats over the group's items."""
    out: dict[tuple[str, str, str], ArmStats] = {}
    for group, members in group_members(tasks).items():
        arms = _shared(table, members, lambda task, arm, key: arm)
        for arm in arms:
            keys = _shared(table, members, lambda task, a, key, arm=arm: key if a == arm else None)
            for key in keys:
                parts = [table[(task, arm, key)] for task in members]
                if not all(
                    isinstance(p.metric, MeanMetric) and p.stats.shape[1] == 1 for p in parts
                ):
                    continue
                out.update(_aggregate(group, arm, parts))
    return out


def _shared(table: Mapping, members: Sequence[str], pick: Any) -> list[str]:
    """Values of ``pick`` present for every member task, in first-seen order."""
    seen: dict[str, set[str]] = {}
    for task, arm, key in table:
        if task in members:
            value = pick(task, arm, key)
            if value is not None:
                seen.setdefault(value, set()).add(task)
    return [v for v, tasks in seen.items() if len(tasks) == len(members)]


def _aggregate(group: str, arm: str, parts: Sequence[ArmStats]) -> dict:
    member = parts[0].metric
    ids = tuple(f"{p.task}/{i}" for p in parts for i in p.example_ids)
    values = np.concatenate([p.stats[:, 0] for p in parts])
    micro = GroupMicro(member, group, len(parts))
    onehot = np.zeros((len(values), len(parts)))
    row = 0
    for column, part in enumerate(parts):
        onehot[row : row + len(part.stats), column] = 1.0
        row += len(part.stats)
    macro_stats = np.concatenate([onehot * values[:, None], onehot], axis=1)
    macro = GroupMacro(member, group, len(parts))
    return {
        (group, arm, micro.key): ArmStats(group, arm, micro, ids, values.reshape(-1, 1)),
        (group, arm, macro.key): ArmStats(group, arm, macro, ids, macro_stats),
    }

"""What every report section looks up: arms, styles, decimals, and the tasks' tree.

A run's tasks are read as *units*, in results order: a task that belongs to no group is a
unit of its own; a task group (MMLU) is one unit holding its categories and member tasks.
The report gives each unit one section and folds a group's members away (``<details>``),
so 57 MMLU subjects take one section, not 57.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.report.numbers import arm_kinds, decimals_for

Results = Mapping[str, Any]


class Context:
    """Lookups shared by the section builders: arms, styles, decimals, task groups."""

    def __init__(self, results: Results, manifest: Mapping[str, Any] | None) -> None:
        self.results = results
        self.manifest = manifest or {}
        self.arms = [a["name"] for a in results.get("arms", [])]
        for row in results.get("scores", []):
            if row["arm"] not in self.arms:
                self.arms.append(row["arm"])
        self.kinds = arm_kinds(results)
        self.style = {name: index for index, name in enumerate(self.arms)}
        self.scores = {(r["task"], r["arm"], r["metric"]): r for r in results.get("scores", [])}
        self.groups = {str(g["name"]): g for g in results.get("task_groups", [])}
        self._decimals: dict[tuple[str, str], int] = {}
        by_metric: dict[tuple[str, str], list[Any]] = {}
        scales: dict[tuple[str, str], Any] = {}
        for row in results.get("scores", []):
            key = (row["task"], row["metric"])
            by_metric.setdefault(key, []).append(row.get("value"))
            scales[key] = row.get("scale", 1.0)
        for key, values in by_metric.items():
            self._decimals[key] = decimals_for(values, scales[key])

    def unit_of(self, task: str, metric: str) -> str | None:
        """The metric's ``unit`` (``proportion``, ``points``, ``native``) from its scores."""
        for arm in self.arms:
            row = self.scores.get((task, arm, metric))
            if row is not None and row.get("unit"):
                return str(row["unit"])
        return None

    def decimals(self, task: str, metric: str, scale: Any) -> int:
        """Decimals of one metric of one task (one precision per scale and metric)."""
        return self._decimals.get((task, metric), decimals_for([], scale))

    def tasks(self) -> list[str]:
        """Task names in results order, then any name that only has score rows (groups)."""
        names = [t["name"] for t in self.results.get("tasks", [])]
        for row in self.results.get("scores", []):
            if row["task"] not in names:
                names.append(row["task"])
        return names

    def task_info(self, name: str) -> Mapping[str, Any]:
        """The task's record in ``results.tasks`` (empty for a group)."""
        return next((t for t in self.results.get("tasks", []) if t["name"] == name), {})

    def metrics_of(self, task: str) -> list[str]:
        """The metrics a task (or group) has scores for, in results order."""
        return list(dict.fromkeys(key[2] for key in self.scores if key[0] == task))

    def primary(self, task: str) -> str | None:
        """The metric a task's headline verdict is on: its ``primary_metric``; for a group,
        its members' primary metric's item-weighted (``_micro``) row; else the first metric."""
        metrics = self.metrics_of(task)
        chosen = self.task_info(task).get("primary_metric")
        if chosen and chosen in metrics:
            return str(chosen)
        if task in self.groups:
            for member in self.leaves(task):
                inner = self.task_info(member).get("primary_metric")
                if inner and f"{inner}_micro" in metrics:
                    return f"{inner}_micro"
        return metrics[0] if metrics else None

    # ---- the tasks' tree ----

    def top_of(self, name: str) -> str:
        """The unit a task or group belongs to: its outermost group, or itself."""
        groups = self.task_info(name).get("groups") or []
        if groups:
            return str(groups[0])
        seen = 0
        while name in self.groups and self.groups[name].get("parent") and seen < 32:
            name = str(self.groups[name]["parent"])
            seen += 1
        return name

    def is_group(self, name: str) -> bool:
        """Whether ``name`` is a task group (MMLU, one of its categories)."""
        return name in self.groups

    def children(self, group: str) -> list[str]:
        """A group's direct members (categories or tasks), in their recorded order."""
        return [str(m) for m in self.groups.get(group, {}).get("members", [])]

    def leaves(self, group: str) -> list[str]:
        """Every task under a group, at any depth, in order."""
        out: list[str] = []
        for child in self.children(group):
            out += self.leaves(child) if self.is_group(child) else [child]
        return out

    def subgroups(self, group: str) -> list[str]:
        """The group and every group under it, outermost first."""
        out = [group]
        for child in self.children(group):
            if self.is_group(child):
                out += self.subgroups(child)
        return out

    def units(self) -> list[str]:
        """The report's units in results order: ungrouped tasks and outermost groups."""
        return list(dict.fromkeys(self.top_of(name) for name in self.tasks()))

    def members(self, unit: str) -> set[str]:
        """Every name a unit covers: the task itself, or a group with its groups and tasks."""
        if not self.is_group(unit):
            return {unit}
        return {*self.subgroups(unit), *self.leaves(unit)}


def restrict(results: Results, names: Sequence[str] | set[str]) -> dict[str, Any]:
    """``results`` with every task-keyed section cut to the rows of the tasks ``names``.

    Sections whose rows have no ``task`` field (arms, training logs, cost) are kept whole.
    """
    keep = set(names)
    out: dict[str, Any] = {}
    for key, value in results.items():
        if isinstance(value, list) and any(isinstance(r, Mapping) and "task" in r for r in value):
            out[key] = [r for r in value if not isinstance(r, Mapping) or r.get("task") in keep]
        else:
            out[key] = value
    return out


def slug(text: str) -> str:
    """A string usable as an HTML id."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-") or "x"

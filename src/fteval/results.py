"""The typed results of a run: what ``fteval.evaluate`` returns and ``load_run`` reads.

``Results`` wraps the results object of docs/records.md (the JSON truth) in frozen,
typed rows — ``Score``, ``Comparison``, ``Advice``, ``Arm``, ``TaskRecord`` — for code
and type checkers, and keeps the whole object: ``to_dict()`` returns exactly what
results.json holds, sections the typed rows do not model included.

Values are in the metric's own units (accuracy in [0, 1]); multiply by ``scale`` to
display them. An undefined number (no interval, a test not run) is NaN here and ``null``
in the JSON.

>>> results = fteval.evaluate("gpt2", adapters={"lora": "./adapter"}, tasks=["t.yaml"])
>>> results.comparison("t", "acc", "lora").verdict
'improved'
>>> print(results.table())
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fteval.compare.sections import RESULTS_SECTIONS
from fteval.engine import StatsOptions
from fteval.records import SCHEMA_VERSION, dumps
from fteval.records.rows import (
    SCHEMA_DEFS,
    Advice,
    Arm,
    Comparison,
    Score,
    TaskRecord,
    json_schema,
)


@dataclass(frozen=True, eq=False)
class Results(Mapping[str, Any]):
    """The results of a run (docs/records.md), typed.

    Also a read-only mapping: ``results["comparisons"]`` is that section of the results
    object as JSON-ready dicts, and ``results["run_dir"]`` the run directory, as the plain
    dict fteval returned before; two ``Results`` are equal when those mappings are.

    Attributes:
        arms: the evaluated arms, base first.
        tasks: the tasks, in run order.
        scores: every task x arm x metric score.
        comparisons: every paired comparison (each non-base arm vs base, each adapter
            vs the full fine-tune).
        advice: adapter-vs-full advice.
        statistics: the statistical settings (confidence, alpha, correction and its
            scope, resamples, seed...).
        run_dir: the run directory, when the results were written to one.
    """

    arms: tuple[Arm, ...]
    tasks: tuple[TaskRecord, ...]
    scores: tuple[Score, ...]
    comparisons: tuple[Comparison, ...]
    advice: tuple[Advice, ...]
    statistics: Mapping[str, Any]
    run_dir: Path | None = None
    _data: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, run_dir: str | Path | None = None) -> Results:
        """Typed results from a results object (as results.json holds it)."""
        plain = json.loads(dumps({k: v for k, v in data.items() if k != "run_dir"}))
        return cls(
            arms=tuple(Arm.from_json(a) for a in plain.get("arms", [])),
            tasks=tuple(TaskRecord.from_json(t) for t in plain.get("tasks", [])),
            scores=tuple(Score.from_json(s) for s in plain.get("scores", [])),
            comparisons=tuple(_comparison(c) for c in plain.get("comparisons", [])),
            advice=tuple(_advice(a) for a in plain.get("advice", [])),
            statistics=dict(plain.get("statistics", {})),
            run_dir=Path(run_dir) if run_dir is not None else None,
            _data=plain,
        )

    def to_dict(self) -> dict[str, Any]:
        """The results object exactly as results.json holds it (a fresh copy)."""
        return json.loads(json.dumps(self._data))

    def headline(self) -> str:
        """The one-screen answer: per fine-tuned arm, each task's verdict with Δ [CI],
        guardrails, ranking, flags, truncation and cost (``report.headline``)."""
        from fteval.report import render_terminal

        return render_terminal(self.to_dict(), str(self.run_dir) if self.run_dir else None)

    def table(self) -> str:
        """The headline, then every table: per task, the verdicts, the results sections."""
        from fteval.report import render_terminal

        run_dir = str(self.run_dir) if self.run_dir else None
        return render_terminal(self.to_dict(), run_dir, details=True)

    def comparison(self, task: str, metric: str, arm: str, vs: str = "base") -> Comparison:
        """The comparison of ``arm`` with ``vs`` on ``task`` and ``metric``, any pair.

        Every pair of arms is compared once in a run (each arm vs base, every other pair
        in one direction); asked the other way round, the comparison is returned mirrored
        (``Comparison.mirrored``: delta and interval negated, the verdict turned).

        Args:
            task: task name.
            metric: metric key.
            arm: the arm under test.
            vs: the reference arm's name; ``"base"`` and ``"full"`` also name the arm
                of that kind.

        Raises:
            KeyError: no such comparison (the message lists the ones there are).
        """
        references = {vs, *(a.name for a in self.arms if a.kind == vs)}
        for row in self.comparisons:
            if (row.task, row.metric) != (task, metric):
                continue
            if row.arm == arm and row.reference_arm in references:
                return row
            if row.reference_arm == arm and row.arm in references:
                return row.mirrored()
        known = ", ".join(
            f"{c.task}/{c.metric}: {c.arm} vs {c.reference_arm}" for c in self.comparisons
        )
        raise KeyError(f"no comparison {task}/{metric}: {arm} vs {vs}; there are: {known}")

    def score(self, task: str, metric: str, arm: str) -> Score:
        """The score of ``arm`` on ``task`` and ``metric``.

        Raises:
            KeyError: no such score.
        """
        for row in self.scores:
            if (row.task, row.metric, row.arm) == (task, metric, arm):
                return row
        raise KeyError(f"no score {task}/{metric} for arm {arm!r}")

    def __getitem__(self, key: str) -> Any:
        """A section of the results object by name (``run_dir``: the run directory)."""
        if key == "run_dir" and self.run_dir is not None:
            return str(self.run_dir)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._data
        if self.run_dir is not None and "run_dir" not in self._data:
            yield "run_dir"

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _comparison(data: Mapping[str, Any]) -> Comparison:
    row = Comparison.from_json(data)
    if "significant" not in data:  # results written before the field existed
        row = dataclasses.replace(row, significant=row.verdict in ("improved", "regressed"))
    return row


def _advice(data: Mapping[str, Any]) -> Advice:
    if "gap" not in data and "gap_points" in data:  # results written before the field
        data = {**data, "gap": data["gap_points"], "gap_kind": "points"}
    return Advice.from_json(data)


REQUIRED_SECTIONS = ("schema_version", "arms", "tasks", "scores", "comparisons", "statistics")


def results_schema_document() -> dict[str, Any]:
    """The JSON Schema of results.json, generated from the typed rows.

    ``tools/write_schema.py`` writes it to docs/results.schema.json and the packaged
    copy that ``fteval check`` and every reader validate with; a test keeps the written
    files equal to this.
    """
    properties: dict[str, Any] = {"schema_version": {"const": SCHEMA_VERSION}}
    for name, row_type in RESULTS_SECTIONS.items():
        items = (
            {"$ref": f"#/$defs/{row_type.SCHEMA_DEF}"} if row_type.SCHEMA_DEF else None
        ) or json_schema(row_type)
        section: dict[str, Any] = {"type": "array", "items": items}
        if row_type.DESCRIPTION:
            section = {"description": row_type.DESCRIPTION, **section}
        properties[name] = section
    properties["statistics"] = json_schema(StatsOptions)
    properties["empty_predictions"] = {
        "description": "fteval score: empty or whitespace-only predictions per arm.",
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/count"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"fteval results.json (schema version {SCHEMA_VERSION})",
        "description": (
            "The record contract of results.json (docs/records.md), generated from fteval's "
            "typed rows. Sections and fields may be added (additional properties are "
            "allowed); the sections below are checked when present. Numbers that are NaN "
            "or infinite are written as null."
        ),
        "type": "object",
        "required": list(REQUIRED_SECTIONS),
        "$defs": {**SCHEMA_DEFS, "comparison": json_schema(Comparison)},
        "properties": properties,
    }

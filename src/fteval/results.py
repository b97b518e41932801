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
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fteval.records import dumps

_Row = TypeVar("_Row")


def _number(value: Any) -> float:
    """A JSON number as float; null (an undefined number) as NaN."""
    return math.nan if value is None else float(value)


def _row(cls: type[_Row], data: Mapping[str, Any]) -> _Row:
    """A frozen row from its JSON record: known fields only, floats NaN for null."""
    values = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        if spec.name not in data:
            continue
        value = data[spec.name]
        if spec.type in ("float", float):
            value = _number(value)
        elif str(spec.type).startswith("tuple[") and value is not None:
            value = tuple(value)
        values[spec.name] = value
    return cls(**values)


@dataclass(frozen=True)
class Arm:
    """One evaluated model variant.

    Attributes:
        name: ``base``, the adapter's name, ``full``, or a scored file's name.
        kind: ``base``, ``adapter``, ``full`` or ``model`` (see docs/records.md).
        group: its seed group (``lora`` for ``lora@seed1``).
        identity: what identifies its outputs (path, weight hashes, dtype, ...).
    """

    name: str
    kind: str
    group: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskRecord:
    """One task of the run.

    Attributes:
        name: the task's name.
        kind: ``multiple_choice``, ``generate``, ``perplexity``, ``scored`` or ``code``.
        metrics: the metric specs it was scored with.
        labels: the label set of a choice task (empty otherwise).
        n_examples: examples evaluated per arm.
        source: the task file or built-in it came from.
    """

    name: str
    kind: str
    metrics: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()
    n_examples: int = 0
    source: str = ""


@dataclass(frozen=True)
class Score:
    """One task x arm x metric score with its bootstrap interval.

    Attributes:
        task: task name.
        arm: arm name.
        metric: metric key (``acc``, ``f1_macro``, ``f1[billing]``, ``pass@1``...).
        value: the score in metric units (accuracy in [0, 1]).
        ci_low: lower end of the interval (NaN when none exists).
        ci_high: upper end of the interval (NaN when none exists).
        n: items scored.
        scale: multiply by this to display (100 for proportions).
        unit: ``proportion`` (shown as %), ``points`` (a 0-100 score) or ``native``.
        higher_is_better: the metric's direction.
        signature: how the number was computed.
    """

    task: str
    arm: str
    metric: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    scale: float = 1.0
    unit: str = "native"
    higher_is_better: bool = True
    signature: str = ""


@dataclass(frozen=True)
class Comparison:
    """One paired comparison: ``arm`` vs ``reference_arm`` on one task and metric.

    Attributes:
        task: task name.
        metric: metric key.
        arm: the arm under test.
        reference_arm: the arm it is compared with (the base, or the full fine-tune).
        reference_kind: ``base`` or ``full``.
        value: the arm's score (metric units).
        reference_value: the reference arm's score (metric units).
        delta: ``value - reference_value`` (metric units).
        ci_low: lower end of the paired-bootstrap interval of ``delta``.
        ci_high: upper end of that interval.
        p_value: the raw p-value of ``test``.
        p_adjusted: the p-value after correction within ``correction_family``.
        test: ``mcnemar_exact`` or ``paired_permutation``.
        significant: the one significance decision (``stats.significant``): adjusted
            p below alpha and an interval that excludes 0.
        verdict: ``improved``, ``regressed``, ``no significant difference`` or
            ``insufficient data``.
        reason: why, in words (quotes the minimum detectable effect when nothing is found).
        mde: minimum detectable effect (metric units) at level ``mde_alpha``.
        mde_alpha: the level the correction compared this comparison's p-value with.
        correction_family: which comparisons were corrected together.
        family_size: distinct tests in that family.
        non_inferiority: shown (True), not shown (False), or no margin set (None).
        non_inferiority_margin: the margin in metric units, or None.
        n: items compared.
        scale: multiply by this to display.
        unit: ``proportion``, ``points`` or ``native``.
        higher_is_better: the metric's direction.
        signature: how the numbers were computed.
    """

    task: str
    metric: str
    arm: str
    reference_arm: str
    reference_kind: str = "base"
    value: float = math.nan
    reference_value: float = math.nan
    delta: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float = math.nan
    p_adjusted: float = math.nan
    test: str = ""
    significant: bool = False
    verdict: str = ""
    reason: str = ""
    mde: float = math.nan
    mde_alpha: float = math.nan
    correction_family: str = ""
    family_size: int = 0
    non_inferiority: bool | None = None
    non_inferiority_margin: float | None = None
    n: int = 0
    scale: float = 1.0
    unit: str = "native"
    higher_is_better: bool = True
    signature: str = ""


@dataclass(frozen=True)
class Advice:
    """Advice where an adapter trails the full fine-tune by more than the threshold.

    Attributes:
        task: task name.
        metric: metric key.
        arm: the adapter.
        reference_arm: the full fine-tune.
        gap: how far it trails: points (``gap_kind == "points"``) or percent of the
            full fine-tune's value (``"relative"``); negative.
        gap_kind: ``points`` or ``relative``.
        significant: whether the gap is significant after correction.
        message: the advice in words.
    """

    task: str
    metric: str
    arm: str
    reference_arm: str = "full"
    gap: float = math.nan
    gap_kind: str = "points"
    significant: bool = False
    message: str = ""


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
            arms=tuple(_row(Arm, a) for a in plain.get("arms", [])),
            tasks=tuple(_row(TaskRecord, t) for t in plain.get("tasks", [])),
            scores=tuple(_row(Score, s) for s in plain.get("scores", [])),
            comparisons=tuple(_comparison(c) for c in plain.get("comparisons", [])),
            advice=tuple(_advice(a) for a in plain.get("advice", [])),
            statistics=dict(plain.get("statistics", {})),
            run_dir=Path(run_dir) if run_dir is not None else None,
            _data=plain,
        )

    def to_dict(self) -> dict[str, Any]:
        """The results object exactly as results.json holds it (a fresh copy)."""
        return json.loads(json.dumps(self._data))

    def table(self) -> str:
        """The terminal summary: per-task tables, verdicts, advice."""
        from fteval.report import render_terminal

        return render_terminal(self.to_dict(), str(self.run_dir) if self.run_dir else None)

    def comparison(self, task: str, metric: str, arm: str, vs: str = "base") -> Comparison:
        """The comparison of ``arm`` with ``vs`` on ``task`` and ``metric``.

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
            if (row.task, row.metric, row.arm) == (task, metric, arm) and (
                row.reference_arm in references
            ):
                return row
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
    row = _row(Comparison, data)
    if "significant" not in data:  # results written before the field existed
        row = dataclasses.replace(row, significant=row.verdict in ("improved", "regressed"))
    return row


def _advice(data: Mapping[str, Any]) -> Advice:
    if "gap" not in data and "gap_points" in data:  # results written before the field
        data = {**data, "gap": data["gap_points"], "gap_kind": "points"}
    return _row(Advice, data)

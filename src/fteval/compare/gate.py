"""The CI gate: turn a results object into pass/fail for a pipeline.

``--fail-on regression`` (the default of ``fteval check``; ``fteval run`` gates only when
asked) fails when a comparison against the base arm is ``regressed`` (significant after
multiple-comparison correction, ``stats.significant``). Where a non-inferiority margin
was set for the comparison, the margin decides instead: a loss within the margin is
tolerated, a loss the interval does not bound within it fails. A comparison that could
not be decided ("insufficient data": too few items, an undefined value) cannot regress:
where a decision was asked for it — a guardrail, or a margin — the gate says so in a
line of its own (``undecided``), and ``--fail-on inconclusive`` fails on it, as on every
comparison against the base arm that could not be decided. A deployment form that
loses parity with the arm it derives from (docs/deployment.md) fails it too.

``--require TASK[/METRIC][@ARM]=WANT`` fails unless every matching comparison (vs the
base arm) meets WANT: ``improved``, ``no-regression`` (anything but regressed) or
``non-inferior`` (the interval rules out a loss larger than the margin). Without
``/METRIC`` it applies to every metric of the task; without ``@ARM`` to every non-base
arm. A requirement that matches no comparison (a misspelt task, metric or arm) is a usage
error, as is ``non-inferior`` where no margin was set.

Each failing comparison is explained in one line. Exit codes (see cli): 0 passed, 3 the
gate failed, 2 bad input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval import stats
from fteval.compare.three_way import reference_arm
from fteval.errors import ConfigError

WANTS = ("improved", "no-regression", "non-inferior")
FAIL_ON = ("regression", "inconclusive", "none")
DEFAULT_FAIL_ON = "regression"


@dataclass(frozen=True)
class Requirement:
    """One ``--require``: which comparisons, and what they must show."""

    text: str
    task: str
    metric: str | None
    arm: str | None
    want: str

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse ``TASK[/METRIC][@ARM]=WANT``.

        Raises:
            ConfigError: the syntax is wrong or WANT is not one of ``WANTS``.
        """
        selector, sep, want = text.partition("=")
        if not sep or want not in WANTS:
            raise ConfigError(f"--require {text!r}: expected TASK[/METRIC][@ARM]=one of {WANTS}")
        selector, _, arm = selector.partition("@")
        task, _, metric = selector.partition("/")
        if not task:
            raise ConfigError(f"--require {text!r}: no task named")
        return cls(text, task, metric or None, arm or None, want)

    def check_before_run(self, arms: Sequence[str], margins: Mapping[str, float]) -> None:
        """Refuse, before any model loads, what a run's config already shows cannot match.

        Args:
            arms: the run's non-base arm names.
            margins: the run's non-inferiority margins (``TASK`` or ``TASK/METRIC`` keys).

        Raises:
            ConfigError: the arm is not one of ``arms``, or ``non-inferior`` is wanted
                where no margin covers the task (and metric).
        """
        if self.arm is not None and self.arm not in arms:
            raise ConfigError(
                f"--require {self.text}: no arm {self.arm!r} is compared with the base "
                f"(arms: {', '.join(arms) or 'none'})"
            )
        if self.want == "non-inferior":
            keys = {self.task, f"{self.task}/{self.metric}"}
            covered = any(
                k in keys or (self.metric is None and k.startswith(f"{self.task}/"))
                for k in margins
            )
            if not covered:
                raise ConfigError(
                    f"--require {self.text}: no non-inferiority margin covers it; set one "
                    f"with --non-inferiority {self.task}[/METRIC]=POINTS"
                )

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether a comparison row is one this requirement is about."""
        return (
            row["task"] == self.task
            and (self.metric is None or row["metric"] == self.metric)
            and (self.arm is None or row["arm"] == self.arm)
        )


def against_reference(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The comparison rows of each non-base arm against the base arm."""
    base = reference_arm(results["arms"])
    return [c for c in results["comparisons"] if c["reference_arm"] == base]


def lost_parity(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The parity comparisons of deployment forms whose margin was not shown (``held``
    false in the ``deployment`` section)."""
    return [row["parity"] for row in results.get("deployment") or [] if row.get("held") is False]


def check(
    results: Mapping[str, Any], *, fail_on: str = DEFAULT_FAIL_ON, require: Sequence[str] = ()
) -> list[str]:
    """Reasons the gate fails (empty: it passes), one line per failing comparison.

    Raises:
        ConfigError: ``fail_on`` is unknown, a requirement is malformed, matches no
            comparison, or asks for non-inferiority where no margin was set.
    """
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {FAIL_ON}, got {fail_on!r}")
    rows = against_reference(results)
    requirements = [Requirement.parse(text) for text in require]
    reasons: dict[str, dict[str, list[str]]] = {}  # comparison -> reason -> requirements
    if fail_on in ("regression", "inconclusive"):
        for row in rows:
            problem = _regression(row)
            if problem is None and fail_on == "inconclusive" and _undecided(row):
                problem = f"inconclusive: {row.get('reason') or 'insufficient data'}"
            if problem:
                reasons.setdefault(_name(row), {}).setdefault(problem, [])
        for parity in lost_parity(results):
            problem = f"deployment parity lost: {_non_inferiority_not_shown(parity)}"
            reasons.setdefault(_name(parity), {}).setdefault(problem, [])
    for requirement in requirements:
        matched = [row for row in rows if requirement.matches(row)]
        if not matched:
            raise ConfigError(_no_match(requirement, rows))
        for row in matched:
            problem = _unmet(row, requirement)
            if problem:
                asked = reasons.setdefault(_name(row), {}).setdefault(problem, [])
                asked.append(f"--require {requirement.text}")
    return [f"{name}: {_explain(why)}" for name, why in reasons.items()]


def undecided(results: Mapping[str, Any]) -> list[str]:
    """The comparisons a decision was asked for that could not be decided, one line each.

    A guardrail task's comparisons, and those with a non-inferiority margin, whose
    verdict is "insufficient data": ``--fail-on regression`` passes them (they cannot be
    shown to regress), so the gate names them rather than passing in silence.
    """
    guardrails = {t.get("name") for t in results.get("tasks", []) if t.get("role") == "guardrail"}
    margins = _margined(results)
    lines = []
    for row in against_reference(results):
        asked = row["task"] in guardrails or (row["task"], row["metric"]) in margins
        if asked and _undecided(row):
            what = "guardrail " if row["task"] in guardrails else ""
            lines.append(
                f"{what}{_name(row)}: not decided ({row.get('reason') or 'insufficient data'}); "
                "--fail-on regression passes it, --fail-on inconclusive fails on it"
            )
    return lines


def _undecided(row: Mapping[str, Any]) -> bool:
    return row.get("verdict") == stats.INSUFFICIENT_DATA


def _margined(results: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(task, metric) pairs a non-inferiority margin was set for."""
    options = results.get("statistics") or {}
    margins = options.get("non_inferiority") if isinstance(options, Mapping) else None
    out = set()
    for key in margins if isinstance(margins, Mapping) else ():
        task, _, metric = str(key).partition("/")
        for row in results.get("comparisons", []):
            if row.get("task") == task and (not metric or row.get("metric") == metric):
                out.add((task, str(row.get("metric"))))
    return out


def _explain(why: Mapping[str, Sequence[str]]) -> str:
    """A comparison's reasons in one line, each with the requirements that asked for it."""
    parts = []
    for problem, asked in why.items():
        parts.append(f"{problem} ({', '.join(asked)})" if asked else problem)
    return "; ".join(parts)


def _regression(row: Mapping[str, Any]) -> str | None:
    """Why a row fails ``--fail-on regression`` (None: it passes)."""
    if row.get("non_inferiority") is not None:
        return None if row["non_inferiority"] else _non_inferiority_not_shown(row)
    if row["verdict"] == "regressed":
        return f"regressed (Δ {_points(row, row['delta'])}, {_p(row)})"
    return None


def _unmet(row: Mapping[str, Any], requirement: Requirement) -> str | None:
    """Why a row does not meet a requirement (None: it does)."""
    if requirement.want == "improved":
        return None if row["verdict"] == "improved" else f"not improved: {row['verdict']}"
    if requirement.want == "no-regression":
        return (
            None
            if row["verdict"] != "regressed"
            else f"regressed (Δ {_points(row, row['delta'])}, {_p(row)})"
        )
    if row.get("non_inferiority") is None:
        raise ConfigError(
            f"--require {requirement.text}: no non-inferiority margin was set for "
            f"{row['task']}/{row['metric']}; set one with --non-inferiority "
            f"{row['task']}[/{row['metric']}]=POINTS (fteval run, or fteval check on the "
            "saved results)"
        )
    return None if row["non_inferiority"] else _non_inferiority_not_shown(row)


def _non_inferiority_not_shown(row: Mapping[str, Any]) -> str:
    """Which interval end fails which margin, in display units."""
    margin = row.get("non_inferiority_margin")
    size = _points(row, margin, signed=False) if margin is not None else "the margin"
    if row["higher_is_better"]:
        end = f"the CI's low end {_points(row, row['ci_low'])} is at or below -{size}"
    else:
        end = f"the CI's high end {_points(row, row['ci_high'])} is at or above +{size}"
    return f"non-inferiority within {size} not shown: {end}"


def _no_match(requirement: Requirement, rows: Sequence[Mapping[str, Any]]) -> str:
    tasks = sorted({r["task"] for r in rows})
    metrics = sorted({r["metric"] for r in rows if r["task"] == requirement.task}) or sorted(
        {r["metric"] for r in rows}
    )
    arms = sorted({r["arm"] for r in rows})
    return (
        f"--require {requirement.text}: matches no comparison against the base arm; "
        f"tasks: {', '.join(tasks) or 'none'}; metrics: {', '.join(metrics) or 'none'}; "
        f"arms: {', '.join(arms) or 'none'}"
    )


def _points(row: Mapping[str, Any], value: float | None, *, signed: bool = True) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "unknown"  # null in a results.json: the delta was undefined
    shown = value * row["scale"]
    text = f"{shown:+.2f}" if signed else f"{shown:.2f}"
    return f"{text} pts" if row["scale"] == 100 else text


def _p(row: Mapping[str, Any]) -> str:
    p = row.get("p_adjusted")
    return f"adjusted p {p:.2g}" if isinstance(p, (int, float)) else "adjusted p unknown"


def _name(row: Mapping[str, Any]) -> str:
    return f"{row['task']}/{row['metric']}@{row['arm']} vs {row['reference_arm']}"


def with_margins(results: Mapping[str, Any], margins: Mapping[str, float]) -> dict[str, Any]:
    """``results`` with non-inferiority judged at ``margins`` (``fteval check``).

    Args:
        results: a results object (not changed).
        margins: ``TASK`` or ``TASK/METRIC`` -> the largest tolerated loss vs base, in
            display units (points), as ``--non-inferiority`` takes them.

    Returns:
        A copy whose comparisons vs base on those tasks carry ``non_inferiority`` and
        ``non_inferiority_margin`` (metric units) from their intervals: shown when the
        interval rules out a loss larger than the margin. ``insufficient data`` rows get
        None, as in a run.

    Raises:
        ConfigError: a margin names no task of the results.
    """
    tasks = {row["task"] for row in results.get("comparisons", [])}
    unknown = [key for key in margins if key.split("/")[0] not in tasks]
    if unknown:
        raise ConfigError(
            f"--non-inferiority {unknown[0]!r}: no such task in the results "
            f"(tasks: {sorted(tasks)})"
        )
    out = dict(results)
    rows = []
    for row in results.get("comparisons", []):
        margin = margins.get(f"{row['task']}/{row['metric']}", margins.get(row["task"]))
        if margin is None or row.get("reference_kind", "base") != "base":
            rows.append(row)
            continue
        scale = float(row.get("scale") or 1.0)
        shown = None
        if row.get("verdict") != "insufficient data":
            shown = stats.non_inferior(
                _number(row.get("ci_low")), _number(row.get("ci_high")), margin / scale,
                higher_is_better=bool(row.get("higher_is_better", True)),
            )  # fmt: skip
        rows.append({**row, "non_inferiority": shown, "non_inferiority_margin": margin / scale})
    out["comparisons"] = rows
    return out


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")

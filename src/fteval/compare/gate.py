"""The CI gate: turn a results object into pass/fail for a pipeline.

``--fail-on regression`` fails when any comparison against the reference arm is judged
``regressed`` (after multiple-comparison correction), or when a non-inferiority margin
was set for a task and non-inferiority is not shown. ``--require TASK[/METRIC][@ARM]=WANT``
fails unless the named comparisons (vs the reference arm) meet WANT:
``improved``, ``no-regression`` (anything but regressed) or ``non-inferior``.

Exit codes (see cli.py): 0 passed, 3 the gate failed, 2 bad input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.errors import ConfigError

WANTS = ("improved", "no-regression", "non-inferior")
FAIL_ON = ("regression", "none")


@dataclass(frozen=True)
class Requirement:
    """One ``--require``: which comparisons, and what they must show."""

    task: str
    metric: str | None
    arm: str | None
    want: str

    @classmethod
    def parse(cls, text: str) -> Requirement:
        selector, sep, want = text.partition("=")
        if not sep or want not in WANTS:
            raise ConfigError(f"--require {text!r}: expected TASK[/METRIC][@ARM]=one of {WANTS}")
        selector, _, arm = selector.partition("@")
        task, _, metric = selector.partition("/")
        if not task:
            raise ConfigError(f"--require {text!r}: no task named")
        return cls(task, metric or None, arm or None, want)

    def matches(self, row: Mapping[str, Any]) -> bool:
        return (
            row["task"] == self.task
            and (self.metric is None or row["metric"] == self.metric)
            and (self.arm is None or row["arm"] == self.arm)
        )


def _against_reference(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    base = next((a["name"] for a in results["arms"] if a["kind"] == "base"), None)
    return [c for c in results["comparisons"] if c["reference_arm"] == base]


def check(
    results: Mapping[str, Any], *, fail_on: str = "regression", require: Sequence[str] = ()
) -> list[str]:
    """Reasons the gate fails (empty: it passes)."""
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {FAIL_ON}, got {fail_on!r}")
    rows = _against_reference(results)
    failures = []
    if fail_on == "regression":
        for row in rows:
            if row["verdict"] == "regressed":
                failures.append(f"{_name(row)} regressed (Δ {_points(row)})")
            if row.get("non_inferiority") is False:
                failures.append(f"{_name(row)}: non-inferiority within the margin not shown")
    for text in require:
        requirement = Requirement.parse(text)
        matched = [row for row in rows if requirement.matches(row)]
        if not matched:
            failures.append(f"--require {text}: no comparison matches")
        for row in matched:
            if not _meets(row, requirement.want):
                failures.append(f"--require {text}: {_name(row)} is {row['verdict']}")
    return failures


def _meets(row: Mapping[str, Any], want: str) -> bool:
    if want == "improved":
        return row["verdict"] == "improved"
    if want == "no-regression":
        return row["verdict"] != "regressed"
    return row.get("non_inferiority") is True


def _points(row: Mapping[str, Any]) -> str:
    delta = row.get("delta")
    return f"{delta * row['scale']:+.2f}" if isinstance(delta, (int, float)) else "unknown"


def _name(row: Mapping[str, Any]) -> str:
    return f"{row['task']}/{row['metric']}@{row['arm']} vs {row['reference_arm']}"

"""The ``deployment`` section: does each deployment form score like the arm it derives from?

A form arm (kind ``form``: merged, quantized, served; docs/deployment.md) is compared with
its source arm on the same items by the engine (``engine.compare``), for every task and
metric both have, with a non-inferiority margin: ``parity_margin`` points (1 by default),
divided by the metric's display scale into metric units (1 point of accuracy is 0.01; a
metric in native units, perplexity say, takes the margin in its own units). The
comparisons form their own family per task and pair (``task T: lora→lora-int8
(deployment)``) and are decided with every other comparison of the run
(``engine.adjust``).

**Parity** is held when the interval of ``form - source`` lies above minus the margin
(below plus the margin for a lower-is-better metric): the non-inferiority the verdict
reports. It is lost when the interval reaches past the margin: either the form is worse by
more than the margin, or the items cannot show it is not. Too few items give no parity
decision (None).

Each row also carries the form's and its source's memory (the serving model's parameters
and buffers, from ``manifest.arms[].cost``), so what a form saves reads beside what it
loses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fteval import engine
from fteval.engine import StatsOptions
from fteval.records.rows import Comparison, Row, meta
from fteval.scoring import ArmStats

PARITY_MARGIN_POINTS = 1.0
SECTION = "deployment"


@dataclass(frozen=True)
class DeploymentRow(Row):
    """One form x task x metric: the form vs the arm it derives from.

    Attributes:
        task: task name.
        arm: the form arm.
        form: its form (``merged``, ``merged-int8``, ``openai:MODEL@URL``...).
        source_arm: the arm it derives from.
        metric: metric key.
        value: the form's score on the paired items (metric units).
        source_value: the source's score on the same items (metric units).
        scale: multiply by this to display (100 for proportions).
        parity: the paired comparison ``form - source`` with the parity margin.
        held: parity held (True), lost (False), or undecided (None: too few items).
        memory_bytes: the form's serving model in memory (None when not measured).
        source_memory_bytes: the source's (None when not measured).
    """

    DESCRIPTION: ClassVar[str] = (
        "One row per deployment form x task x metric: the form vs the arm it derives from."
    )

    task: str = field(metadata=meta(schema="name"))
    arm: str = field(metadata=meta(schema="name"))
    form: str = field(metadata=meta(schema="name"))
    source_arm: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    value: float = field(metadata=meta(required=True))
    source_value: float = field(metadata=meta(required=True))
    scale: float = field(metadata=meta(schema="positive", required=True))
    parity: Comparison
    held: bool | None = field(
        default=None,
        metadata=meta(doc="parity held (the non-inferiority margin shown) or lost; null: "
                      "too few items", required=True),
    )  # fmt: skip
    memory_bytes: int | None = None
    source_memory_bytes: int | None = None

    def after_decision(self) -> DeploymentRow:
        """``held`` from the decided comparison's non-inferiority."""
        return dataclasses.replace(self, held=self.parity.non_inferiority)


def form_arms(arms: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The form arms whose source arm is in the run."""
    names = {a["name"] for a in arms}
    return [a for a in arms if a.get("kind") == "form" and a.get("source_arm") in names]


def parity_margin(config: Mapping[str, Any] | None) -> float:
    """The run's parity margin in points (``parity_margin``; 1 by default)."""
    return float((config or {}).get("parity_margin", PARITY_MARGIN_POINTS))


def deployment_rows(
    table: Mapping[tuple[str, str, str], ArmStats],
    arms: Sequence[Mapping[str, Any]],
    options: StatsOptions,
    margin_points: float = PARITY_MARGIN_POINTS,
) -> list[DeploymentRow]:
    """Every form vs its source on every task and metric both have, unadjusted.

    Args:
        table: (task, arm, metric) -> per-item statistics.
        arms: the run's arm records (``form`` and ``source_arm`` on form arms, ``cost``
            where measured).
        options: the run's statistical settings.
        margin_points: the parity margin in display units (points).
    """
    kinds = {a["name"]: a.get("kind", "") for a in arms}
    memory = {a["name"]: (a.get("cost") or {}).get("memory_footprint_bytes") for a in arms}
    rows = []
    for form in form_arms(arms):
        name, source = form["name"], str(form["source_arm"])
        for task, arm, metric in table:
            if arm != name or (task, source, metric) not in table:
                continue
            parity = engine.compare(
                table[(task, name, metric)], table[(task, source, metric)], options,
                task=task, arm=name, reference_arm=source, reference_kind=kinds[source],
                section=SECTION,
            )  # fmt: skip
            margin = margin_points / parity.scale
            rows.append(
                DeploymentRow(
                    task=task,
                    arm=name,
                    form=str(form.get("form", "")),
                    source_arm=source,
                    metric=metric,
                    value=parity.value,
                    source_value=parity.reference_value,
                    scale=parity.scale,
                    parity=dataclasses.replace(parity, non_inferiority_margin=margin),
                    memory_bytes=memory.get(name),
                    source_memory_bytes=memory.get(source),
                )
            )
    return rows

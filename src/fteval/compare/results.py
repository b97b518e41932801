"""Assemble results.json from samples and the manifest (the record contract).

Pure with respect to models: re-running ``build_results`` on a saved run directory
reproduces its results.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fteval import engine
from fteval.compare.cost import cost_rows
from fteval.compare.deployment import deployment_rows, parity_margin
from fteval.compare.groups import group_records, group_table
from fteval.compare.judged import judged_table
from fteval.compare.rows import ClassificationRow, GenerationRow, SeedGroupRow
from fteval.compare.three_way import advice, comparison_rows, reference_arm, score_rows
from fteval.compare.truncation import truncation_rows, withhold_verdicts
from fteval.engine import StatsOptions
from fteval.metrics.classification import F1, Precision, Recall
from fteval.records import SCHEMA_VERSION, SampleResult, is_empty_prediction
from fteval.records.rows import Row, comparisons_in, with_decided
from fteval.robustness import build_sections
from fteval.scoring import ArmStats, TaskInfo, arm_stats
from fteval.stats import spread_exceeds_effect, summarize_seeds

IMBALANCE_RATIO = 3.0  # largest / smallest class count above which F1 is shown beside acc
GUARDRAIL_MARGIN_POINTS = 1.0  # default non-inferiority margin of a guardrail task


def build_results(
    arms: Sequence[Mapping[str, Any]],
    tasks: Sequence[TaskInfo],
    samples: Sequence[SampleResult],
    options: StatsOptions,
    judgments: Sequence[Mapping[str, Any]] = (),
    *,
    manifest: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results object: arms, scores with CIs, comparisons, classification reports,
    the robustness sections and deployment parity (built from samples and
    ``manifest``'s config).

    Every comparison of every section is decided in one correction step
    (``engine.adjust``), so the correction scope means the same everywhere.
    ``judgments`` are the run's saved judge verdicts (judged tasks; ``compare.judged``).
    """
    table: dict[tuple[str, str, str], ArmStats] = {}
    for task in tasks:
        for (arm, key), item in arm_stats(task, samples).items():
            table[(task.name, arm, key)] = item
    table.update(group_table(tasks, table))  # MMLU-style groups join as ordinary rows
    judged, judge_rows = judged_table(tasks, samples, judgments)
    table.update(judged)
    config = (manifest or {}).get("config")
    options = with_guardrail_margins(options, tasks, config)
    measured = comparison_rows(table, arms, options)
    drafts: dict[str, list[Row]] = {
        **build_sections(arms, tasks, samples, options, table, measured, manifest),
        "deployment": list(deployment_rows(table, arms, options, parity_margin(config))),
    }
    pending = measured + [
        c for rows in drafts.values() for row in rows for c in comparisons_in(row)
    ]
    decided = {row.key(): row for row in engine.adjust(pending, options, unit_of=unit_namer(tasks))}
    cuts = truncation_rows(tasks, samples)
    decided = withhold_verdicts(decided, cuts)
    comparisons = [with_decided(row, decided) for row in measured]
    sections = {
        name: [with_decided(row, decided).to_json() for row in rows]
        for name, rows in drafts.items()
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "arms": [{k: v for k, v in a.items() if k != "cost"} for a in arms],  # cost: below
        "tasks": [t.to_json() for t in tasks],
        "scores": [row.to_json() for row in score_rows(table, options)],
        "comparisons": [row.to_json() for row in comparisons],
        "advice": [row.to_json() for row in advice(comparisons, tasks)],
        "classification": _json(classification_reports(tasks, samples)),
        "seed_groups": _json(seed_group_rows(arms, table)),
        "generation": _json(generation_summary(tasks, samples)),
        "task_groups": _json(group_records(tasks)),
        "truncation": _json(cuts),
        "judge": _json(judge_rows),
        **sections,
        "cost": _json(cost_rows(arms)),
        "statistics": options.to_json(),
    }


def _json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [row.to_json() for row in rows]


def unit_namer(tasks: Sequence[TaskInfo]) -> engine.family.UnitOf:
    """Task or group name -> its family unit under the ``task`` scope.

    A task group counts as one task: the top group's own rows (``mmlu``) are one unit,
    every row below it (its categories and subjects) another (``mmlu members``).
    """
    top: dict[str, str] = {}
    for task in tasks:
        if task.groups:
            outermost = task.groups[0]
            top[task.name] = f"{outermost} members"
            for inner in task.groups[1:]:
                top[inner] = f"{outermost} members"
            top.setdefault(outermost, outermost)

    def unit_of(name: str) -> str:
        return top.get(name, name)

    return unit_of


def with_guardrail_margins(
    options: StatsOptions, tasks: Sequence[TaskInfo], config: Mapping[str, Any] | None
) -> StatsOptions:
    """Guardrail tasks (and their groups) get the default non-inferiority margin.

    The margin is ``guardrail_margin`` points (1 by default) unless one was set for them.
    """
    guardrails = [t for t in tasks if t.role == "guardrail"]
    if not guardrails:
        return options
    margin = float((config or {}).get("guardrail_margin", GUARDRAIL_MARGIN_POINTS))
    names = {t.name for t in guardrails} | {g for t in guardrails for g in t.groups}
    margins = dict.fromkeys(sorted(names), margin)
    return dataclasses.replace(options, non_inferiority={**margins, **options.non_inferiority})


def generation_summary(
    tasks: Sequence[TaskInfo], samples: Sequence[SampleResult]
) -> list[GenerationRow]:
    """Per generation task x arm: empty outputs, generated tokens, finish reasons.

    An output is empty (``records.is_empty_prediction``) when it is "" or whitespace only
    after stop-string trimming.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    kinds = {t.name: t.kind for t in tasks}
    for sample in samples:
        if kinds.get(sample.task) != "generate":
            continue
        row = rows.setdefault(
            (sample.task, sample.arm),
            {"task": sample.task, "arm": sample.arm, "n": 0, "empty_predictions": 0,
             "generated_tokens": 0, "finish_reasons": {}},
        )  # fmt: skip
        row["n"] += 1
        row["empty_predictions"] += is_empty_prediction(sample.prediction)
        row["generated_tokens"] += sum(sample.meta.get("generated_tokens", []))
        for reason in sample.meta.get("finish_reasons", []):
            row["finish_reasons"][reason] = row["finish_reasons"].get(reason, 0) + 1
    return [GenerationRow(**row) for row in rows.values()]


def seed_group_rows(
    arms: Sequence[Mapping[str, Any]], table: Mapping[tuple[str, str, str], ArmStats]
) -> list[SeedGroupRow]:
    """Adapters trained with several seeds (``lora@seed1``, ``lora@seed2``) as one arm.

    Per group, task and metric: the per-seed scores, their mean and sample std, the mean
    delta vs the reference arm, and whether the seed spread (std) is at least as large as
    that delta — then retraining alone moves the score as much as the effect.
    """
    groups: dict[str, list[str]] = {}
    for arm in arms:
        if arm["kind"] == "adapter":
            groups.setdefault(arm.get("group", arm["name"]), []).append(arm["name"])
    base = reference_arm(arms)
    rows = []
    for group, members in groups.items():
        if len(members) < 2:
            continue
        for task, metric in dict.fromkeys((t, k) for t, a, k in table if a == members[0]):
            values = [table[(task, m, metric)].value for m in members if (task, m, metric) in table]
            if len(values) < 2 or not all(np.isfinite(values)):
                continue
            summary = summarize_seeds(np.array(values))
            reference = table.get((task, base, metric)) if base else None
            delta = summary.mean - reference.value if reference is not None else float("nan")
            scale = table[(task, members[0], metric)].metric.scale
            rows.append(
                SeedGroupRow(
                    group=group,
                    task=task,
                    metric=metric,
                    arms=tuple(members),
                    seed_values=tuple(values),
                    mean=summary.mean,
                    std=summary.std,
                    n_seeds=summary.n_seeds,
                    mean_delta_vs_reference=delta,
                    spread_exceeds_effect=(
                        bool(spread_exceeds_effect(np.array(values), delta))
                        if np.isfinite(delta)
                        else None
                    ),
                    scale=scale,
                )
            )
    return rows


def classification_reports(
    tasks: Sequence[TaskInfo], samples: Sequence[SampleResult]
) -> list[ClassificationRow]:
    """Per choice task x arm: class distribution, confusion matrix, per-class P/R/F1."""
    reports = []
    for task in tasks:
        if task.kind != "multiple_choice" or not task.labels:
            continue
        metric = F1(labels=task.labels)
        for (arm, _), item in arm_stats(task, samples, [metric]).items():
            matrix = metric.confusion(item.stats)
            support = matrix.sum(axis=1)
            counts = {label: int(c) for label, c in zip(task.labels, support)}
            present = [c for c in counts.values() if c > 0]
            ratio = max(present) / min(present) if present else float("nan")
            reports.append(
                ClassificationRow(
                    task=task.name,
                    arm=arm,
                    labels=tuple(task.labels),
                    class_counts=counts,
                    imbalance_ratio=ratio,
                    imbalanced=bool(ratio >= IMBALANCE_RATIO),
                    confusion_matrix=tuple(
                        tuple(row) for row in matrix[:, : len(task.labels)].astype(int).tolist()
                    ),
                    predicted_outside_labels=tuple(matrix[:, -1].astype(int).tolist()),
                    per_class=_per_class(task.labels, item.stats),
                )
            )
    return reports


def _per_class(labels: Sequence[str], stats: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    totals = stats.sum(axis=0)
    for label in labels:
        out[label] = {
            kind: float(
                cls(labels=labels, average=None, label=label).from_totals(totals, len(stats))
            )
            for kind, cls in (("precision", Precision), ("recall", Recall), ("f1", F1))
        }
    return out

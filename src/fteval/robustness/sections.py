"""Build what the clean score hides from samples and the manifest alone.

``build_sections`` returns the typed rows of ``robustness``, ``slices``,
``slice_summary``, ``calibration``, ``training``, ``checkpoints`` and ``contamination``
(empty lists when the run has none). Their comparisons are unadjusted: the results
assembly (``compare.results``) decides every comparison of the run in one correction
step (``engine.adjust``), then writes the rows. Settings come from the run config saved
in the manifest (``RobustnessOptions``), so re-scoring a run directory rebuilds every
section without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.engine import StatsOptions
from fteval.records import SampleResult, base_arm_name
from fteval.records.rows import Comparison, Row
from fteval.robustness.calibration import CalibrationRow, calibration_rows
from fteval.robustness.contamination import (
    DEFAULT_NGRAM,
    DEFAULT_THRESHOLD,
    TRAIN_SPLIT,
    ContaminationRow,
    contamination_rows,
)
from fteval.robustness.drops import DEFAULT_BRITTLE_THRESHOLD, RobustnessRow, robustness_rows
from fteval.robustness.slices import SliceRow, SliceSummaryRow, slice_rows
from fteval.robustness.training import CheckpointRow, TrainingRow, checkpoint_rows, training_row
from fteval.robustness.variants import VALIDATION, variant_name
from fteval.scoring import ArmStats, TaskInfo, arm_stats

SECTION_ROWS: dict[str, type[Row]] = {
    "robustness": RobustnessRow,
    "slices": SliceRow,
    "slice_summary": SliceSummaryRow,
    "calibration": CalibrationRow,
    "training": TrainingRow,
    "checkpoints": CheckpointRow,
    "contamination": ContaminationRow,
}
"""Each section of results.json built here, and the type of its rows."""

SECTIONS = tuple(SECTION_ROWS)


@dataclass(frozen=True)
class RobustnessOptions:
    """The settings of these sections (run config keys of the same names)."""

    brittle_threshold: float = DEFAULT_BRITTLE_THRESHOLD
    contamination_threshold: float = DEFAULT_THRESHOLD
    contamination_ngram: int = DEFAULT_NGRAM

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RobustnessOptions:
        """The settings recorded in a run config (defaults for keys it lacks)."""
        config = config or {}
        return cls(
            brittle_threshold=float(config.get("brittle_threshold", DEFAULT_BRITTLE_THRESHOLD)),
            contamination_threshold=float(config.get("contamination_threshold", DEFAULT_THRESHOLD)),
            contamination_ngram=int(config.get("contamination_ngram", DEFAULT_NGRAM)),
        )


def build_sections(
    arms: Sequence[Mapping[str, Any]],
    tasks: Sequence[TaskInfo],
    samples: Sequence[SampleResult],
    options: StatsOptions,
    table: Mapping[tuple[str, str, str], ArmStats],
    comparisons: Sequence[Comparison],
    manifest: Mapping[str, Any] | None = None,
) -> dict[str, list[Row]]:
    """Every section above, with unadjusted comparisons (see the module docstring).

    Args:
        arms: the run's arm records.
        tasks: the clean tasks.
        samples: every sample of the run (variants included).
        options: the run's statistical settings.
        table: (task, arm, metric) -> clean per-item statistics.
        comparisons: the main table's comparisons (a slice's whole-task direction).
        manifest: the run's manifest (config, training logs).
    """
    manifest = manifest or {}
    settings = RobustnessOptions.from_config(manifest.get("config"))
    base = base_arm_name(arms)
    by_task: dict[str, dict[str, list[SampleResult]]] = {}
    for sample in samples:
        by_task.setdefault(sample.task, {}).setdefault(sample.arm, []).append(sample)
    out: dict[str, list[Row]] = {name: [] for name in SECTIONS}
    out["robustness"] += robustness_rows(
        tasks, table, samples, arms, options, brittle_threshold=settings.brittle_threshold
    )
    source_arms = _source_arms(manifest)
    for task in tasks:
        clean = by_task.get(task.name, {})
        meta_of = _meta_by_id(clean)
        slices_of = {i: m["slices"] for i, m in meta_of.items() if m.get("slices")}
        rows, summary = slice_rows(task.name, table, slices_of, base, comparisons, options)
        out["slices"] += rows
        out["slice_summary"] += summary
        if task.kind == "multiple_choice" and clean:
            validation = by_task.get(variant_name(task.name, VALIDATION), {})
            out["calibration"] += calibration_rows(
                task.name, clean, validation, base, options, labels=task.labels
            )
        out["contamination"] += contamination_rows(
            task.name, table, meta_of, base, options,
            threshold=settings.contamination_threshold,
            ngram=settings.contamination_ngram, source_arms=source_arms,
        )  # fmt: skip
    for arm, log in (manifest.get("training_logs") or {}).items():
        out["training"].append(training_row(arm, log))
    out["checkpoints"] += checkpoint_rows(
        [a["name"] for a in arms], table, options, validation_table(tasks, samples)
    )
    return out


def validation_table(
    tasks: Sequence[TaskInfo], samples: Sequence[SampleResult]
) -> dict[tuple[str, str, str], ArmStats]:
    """(clean task, arm, metric) -> statistics on the task's validation split, where the run
    scored one (``<task>~validation``)."""
    out: dict[tuple[str, str, str], ArmStats] = {}
    names = {variant_name(t.name, VALIDATION): t for t in tasks}
    present = {s.task for s in samples if s.task in names}
    for name in present:
        task = names[name]
        info = TaskInfo(name, task.kind, task.metrics, task.labels, 0, task.source)
        for (arm, key), item in arm_stats(info, samples).items():
            out[(task.name, arm, key)] = item
    return out


def _meta_by_id(by_arm: Mapping[str, Sequence[SampleResult]]) -> dict[str, Mapping[str, Any]]:
    """Example id -> the first arm's sample meta (tags are equal across arms)."""
    first = next(iter(by_arm.values()), [])
    return {sample.example_id: sample.meta for sample in first}


def _source_arms(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """Contamination source -> the arms trained on it (every arm for a train split)."""
    out: dict[str, list[str]] = {}
    for arm, path in ((manifest.get("config") or {}).get("train_data") or {}).items():
        out.setdefault(path, []).append(arm)
    out[TRAIN_SPLIT] = [a["name"] for a in manifest.get("arms", [])]
    return out

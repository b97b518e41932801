"""Build the results sections of issue 11 from samples and the manifest alone.

``build_sections`` returns ``robustness``, ``slices``, ``slice_summary``, ``calibration``,
``training``, ``checkpoints`` and ``contamination`` (each a list of flat records, empty
when the run has none); ``compare.results.build_results`` adds them to results.json.
Settings come from the run config saved in the manifest (``RobustnessOptions``), so
re-scoring a run directory rebuilds every section without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.records import SampleResult, base_arm_name
from fteval.robustness.calibration import calibration_rows
from fteval.robustness.contamination import (
    DEFAULT_NGRAM,
    DEFAULT_THRESHOLD,
    TRAIN_SPLIT,
    contamination_rows,
)
from fteval.robustness.drops import DEFAULT_BRITTLE_THRESHOLD, robustness_rows
from fteval.robustness.slices import slice_rows
from fteval.robustness.training import checkpoint_rows, training_row
from fteval.robustness.variants import VALIDATION, variant_name
from fteval.scoring import ArmStats, TaskInfo

SECTIONS = (
    "robustness",
    "slices",
    "slice_summary",
    "calibration",
    "training",
    "checkpoints",
    "contamination",
)


@dataclass(frozen=True)
class RobustnessOptions:
    """The settings of these sections (run config keys of the same names)."""

    brittle_threshold: float = DEFAULT_BRITTLE_THRESHOLD
    contamination_threshold: float = DEFAULT_THRESHOLD
    contamination_ngram: int = DEFAULT_NGRAM

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RobustnessOptions:
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
    options: Any,
    table: Mapping[tuple[str, str, str], ArmStats],
    comparisons: Sequence[Mapping[str, Any]],
    manifest: Mapping[str, Any] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every section of issue 11 (see the module docstring)."""
    manifest = manifest or {}
    settings = RobustnessOptions.from_config(manifest.get("config"))
    base = base_arm_name(arms)
    by_task: dict[str, dict[str, list[SampleResult]]] = {}
    for sample in samples:
        by_task.setdefault(sample.task, {}).setdefault(sample.arm, []).append(sample)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    out["robustness"] = robustness_rows(
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
    out["checkpoints"] = checkpoint_rows([a["name"] for a in arms], table, options)
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

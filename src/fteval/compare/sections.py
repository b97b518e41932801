"""The registry of results.json's list sections: each section's name and row type.

Every row any producer writes is one of these types (``records.rows.Row``), so readers
(the schema generator, MLflow logging, the report's views) walk this one registry.
"""

from __future__ import annotations

from fteval.compare.deployment import DeploymentRow
from fteval.compare.rows import (
    ClassificationRow,
    CostRow,
    GenerationRow,
    JudgeRow,
    SeedGroupRow,
    TaskGroupRow,
    TruncationRow,
)
from fteval.records.rows import Advice, Arm, Comparison, Row, Score, TaskRecord
from fteval.robustness.sections import SECTION_ROWS

RESULTS_SECTIONS: dict[str, type[Row]] = {
    "arms": Arm,
    "tasks": TaskRecord,
    "scores": Score,
    "comparisons": Comparison,
    "advice": Advice,
    "classification": ClassificationRow,
    "seed_groups": SeedGroupRow,
    "generation": GenerationRow,
    "task_groups": TaskGroupRow,
    "truncation": TruncationRow,
    "judge": JudgeRow,
    **SECTION_ROWS,
    "deployment": DeploymentRow,
    "cost": CostRow,
}
"""Every list section of results.json and the type of its rows (``statistics`` is one
``StatsOptions`` object)."""

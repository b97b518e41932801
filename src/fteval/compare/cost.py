"""The ``cost`` section of results.json: one row per arm, from ``manifest.arms[].cost``.

The facts are measured by the run (``fteval.pipeline.cost``) and stored in the manifest,
so rebuilding results from a run directory rebuilds this section with no model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.compare.rows import CostRow

COST_FIELDS = (
    "trainable_params",
    "total_params",
    "size_on_disk_bytes",
    "eval_wall_s",
    "tokens",
    "tokens_processed",
    "tokens_per_s",
    "requests_computed",
    "requests_cached",
    "cached_compute_s",
    "cached_cost_measured_at",
    "peak_memory_bytes",
    "memory_kind",
    "memory_footprint_bytes",
)


def cost_rows(arms: Sequence[Mapping[str, Any]]) -> list[CostRow]:
    """One row per arm with recorded costs (arms without them, e.g. scored prediction
    files, are left out)."""
    rows = []
    for arm in arms:
        cost = arm.get("cost")
        if not isinstance(cost, Mapping):
            continue
        values: dict[str, Any] = {name: cost.get(name) for name in COST_FIELDS}
        values.update({name: cost[name] for name in ("items", "note", "form") if name in cost})
        rows.append(CostRow(arm=arm["name"], kind=arm.get("kind"), **values))
    return rows

"""The ``cost`` section of results.json: one row per arm, from ``manifest.arms[].cost``.

The facts are measured by the run (``fteval.pipeline.cost``) and stored in the manifest,
so rebuilding results from a run directory rebuilds this section with no model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COST_FIELDS = (
    "trainable_params",
    "total_params",
    "size_on_disk_bytes",
    "eval_wall_s",
    "tokens",
    "tokens_per_s",
    "peak_memory_bytes",
    "memory_kind",
)


def cost_rows(arms: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``{"arm", "kind", trainable/total params, size, wall time, tokens, memory}`` per arm
    with recorded costs (arms without them, e.g. scored prediction files, are left out)."""
    rows = []
    for arm in arms:
        cost = arm.get("cost")
        if not isinstance(cost, Mapping):
            continue
        row = {"arm": arm["name"], "kind": arm.get("kind")}
        row.update({field: cost.get(field) for field in COST_FIELDS})
        for extra in ("items", "note"):
            if extra in cost:
                row[extra] = cost[extra]
        rows.append(row)
    return rows

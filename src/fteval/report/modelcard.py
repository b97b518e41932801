"""The Hugging Face model-card ``model-index`` block for the fine-tuned arms.

The YAML follows the Hub's model-index format (the block ``huggingface_hub`` parses into
``EvalResult`` records): one entry per fine-tuned arm, one result per task and metric,
with the task type, the dataset and the value in display units (percent for
proportions). The model-index has no field for an interval or a comparison, so the
prose below the block gives each value's confidence interval and its delta vs the base
model with the verdict, the adjusted p-value and the test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from fteval.report.numbers import (
    decimals_for,
    delta_unit,
    fmt,
    fmt_interval,
    fmt_p,
    is_number,
    unit,
)

FINE_TUNED_KINDS = ("adapter", "full")
TEST_NAMES = {
    "mcnemar_exact": "exact McNemar test",
    "paired_permutation": "paired permutation test",
}


def hub_metric_type(metric: str) -> str:
    """The Hub's metric id for an fteval metric key (``acc`` -> ``accuracy``)."""
    if metric in ("acc", "acc_norm") or metric.startswith("acc_"):
        return "accuracy"
    for prefix, hub in (
        ("f1", "f1"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("rouge", "rouge"),
        ("pass@", "code_eval"),
    ):
        if metric.startswith(prefix):
            return hub
    return {
        "exact_match": "exact_match",
        "em": "exact_match",
        "squad_em": "exact_match",
        "squad_f1": "f1",
        "bleu": "bleu",
        "chrf": "chrf",
        "meteor": "meteor",
        "bertscore": "bertscore",
        "perplexity": "perplexity",
    }.get(metric, metric)


def hub_task_type(task: Mapping[str, Any]) -> str:
    """The Hub's task type for an fteval task kind."""
    kind = task.get("kind", "")
    if kind == "multiple_choice":
        return "text-classification" if task.get("labels") else "multiple-choice"
    return "text-generation"


def _dataset_id(task: Mapping[str, Any]) -> str:
    source = str(task.get("source") or "")
    local = not source or os.sep in source or source.endswith((".yaml", ".yml", ".jsonl", ".json"))
    return task["name"] if local else source


def model_index(
    results: Mapping[str, Any], *, arms: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The ``model-index`` list: one entry per fine-tuned arm (all of them by default)."""
    tasks = {t["name"]: t for t in results.get("tasks", [])}
    chosen = [
        a["name"]
        for a in results.get("arms", [])
        if a.get("kind") in FINE_TUNED_KINDS and (arms is None or a["name"] in arms)
    ]
    entries = []
    for arm in chosen:
        by_task: dict[str, list[Mapping[str, Any]]] = {}
        for row in results.get("scores", []):
            if row["arm"] == arm and is_number(row.get("value")):
                by_task.setdefault(row["task"], []).append(row)
        entry_results = []
        for task, rows in by_task.items():
            info = tasks.get(task, {"name": task})
            metrics = []
            for row in rows:
                digits = _digits(results, task, row["metric"], row.get("scale"))
                metrics.append(
                    {
                        "type": hub_metric_type(row["metric"]),
                        "name": row["metric"],
                        "value": round(float(row["value"]) * float(row.get("scale") or 1), digits),
                        "verified": False,
                    }
                )
            entry_results.append(
                {
                    "task": {"type": hub_task_type(info), "name": task},
                    "dataset": {"type": _dataset_id(info), "name": task},
                    "metrics": metrics,
                }
            )
        entries.append({"name": arm, "results": entry_results})
    return entries


def _digits(results: Mapping[str, Any], task: str, metric: str, scale: Any) -> int:
    values = [
        r.get("value")
        for r in results.get("scores", [])
        if r["task"] == task and r["metric"] == metric
    ]
    return decimals_for(values, scale)


def render_model_card(results: Mapping[str, Any], *, arms: Sequence[str] | None = None) -> str:
    """YAML front matter with the model-index, then the intervals and deltas as prose."""
    index = model_index(results, arms=arms)
    front = yaml.safe_dump({"model-index": index}, sort_keys=False, allow_unicode=True)
    lines = ["---", front.rstrip("\n"), "---", "", "## Evaluation", ""]
    confidence = results.get("statistics", {}).get("confidence", 0.95)
    scores = {(r["task"], r["arm"], r["metric"]): r for r in results.get("scores", [])}
    base = next((a["name"] for a in results.get("arms", []) if a.get("kind") == "base"), None)
    comparisons = {
        (c["task"], c["metric"], c["arm"]): c
        for c in results.get("comparisons", [])
        if c.get("reference_arm") == base
    }
    for entry in index:
        arm = entry["name"]
        lines.append(f"**{arm}** (fteval, paired evaluation on the same items as the base model):")
        lines.append("")
        for result in entry["results"]:
            task = result["task"]["name"]
            for metric in result["metrics"]:
                row = scores[(task, arm, metric["name"])]
                lines.append("- " + _sentence(results, row, comparisons, confidence, base))
        lines.append("")
    lines.append(
        "Intervals are bootstrap confidence intervals over items; deltas are paired "
        "differences vs the base model, with p-values adjusted for multiple comparisons."
    )
    return "\n".join(lines) + "\n"


def _sentence(
    results: Mapping[str, Any],
    row: Mapping[str, Any],
    comparisons: Mapping[tuple[str, str, str], Mapping[str, Any]],
    confidence: float,
    base: str | None,
) -> str:
    scale = row.get("scale")
    digits = _digits(results, row["task"], row["metric"], scale)
    shown = fmt(row["value"], scale, decimals=digits) + unit(scale, row.get("unit"))
    interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), scale, digits)
    text = (
        f"{row['task']} {row['metric']} (n = {row.get('n')}): {shown} {interval} "
        f"({confidence:.0%} CI)"
    )
    comparison = comparisons.get((row["task"], row["metric"], row["arm"]))
    if comparison is None or base is None:
        return text + "."
    delta_text = fmt(comparison.get("delta"), scale, decimals=digits, signed=True)
    points = delta_unit(scale)
    delta_interval = fmt_interval(
        comparison.get("ci_low"), comparison.get("ci_high"), scale, digits, signed=True
    )
    test = TEST_NAMES.get(str(comparison.get("test")), str(comparison.get("test")))
    return (
        f"{text}; {delta_text}{' ' + points if points else ''} {delta_interval} vs {base}: "
        f"{comparison.get('verdict')} (adjusted p {fmt_p(comparison.get('p_adjusted'))}, {test})."
    )

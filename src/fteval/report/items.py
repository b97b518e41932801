"""The item browser's data: every item with its input, target and each arm's answer.

Built from samples.jsonl (answers, per-item scores, tags) and items.jsonl (the prompt
each model saw, when the run wrote it). One record per task x example x prompt (a
perturbed variant of an item is its own record), holding every arm's answer, so the
browser filters 15,000 items x 3 arms in memory without joining anything.

A run scores a task's perturbed copies as a task of their own (``<task>~<label>``); the
browser files them under the task they were made from (``meta.parent_task``), with the
perturbation's label and the index of the clean record of the same item, so a filter on
the task finds them and each perturbed row shows the clean input and answers beside its
own.

An item's *outcome* for an arm is its value of the task's outcome metric: the first
metric whose per-item values are all 0 or 1 (``acc`` first), so "base right -> arm wrong"
means the same as the accuracy the tables show. Tasks without such a metric (BLEU,
perplexity) have no outcome and match only the "all outcomes" filter.

Long texts are cut to ``MAX_TEXT`` characters in the page (inputs keep their end, where
the question of a few-shot prompt is; outputs keep their start); samples.jsonl and
items.jsonl keep them whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fteval.records import SampleResult

MAX_TEXT = 2000
OUTCOME_PREFERENCE = ("acc", "exact_match", "squad_em", "em", "pass@1")


def _cut_tail(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _cut_head(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "logprob" in value:
        tokens = value.get("n_tokens")
        return f"log-likelihood {value['logprob']:.4g} over {tokens} tokens"
    return json.dumps(value, ensure_ascii=False)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def outcome_metric(metrics: Sequence[str], samples: Sequence[SampleResult]) -> str | None:
    """The task's outcome metric: the preferred 0/1 metric present, else the first 0/1 one."""
    binary = [
        m
        for m in metrics
        if samples and all(_number(s.scores.get(m)) in (0.0, 1.0) for s in samples)
    ]
    for name in OUTCOME_PREFERENCE:
        if name in binary:
            return name
    return binary[0] if binary else None


def slice_value(meta: Mapping[str, Any], field: str) -> str | None:
    """An item's value of a slice field: ``meta.slices[field]``, ``meta[field]`` or a tag."""
    for holder in (meta.get("slices"), meta, meta.get("tags")):
        if isinstance(holder, Mapping) and field in holder and holder[field] is not None:
            value = holder[field]
            return value if isinstance(value, str) else json.dumps(value)
    return None


def _internal(sample: SampleResult) -> bool:
    """Items a run answers only for its own use (calibration's validation copy of a task,
    ``<task>~validation``): not evaluated items, so not in the browser."""
    return "~" in sample.task and sample.meta.get("split") == "validation"


def perturbation_of(meta: Mapping[str, Any]) -> str:
    """The perturbation that made an item (``""`` for a clean item)."""
    value = meta.get("perturbation")
    if value is None or value == "":
        return ""
    if isinstance(value, Mapping):
        return str(value.get("name") or json.dumps(value, sort_keys=True))
    return str(value)


def _task_of(sample: SampleResult) -> str:
    """The task an item belongs to: a perturbed copy's parent task, else its own."""
    parent = sample.meta.get("parent_task")
    if perturbation_of(sample.meta) and isinstance(parent, str) and parent:
        return parent
    return sample.task


def browser_data(
    results: Mapping[str, Any],
    samples: Sequence[SampleResult],
    items: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON object the item browser reads (see the module docstring).

    Each of ``items`` is a list: [task index, example id, input, target, choices or None,
    slices or None, perturbation label ("" when clean), one answer per arm (``_answer``;
    None when the arm has none), the index of the item's clean record (perturbed records;
    None otherwise)].
    """
    arms = [a["name"] for a in results.get("arms", [])]
    for sample in samples:
        if sample.arm not in arms:
            arms.append(sample.arm)
    base = next((a["name"] for a in results.get("arms", []) if a.get("kind") == "base"), None)
    arm_index = {name: i for i, name in enumerate(arms)}
    by_task: dict[str, list[SampleResult]] = {}
    for sample in samples:
        if _internal(sample):
            continue
        by_task.setdefault(_task_of(sample), []).append(sample)
    kinds = {t["name"]: t.get("kind", "") for t in results.get("tasks", [])}
    fields = list(dict.fromkeys(str(r["field"]) for r in results.get("slices", []) if "field" in r))
    prompts = {
        (str(i.get("task")), str(i.get("example_id")), str(i.get("prompt_hash"))): i for i in items
    }
    task_rows = []
    records: list[list[Any]] = []
    perturbations: list[str] = []
    for task_number, (task, task_samples) in enumerate(by_task.items()):
        metrics = list(dict.fromkeys(m for s in task_samples for m in s.scores))
        outcome = outcome_metric(metrics, task_samples)
        task_rows.append(
            {"name": task, "kind": kinds.get(task, ""), "metrics": metrics, "outcome": outcome}
        )
        grouped: dict[tuple[str, ...], list[Any]] = {}
        for sample in task_samples:
            variant = (perturbation_of(sample.meta), str(sample.meta.get("variant", "")))
            key = (sample.example_id, sample.prompt_hash, *variant)
            record = grouped.get(key)
            if record is None:
                item = prompts.get((sample.task, sample.example_id, sample.prompt_hash), {})
                perturbation = perturbation_of(sample.meta)
                if perturbation and perturbation not in perturbations:
                    perturbations.append(perturbation)
                slices = {f: v for f in fields if (v := slice_value(sample.meta, f)) is not None}
                record = [
                    task_number,
                    sample.example_id,
                    _cut_tail(str(item.get("prompt", ""))),
                    _cut_head(_text(sample.target)),
                    list(item.get("choices") or []) or None,
                    slices or None,
                    perturbation,
                    [None] * len(arms),
                    None,
                ]
                grouped[key] = record
                records.append(record)
            record[7][arm_index[sample.arm]] = _answer(sample, metrics, outcome)
    _link_clean(records)
    return {
        "arms": arms,
        "base": base,
        "tasks": task_rows,
        "slice_fields": fields,
        "perturbations": perturbations,
        "items": records,
    }


def _link_clean(records: list[list[Any]]) -> None:
    """Give each perturbed record (field 8) the index of its item's clean record, if any."""
    clean = {(r[0], r[1]): index for index, r in enumerate(records) if not r[6]}
    for record in records:
        if record[6]:
            record[8] = clean.get((record[0], record[1]))


def _answer(sample: SampleResult, metrics: Sequence[str], outcome: str | None) -> list[Any]:
    """[prediction text, outcome (1/0/None), per-metric scores, choice log-probabilities]."""
    value = _number(sample.scores.get(outcome)) if outcome else None
    logprobs = (
        [round(lp, 4) if _number(lp) is not None else None for lp in sample.choice_logprobs]
        if sample.choice_logprobs
        else None
    )
    return [
        _cut_head(_text(sample.prediction)),
        None if value is None else int(value),
        [_rounded(sample.scores.get(m)) for m in metrics],
        logprobs,
    ]


def _rounded(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else round(number, 6)


def embed_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no U+2028."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )

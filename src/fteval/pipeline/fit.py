"""Fit prompts into the context window by cutting one field's tail (a task's ``truncate``).

Policy (recorded per sample in ``meta.truncation``): a prompt fits when its tokens plus
the room kept for the answer (a generation task's ``max_new_tokens``; a choice task's
longest choice) are at most the window, for every evaluated arm's tokenizer. A prompt
that does not fit keeps the longest whole-word prefix of the truncatable field (found by
bisection over word counts) with which it fits; the rest of the prompt (instructions,
question, few-shot block) is never cut. When even an empty field does not fit, the
field is emptied and the backend's own left truncation applies (recorded). Every arm
sees the same fitted prompt, so comparisons stay paired.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence

from fteval.backends.base import Backend, TokenBudget
from fteval.records import ArmSpec, Example
from fteval.tasks import Task

logger = logging.getLogger(__name__)


def fit_tasks(tasks: Sequence[Task], backend: Backend, arms: Sequence[ArmSpec]) -> list[Task]:
    """Each task with a ``truncate_field``, its prompts fitted to every arm's window."""
    if not any(t.truncate_field for t in tasks):
        return list(tasks)
    budgets: dict[str, TokenBudget] = {}
    for arm in arms:
        budget = backend.token_budget(arm.name)
        if budget is not None:
            budgets.setdefault(budget.key, budget)
    if not budgets:
        logger.info(
            "the %s backend reports no context window: prompts are not fitted", backend.name
        )
        return list(tasks)
    return [fit_task(t, list(budgets.values())) if t.truncate_field else t for t in tasks]


def fit_task(task: Task, budgets: Sequence[TokenBudget]) -> Task:
    """``task`` with each example's truncatable field cut to fit (see the module docstring)."""
    reserve = _reserve(task, budgets)
    prompts = [ex.prompt for ex in task.examples]
    fits = _fits(prompts, budgets, reserve)
    examples = []
    cut = 0
    for example, ok in zip(task.examples, fits):
        fitted = example if ok else _cut(example, budgets, reserve)
        cut += not ok
        examples.append(_record(fitted, example, task.truncate_field, budgets, reserve))
    if cut:
        logger.info(
            "%s: %d of %d prompts cut to fit the context window", task.name, cut, len(prompts)
        )
    return dataclasses.replace(task, examples=tuple(examples))


def _reserve(task: Task, budgets: Sequence[TokenBudget]) -> dict[str, int]:
    """Tokens kept for the answer, per budget."""
    if task.generation is not None:
        return {b.key: task.generation.max_new_tokens for b in budgets}
    continuations = sorted({c for ex in task.examples for c in ex.continuations})
    return {b.key: max(b.count(continuations), default=0) for b in budgets}


def _fits(
    prompts: Sequence[str], budgets: Sequence[TokenBudget], reserve: dict[str, int]
) -> list[bool]:
    ok = [True] * len(prompts)
    for budget in budgets:
        for i, n in enumerate(budget.count(prompts)):
            ok[i] = ok[i] and n + reserve[budget.key] <= budget.max_length
    return ok


def _word_ends(text: str) -> list[int]:
    """Where each word of ``text`` ends (a word: a run of non-space characters)."""
    return [m.end() for m in re.finditer(r"\S+", text)]


def _cut(example: Example, budgets: Sequence[TokenBudget], reserve: dict[str, int]) -> Example:
    start, end = example.meta["truncatable"]
    text = example.prompt[start:end]
    ends = _word_ends(text)
    words = len(ends)

    def prompt_with(k: int) -> str:
        kept = text[: ends[k - 1]] if k > 0 else ""
        return example.prompt[:start] + kept + example.prompt[end:]

    low, high = 0, words - 1  # words itself does not fit
    while low < high:
        middle = (low + high + 1) // 2
        if _fits([prompt_with(middle)], budgets, reserve)[0]:
            low = middle
        else:
            high = middle - 1
    prompt = prompt_with(low)
    kept_chars = len(prompt) - (len(example.prompt) - (end - start))
    meta = {**example.meta, "truncatable": [start, start + kept_chars]}
    meta["truncation"] = {"words_kept": low, "words_total": words}
    return dataclasses.replace(example, prompt=prompt, meta=meta)


def _record(
    fitted: Example,
    original: Example,
    field: str | None,
    budgets: Sequence[TokenBudget],
    reserve: dict[str, int],
) -> Example:
    start, end = original.meta["truncatable"]
    total = len(_word_ends(original.prompt[start:end]))
    detail = {
        "field": field,
        "words_kept": total,
        "words_total": total,
        "max_length": min(b.max_length for b in budgets),
        "reserved_tokens": max(reserve.values()),
        **fitted.meta.get("truncation", {}),
    }
    detail["cut"] = detail["words_kept"] < detail["words_total"]
    if detail["cut"] and not _fits([fitted.prompt], budgets, reserve)[0]:
        detail["still_too_long"] = True
    return dataclasses.replace(fitted, meta={**fitted.meta, "truncation": detail})

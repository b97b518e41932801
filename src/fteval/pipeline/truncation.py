"""Find the prompts that will lose content to the context window, before any model runs.

A prompt plus its answer's room (a choice task's longest choice; a generation task's
``max_new_tokens``) that is longer than an arm's context window is cut **from the left**
by the backend, as lm-evaluation-harness does. Few-shot blocks and descriptions go
first; with a small window the item's own question goes too, and then its verdict says
nothing about the task. Every evaluated arm's window and tokenizer is measured (its
``token_budget``, read from files); the worst one counts, since every arm sees the same
prompt.

Each example whose prompt will be cut gets ``meta.context_cut``::

    {"tokens": tokens cut from the left (>= 1), "question": whether the cut reaches the
     item's own input (its first input span), "max_length": the window in tokens}

which samples.jsonl keeps, so results (the ``truncation`` section) and reports are
built from samples alone. A task fitted by cutting one field's tail (``truncate:``,
``meta.truncation``) is fitted first; this then finds what still does not fit.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from fteval.backends.base import Backend, TokenBudget
from fteval.records import ArmSpec, Example
from fteval.tasks import Task

logger = logging.getLogger(__name__)

CONTEXT_CUT = "context_cut"


def budgets_of(backend: Backend, arms: Sequence[ArmSpec]) -> list[TokenBudget]:
    """One budget per distinct tokenizer and window among the arms (none: unknown)."""
    budgets: dict[str, TokenBudget] = {}
    for arm in arms:
        budget = backend.token_budget(arm.name)
        if budget is not None:
            budgets.setdefault(budget.key, budget)
    return list(budgets.values())


def tag_context_cuts(
    tasks: Sequence[Task], backend: Backend, arms: Sequence[ArmSpec]
) -> list[Task]:
    """Each task with ``meta.context_cut`` on the examples that will be cut (module docs).

    Tasks are returned unchanged when no arm reports a window (an endpoint that does not
    say) or the task scores rolling windows (perplexity: nothing is cut).
    """
    budgets = budgets_of(backend, arms)
    if not budgets:
        return list(tasks)
    tagged = [tag_task(task, budgets) if task.kind != "perplexity" else task for task in tasks]
    _warn(tagged)
    return tagged


def _warn(tasks: Sequence[Task]) -> None:
    """One warning for every task whose prompts are cut (the truncation section and the
    headline say which, per task)."""
    counts = []
    for task in tasks:
        cut = [e.meta[CONTEXT_CUT] for e in task.examples if CONTEXT_CUT in e.meta]
        if cut:
            counts.append(
                (task.name, len(cut), len(task.examples), sum(c["question"] for c in cut))
            )
    if not counts:
        return
    names = [name for name, *_ in counts]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    logger.warning(
        "%s: %d of %d prompts are longer than the context window and lose tokens from the "
        "left (the question itself in %d)",
        shown,
        sum(c[1] for c in counts),
        sum(c[2] for c in counts),
        sum(c[3] for c in counts),
    )


def tag_task(task: Task, budgets: Sequence[TokenBudget]) -> Task:
    """``task`` with its cut examples tagged, by the budget that cuts most (module docs)."""
    prompts = [example.prompt for example in task.examples]
    worst: list[tuple[int, TokenBudget] | None] = [None] * len(prompts)
    for budget in budgets:
        reserve = _reserve(task, budget)
        for index, n in enumerate(budget.count(prompts)):
            cut = n + reserve - budget.max_length
            found = worst[index]
            if cut > 0 and (found is None or cut > found[0]):
                worst[index] = (cut, budget)
    if not any(worst):
        return task
    examples = [
        example if found is None else _tagged(example, *found)
        for example, found in zip(task.examples, worst)
    ]
    return dataclasses.replace(task, examples=tuple(examples))


def _reserve(task: Task, budget: TokenBudget) -> int:
    """Tokens the answer needs after the prompt, for one budget."""
    if task.generation is not None:
        return task.generation.max_new_tokens
    continuations = sorted({c for example in task.examples for c in example.continuations})
    # the model reads every token but the last of prompt + continuation
    return max(budget.count(continuations), default=0) - 1 if continuations else 0


def _tagged(example: Example, cut: int, budget: TokenBudget) -> Example:
    start = example.input_spans[0][0] if example.input_spans else 0
    before = budget.count([example.prompt[:start]])[0] if start > 0 else 0
    detail = {"tokens": cut, "question": cut > before, "max_length": budget.max_length}
    return dataclasses.replace(example, meta={**example.meta, CONTEXT_CUT: detail})

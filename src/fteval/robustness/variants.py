"""Perturbed and held-out copies of a task, run beside it as their own sample sets.

A *variant task* has the name ``<task>~<label>`` (``~`` never occurs in a task name) and
the task's metrics, choices and targets. Its samples are written to samples.jsonl like
any others, so resume, the response cache and batching treat them as ordinary work, and
the task's clean scores — built from the samples whose ``task`` is the task's own name —
never see them. Each variant item carries in ``meta``:

* ``parent_task``: the task it was made from;
* ``perturbation``, ``perturbation_signature``: which perturbation, exactly;
* ``parent_id``: the clean item it perturbs (``null`` for an ``ood`` item that has no
  clean twin), and ``variant`` (0..k-1); with ``k > 1`` the variant's id is
  ``<parent_id>#<variant>``, else the parent's id;
* ``edits``: what changed (typo edits, paraphrase substitutions, ...), and ``changed``.

Calibration's validation items form the variant ``<task>~validation`` with
``meta.split = "validation"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fteval.errors import ConfigError, FtevalError
from fteval.records import Example
from fteval.robustness.distractors import DISTRACTORS, read_distractors
from fteval.robustness.perturb import PerturbationSpec, item_rng
from fteval.tasks.task import Task

SEPARATOR = "~"
VALIDATION = "validation"
VALIDATION_SPLITS = ("validation", "valid", "val", "dev")

TokenCounter = Callable[[Sequence[str]], "list[int] | None"]


def variant_name(task: str, label: str) -> str:
    """``<task>~<label>``: the name of a task's variant (perturbation or validation)."""
    return f"{task}{SEPARATOR}{label}"


def is_variant(task_name: str) -> bool:
    """True for the name of a variant task (it holds ``~``)."""
    return SEPARATOR in task_name


def perturbed_tasks(
    task: Task,
    specs: Sequence[PerturbationSpec],
    *,
    limit: int | None = None,
    count_tokens: TokenCounter | None = None,
    context_window: int | None = None,
) -> list[Task]:
    """One variant task per perturbation of ``specs`` (see the module docstring).

    Args:
        task: the clean task.
        specs: the run's perturbations.
        limit: first N items of an ``ood`` file (as ``--limit`` cuts the task).
        count_tokens: counts tokens of texts with the base model's tokenizer (``long``);
            None: estimated as UTF-8 bytes / 4.
        context_window: the base model's context window in tokens (``long``), if known.

    Raises:
        ConfigError: an ``ood`` file the task cannot read, or a ``long`` target that does
            not fit the context window.
        InputError: a bad row in an ``ood`` file.
    """
    out = []
    for spec in specs:
        if spec.name == "ood":
            examples = _ood_examples(task, spec, limit)
        elif spec.name == "long":
            examples = _long_examples(task, spec, count_tokens, context_window)
        else:
            examples = tuple(
                perturb_example(task.name, example, spec, variant)
                for example in task.examples
                for variant in range(spec.k)
            )
        out.append(
            dataclasses.replace(task, name=variant_name(task.name, spec.label), examples=examples)
        )
    return out


def _variant_meta(
    task: str, spec: PerturbationSpec, parent: str | None, variant: int, signature: str
) -> dict[str, Any]:
    return {
        "parent_task": task,
        "perturbation": spec.label,
        "perturbation_signature": signature,
        "parent_id": parent,
        "variant": variant,
    }


def _variant_id(example_id: str, spec: PerturbationSpec, variant: int) -> str:
    return f"{example_id}#{variant}" if spec.k > 1 else example_id


def signature_of(spec: PerturbationSpec, **facts: Any) -> str:
    """The perturbation's signature, with the WordNet version for ``paraphrase``."""
    if spec.name == "paraphrase":
        from fteval.robustness.paraphrase import wordnet_version

        facts = {**facts, "wordnet": wordnet_version()}
    return spec.signature(**facts)


def perturb_example(task: str, example: Example, spec: PerturbationSpec, variant: int) -> Example:
    """``example`` with the text perturbation ``spec`` applied to its input spans."""
    function = spec.perturbation.function
    if function is None:
        raise ValueError(f"{spec.name} is not a text perturbation")
    rng = item_rng(spec, task, example.example_id, variant)
    options = dict(spec.options)
    spans = example.input_spans or ((0, len(example.prompt)),)
    pieces: list[str] = []
    new_spans: list[tuple[int, int]] = []
    edits: list[Any] = []
    cursor = 0
    for start, end in spans:
        pieces.append(example.prompt[cursor:start])
        offset = sum(map(len, pieces))
        text, span_edits = function(example.prompt[start:end], rng, options)
        pieces.append(text)
        new_spans.append((offset, offset + len(text)))
        edits += span_edits
        cursor = end
    pieces.append(example.prompt[cursor:])
    prompt = "".join(pieces)
    meta = {
        **example.meta,
        **_variant_meta(task, spec, example.example_id, variant, signature_of(spec)),
        "changed": prompt != example.prompt,
        "edits": edits,
    }
    if "truncatable" in meta:  # the truncatable field is one of the input spans
        moved = dict(zip((tuple(s) for s in spans), new_spans))
        meta["truncatable"] = list(moved.get(tuple(meta["truncatable"]), meta["truncatable"]))
    return dataclasses.replace(
        example,
        example_id=_variant_id(example.example_id, spec, variant),
        prompt=prompt,
        meta=meta,
        input_spans=tuple(new_spans) if example.input_spans else (),
    )


def _ood_examples(task: Task, spec: PerturbationSpec, limit: int | None) -> tuple[Example, ...]:
    """The items of the ood file, paired with clean items when every id is a clean id."""
    path = str(spec.option("file"))
    if task.loader is None:
        raise ConfigError(
            f"--perturb {spec.text}: task {task.name!r} cannot read a file in its format "
            "(only task files can); evaluate the file as a task of its own instead"
        )
    if not Path(path).is_file():
        raise ConfigError(f"--perturb {spec.text}: {path}: file not found")
    examples = task.loader.load_file(path)[:limit] if limit else task.loader.load_file(path)
    clean = {example.example_id for example in task.examples}
    paired = all(example.example_id in clean for example in examples)
    signature = signature_of(spec, paired="yes" if paired else "no")
    return tuple(
        dataclasses.replace(
            example,
            meta={
                **example.meta,
                **_variant_meta(
                    task.name, spec, example.example_id if paired else None, 0, signature
                ),
                "file": path,
            },
        )
        for example in examples
    )


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """Tokens estimated as ceil(UTF-8 bytes / 4) (when the backend has no tokenizer)."""
    return [math.ceil(len(text.encode("utf-8")) / 4) for text in texts]


def _long_examples(
    task: Task,
    spec: PerturbationSpec,
    count_tokens: TokenCounter | None,
    context_window: int | None,
) -> tuple[Example, ...]:
    """Each item with distractor sentences added until its prompt has ``tokens`` tokens."""
    counter: Callable[[Sequence[str]], list[int]] = estimate_tokens
    if count_tokens is not None and count_tokens(["probe"]) is not None:
        counter = count_tokens  # type: ignore[assignment]
    target = _long_target(task, spec, counter, context_window)
    source = spec.option("source")
    pool = read_distractors(source) if source else DISTRACTORS
    facts = {"tok": "model" if counter is not estimate_tokens else "bytes/4", "target": target}
    signature = signature_of(spec, **facts)
    out = []
    for example in task.examples:
        rng = item_rng(spec, task.name, example.example_id, 0)
        prompt, added, length = _lengthen(example, pool, rng, target, counter, spec)
        meta = {
            **example.meta,
            **_variant_meta(task.name, spec, example.example_id, 0, signature),
            "changed": added > 0,
            "edits": [["distractor_sentences", added], ["prompt_tokens", length]],
        }
        grown = len(prompt) - len(example.prompt)
        at = _insertion_point(example, spec)
        spans = tuple(
            (s + grown, e + grown) if s >= at and grown else (s, e) for s, e in example.input_spans
        )
        if "truncatable" in meta and meta["truncatable"][0] >= at:
            meta["truncatable"] = [meta["truncatable"][0] + grown, meta["truncatable"][1] + grown]
        out.append(dataclasses.replace(example, prompt=prompt, meta=meta, input_spans=spans))
    return tuple(out)


def _long_target(
    task: Task,
    spec: PerturbationSpec,
    counter: Callable[[Sequence[str]], list[int]],
    context_window: int | None,
) -> int:
    """The prompt length to reach, in tokens: ``tokens=`` or the room the window leaves."""
    room = None
    if context_window is not None:
        room = context_window - _answer_room(task, counter)
    asked = spec.option("tokens")
    if asked is None:
        if room is None:
            raise ConfigError(
                f"--perturb {spec.text}: the backend does not tell its context window; give "
                "the target length as long:tokens=N"
            )
        return room
    if context_window is not None and room is not None and asked > room:
        raise ConfigError(
            f"--perturb {spec.text}: tokens={asked} does not fit the context window of "
            f"{context_window} tokens with room for the answer ({context_window - room} "
            f"tokens) on task {task.name!r}; use tokens<={room}"
        )
    return int(asked)


def _answer_room(task: Task, counter: Callable[[Sequence[str]], list[int]]) -> int:
    """Tokens the answer needs after the prompt: the longest continuation, or
    ``max_new_tokens`` for generation (0 for perplexity)."""
    if task.kind == "generate" and task.generation is not None:
        return task.generation.max_new_tokens
    if task.kind == "multiple_choice":
        continuations = sorted({c for ex in task.examples for c in ex.continuations})
        return max(counter(continuations), default=0) if continuations else 0
    return 0


def _lengthen(
    example: Example,
    pool: Sequence[str],
    rng: Any,
    target: int,
    counter: Callable[[Sequence[str]], list[int]],
    spec: PerturbationSpec,
) -> tuple[str, int, int]:
    """(prompt, sentences added, its tokens): the most distractor sentences that keep the
    prompt within ``target`` tokens (found by doubling, then bisection)."""
    before = spec.option("position") == "before"
    at = _insertion_point(example, spec)

    def build(count: int) -> str:
        if count == 0:
            return example.prompt
        text = " ".join(_sentence(pool, rng_state, i) for i in range(count))
        insert = text + " " if before else " " + text
        return example.prompt[:at] + insert + example.prompt[at:]

    rng_state = rng.sample(range(len(pool)), len(pool))
    length = counter([example.prompt])[0]
    if length >= target:
        return example.prompt, 0, length
    low, high = 0, 1
    while counter([build(high)])[0] <= target:
        low, high = high, high * 2
        if high > 1_000_000:
            raise FtevalError(f"long: could not reach {target} tokens with distractor text")
    while high - low > 1:
        middle = (low + high) // 2
        if counter([build(middle)])[0] <= target:
            low = middle
        else:
            high = middle
    prompt = build(low)
    return prompt, low, counter([prompt])[0]


def _insertion_point(example: Example, spec: PerturbationSpec) -> int:
    """Where distractor text goes: before the first input span, or after the last."""
    spans = example.input_spans or ((0, len(example.prompt)),)
    return spans[0][0] if spec.option("position") == "before" else spans[-1][1]


def _sentence(pool: Sequence[str], order: Sequence[int], index: int) -> str:
    return pool[order[index % len(order)]]


def validation_task(task: Task, *, limit: int | None = None) -> Task | None:
    """The task's validation split as the variant ``<task>~validation`` (choice tasks
    with a validation split other than the evaluated one), or None."""
    if task.kind != "multiple_choice" or task.loader is None:
        return None
    split = next(
        (s for s in VALIDATION_SPLITS if s in task.loader.splits() and s != task.split), None
    )
    if split is None:
        return None
    examples = task.loader.load_split(split)
    examples = examples[:limit] if limit else examples
    tagged = tuple(
        dataclasses.replace(
            example, meta={**example.meta, "parent_task": task.name, "split": VALIDATION}
        )
        for example in examples
    )
    return dataclasses.replace(task, name=variant_name(task.name, VALIDATION), examples=tagged)


def preview(task: Task, specs: Sequence[PerturbationSpec], *, n: int = 2) -> list[dict[str, Any]]:
    """The first ``n`` items of ``task`` with each perturbation applied (for
    ``fteval tasks NAME --show N --perturb ...``): ``{"id", "perturbation", "prompt",
    "perturbed", "edits"}`` per item and perturbation."""
    head = dataclasses.replace(task, examples=task.examples[:n])
    rows = []
    for spec, variant in zip(specs, perturbed_tasks(head, specs, limit=n)):
        for example in variant.examples:
            parent = example.meta.get("parent_id")
            clean = next((e.prompt for e in head.examples if e.example_id == parent), None)
            rows.append(
                {
                    "id": example.example_id,
                    "perturbation": spec.label,
                    "prompt": clean,
                    "perturbed": example.prompt,
                    "edits": example.meta.get("edits", []),
                }
            )
    return rows

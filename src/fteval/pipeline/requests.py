"""Turn a task's examples into backend requests and the answers into SampleResults.

One function per request type. Predictions only; metric values are attached by
``scoring`` so that a saved run can be re-scored without a model.

A log-likelihood that is NaN or infinite is where a model's numerical failure enters
the pipeline (weights holding NaN, a 16-bit overflow): it is refused right here, naming
the arm, the task and the item, so no score, interval or table is ever computed from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fteval.backends.base import GENERATE, LOGLIKELIHOOD, ROLLING, Backend
from fteval.errors import BackendError
from fteval.records import (
    Example,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    SampleResult,
    SamplingParams,
)
from fteval.tasks.task import Task


def run_task(task: Task, arm: str, backend: Backend, *, seed: int) -> list[SampleResult]:
    """Every example of ``task`` answered by ``arm``, in example order.

    A task's ``postprocess`` (code execution, lm-evaluation-harness metrics) then fills
    what its metrics read into each sample's ``meta``.
    """
    return run_task_arms(task, [arm], backend, seed=seed)[arm]


def run_task_arms(
    task: Task, arms: Sequence[str], backend: Backend, *, seed: int
) -> dict[str, list[SampleResult]]:
    """Every example of ``task`` answered by each of ``arms`` (one backend call for them
    all, so arms that share a base can be served in one pass), in example order."""
    if task.kind == "multiple_choice":
        samples = _run_choice(task, arms, backend)
    elif task.kind == "perplexity":
        samples = _run_rolling(task, arms, backend)
    else:
        samples = _run_generate(task, arms, backend, seed=seed)
    if task.postprocess is not None:
        for arm in arms:
            task.postprocess(samples[arm])
    return samples


def _answers(backend: Backend, kind: str, arms: Sequence[str], requests: Sequence) -> dict:
    answers = backend.answer_arms(kind, {arm: requests for arm in arms})
    for arm in arms:
        _check_count(backend, arm, requests, answers.get(arm, []))
    return answers


def _run_rolling(task: Task, arms: Sequence[str], backend: Backend) -> dict[str, list]:
    requests = [RollingLoglikelihoodRequest(ex.prompt, task.rolling_stride) for ex in task.examples]
    answers = _answers(backend, ROLLING, arms, requests)
    for arm in arms:
        for example, answer in zip(task.examples, answers[arm]):
            check_finite(answer.logprob, arm, task.name, example.example_id)
    return {
        arm: [
            SampleResult(
                task=task.name,
                example_id=example.example_id,
                arm=arm,
                prompt_hash=example.prompt_hash,
                target=None,
                prediction={"logprob": answer.logprob, "n_tokens": answer.n_tokens},
                meta={**example.meta, "stride": task.rolling_stride},
            )
            for example, answer in zip(task.examples, answers[arm])
        ]
        for arm in arms
    }


def _run_choice(task: Task, arms: Sequence[str], backend: Backend) -> dict[str, list]:
    requests = [
        LoglikelihoodRequest(example.prompt, continuation)
        for example in task.examples
        for continuation in example.continuations
    ]
    answers = _answers(backend, LOGLIKELIHOOD, arms, requests)
    out = {}
    for arm in arms:
        samples = []
        cursor = 0
        for example in task.examples:
            width = len(example.continuations)
            chosen = answers[arm][cursor : cursor + width]
            for index, answer in enumerate(chosen):
                check_finite(answer.logprob, arm, task.name, example.example_id, choice=index)
            samples.append(_choice_sample(task.name, arm, example, chosen))
            cursor += width
        out[arm] = samples
    return out


def choice_predictions(
    choices: Sequence[str], logprobs: Sequence[float], choice_chars: Sequence[int]
) -> tuple[str | None, str | None]:
    """(argmax by log-likelihood, argmax by log-likelihood per character); first wins ties.

    Per-character normalisation divides by the choice text's length (not the delimiter),
    as lm-evaluation-harness's ``acc_norm`` does. A NaN log-likelihood (numerical
    overflow) never wins; when every choice is NaN there is no prediction (None), which
    scores as wrong rather than as choice 0.
    """
    usable = [i for i, lp in enumerate(logprobs) if not math.isnan(lp)]
    if not usable:
        return None, None
    raw = max(usable, key=lambda i: (logprobs[i], -i))
    norm = max(usable, key=lambda i: (logprobs[i] / max(1, choice_chars[i]), -i))
    return choices[raw], choices[norm]


def _choice_sample(
    task: str, arm: str, example: Example, answers: Sequence[LoglikelihoodResult]
) -> SampleResult:
    logprobs = [a.logprob for a in answers]
    chars = example.meta.get("choice_chars") or [len(c.lstrip()) for c in example.continuations]
    prediction, prediction_norm = choice_predictions(example.choices, logprobs, chars)
    truncated = max(a.truncated_tokens for a in answers)
    meta = {
        **{k: v for k, v in example.meta.items() if k != "choice_chars"},
        "choices": list(example.choices),
        "prediction_norm": prediction_norm,
        "is_greedy": [a.is_greedy for a in answers],
        "continuation_tokens": [a.n_tokens for a in answers],
        "truncated_tokens": truncated,
        "truncation_side": "left" if truncated else None,
    }
    return SampleResult(
        task=task,
        example_id=example.example_id,
        arm=arm,
        prompt_hash=example.prompt_hash,
        target=example.target,
        prediction=prediction,
        choice_logprobs=logprobs,
        meta=meta,
    )


def _run_generate(
    task: Task, arms: Sequence[str], backend: Backend, *, seed: int
) -> dict[str, list]:
    spec = task.generation
    assert spec is not None, "a generate task always has a GenerationSpec"
    sampling = SamplingParams(temperature=spec.temperature, top_p=spec.top_p, n=spec.n, seed=seed)
    requests = [
        GenerateRequest(
            example.prompt, spec.stop, spec.max_new_tokens, sampling, spec.chat_template
        )
        for example in task.examples
    ]
    answers = _answers(backend, GENERATE, arms, requests)
    return {
        arm: [
            _generation_sample(task.name, arm, ex, a) for ex, a in zip(task.examples, answers[arm])
        ]
        for arm in arms
    }


def _generation_sample(task: str, arm: str, example: Example, answer: Any) -> SampleResult:
    meta = {
        **example.meta,
        "generated_tokens": list(answer.n_tokens),
        "finish_reasons": list(answer.finish_reasons),
        "truncated_tokens": answer.truncated_tokens,
        "truncation_side": "left" if answer.truncated_tokens else None,
    }
    if len(answer.texts) > 1:
        meta["samples"] = list(answer.texts)
    return SampleResult(
        task=task,
        example_id=example.example_id,
        arm=arm,
        prompt_hash=example.prompt_hash,
        target=example.target,
        prediction=answer.texts[0],
        generation=answer.texts[0],
        meta=meta,
    )


def check_finite(
    logprob: float, arm: str, task: str, example_id: str, *, choice: int | None = None
) -> None:
    """Refuse a log-likelihood that is NaN or infinite, naming where it came from.

    Raises:
        BackendError: naming the arm, task, item (and choice) and the value.
    """
    if math.isfinite(logprob):
        return
    which = f", choice {choice}" if choice is not None else ""
    raise BackendError(
        f"arm {arm!r} gave a log-likelihood of {logprob} on task {task!r}, item "
        f"{example_id!r}{which}: the model's outputs are not finite numbers (weights holding "
        "NaN or inf, or an overflow in a 16-bit dtype: try --dtype float32)"
    )


def _check_count(backend: Backend, arm: str, requests: Sequence, answers: Sequence) -> None:
    """A backend must answer every request: a short answer list would lose samples."""
    if len(answers) != len(requests):
        raise BackendError(
            f"the {backend.name} backend answered {len(answers)} of {len(requests)} requests "
            f"for arm {arm!r}"
        )

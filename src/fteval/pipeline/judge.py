"""The judge stage of judged tasks (AlpacaEval-style): after every arm has answered.

For each judged task, each judged arm and each item, the judge sees the instruction and
two answers, the arm's and the opponent's (the set's reference answer, or the base arm's
answer), in both orders, and the verdict is read from the log-likelihood of the verdict
tokens (``" 1"`` vs ``" 2"``) after the prompt; never by parsing free text. Equal
log-likelihoods are a tie; a NaN or a failed request is unreadable. Judgments go to
``judgments.jsonl`` in the run directory (one line per item, arm and order, with both
log-likelihoods), so re-scoring needs no model; a resumed run judges only what is
missing.

The judge is a ``Judge``: ``LoglikelihoodJudge`` serves a model through the backend
machinery's loglikelihood requests: a local HF model (a separate model, loaded after the
evaluated arms are released), or a model served by an OpenAI-compatible server
(``--judge openai:NAME`` on ``--base-url``, or ``openai:NAME@URL``), scored through
``/v1/completions`` with echoed log-probabilities like any endpoint arm.

The judge can never be one of the evaluated arms: ``refuse_evaluated_judge`` compares
paths and the sha256 of weight files before any model loads.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from fteval.backends import Backend, make_backend
from fteval.backends.base import LOGLIKELIHOOD
from fteval.backends.hf_loading import is_local, weight_hashes
from fteval.backends.http import HttpError
from fteval.config import RunConfig
from fteval.errors import BackendError, ConfigError
from fteval.records import ArmSpec, LoglikelihoodRequest, SampleResult, append_jsonl, read_jsonl
from fteval.tasks import Task

logger = logging.getLogger(__name__)

JUDGMENTS_FILE = "judgments.jsonl"
ENDPOINT_PREFIX = "openai:"  # a judge served by an OpenAI-compatible server
VERDICT_TOKENS = (" 1", " 2")
JUDGE_TEMPLATE = (
    "You are comparing two responses to the same instruction. Decide which response "
    "follows the instruction better: more helpful, more accurate, more complete. The "
    "order of the responses does not matter, and neither does their length.\n\n"
    "Instruction:\n{instruction}\n\n"
    "Response 1:\n{first}\n\n"
    "Response 2:\n{second}\n\n"
    "Which response is better? Answer 1 or 2.\nAnswer:"
)


class Judge(Protocol):
    """Decides between two answers.

    ``prefer`` returns, per prompt, the log-likelihoods of "response 1 is better" and
    "response 2 is better", or None when unreadable.
    """

    def identity(self) -> dict[str, Any]:
        """What identifies the judge (recorded in the manifest)."""
        ...

    def prefer(self, prompts: Sequence[str]) -> list[tuple[float, float] | None]:
        """Log-likelihoods of the two verdicts after each prompt."""
        ...

    def close(self) -> None:
        """Free the judge."""
        ...


class LoglikelihoodJudge:
    """A judge answering through a backend's loglikelihood requests (arm ``judge``)."""

    def __init__(self, backend: Backend, arm: str = "judge") -> None:
        self.backend = backend
        self.arm = arm

    def identity(self) -> dict[str, Any]:
        return {**self.backend.identity(self.arm).to_json(), "verdict_tokens": VERDICT_TOKENS}

    def prefer(self, prompts: Sequence[str]) -> list[tuple[float, float] | None]:
        try:
            return self._verdicts(prompts)
        except HttpError as error:
            if not _refused_request(error) or len(prompts) == 1:
                raise
        # a server refused the batch for one request (e.g. a prompt over its context
        # length): ask prompt by prompt; only the refused ones are unreadable
        out: list[tuple[float, float] | None] = []
        for prompt in prompts:
            try:
                out += self._verdicts([prompt])
            except HttpError as error:
                if not _refused_request(error):
                    raise
                logger.warning("judge: a prompt is unreadable: %s", error)
                out.append(None)
        return out

    def _verdicts(self, prompts: Sequence[str]) -> list[tuple[float, float] | None]:
        requests = [LoglikelihoodRequest(p, token) for p in prompts for token in VERDICT_TOKENS]
        answers = self.backend.loglikelihood(self.arm, requests)
        out: list[tuple[float, float] | None] = []
        for i in range(len(prompts)):
            first, second = answers[2 * i].logprob, answers[2 * i + 1].logprob
            readable = math.isfinite(first) and math.isfinite(second)
            out.append((first, second) if readable else None)
        return out

    def close(self) -> None:
        self.backend.close()


def _refused_request(error: HttpError) -> bool:
    """A 4xx reply about the request itself (not auth, not rate limits).

    The server will never answer this request, so its judgment is unreadable rather than
    the run failed.
    """
    return error.status is not None and 400 <= error.status < 500 and error.status not in (
        401, 403, 404, 429,
    )  # fmt: skip


def make_judge(config: RunConfig) -> Judge:
    """The judge the run names: a local HF model (directory or hub id) or a served model.

    A served model is named ``openai:NAME[@URL]``.

    A local model's files are checked (no weights load); it loads when first asked. A
    served model is found on its server and probed now, so a wrong name or address fails
    before any evaluated arm runs.
    """
    if config.judge is None:
        raise ConfigError("a judged task needs a judge model: --judge MODEL")
    if config.judge.startswith(ENDPOINT_PREFIX):
        return _endpoint_judge(config)
    looks_local = config.judge.startswith((".", "/", "~")) or Path(config.judge).exists()
    if looks_local and not Path(config.judge).expanduser().is_dir():
        raise ConfigError(f"--judge {config.judge}: no such model folder")
    arm = ArmSpec("judge", "base", config.judge, "judge")
    settings = {
        "dtype": config.dtype,
        "device": config.device,
        "batch_size": config.batch_size,
        "max_length": config.max_length,
        "allow_pickle": config.allow_pickle,
        "trust_remote_code": config.trust_remote_code,
    }
    backend = make_backend("hf", [arm], progress=False, **settings)
    backend.check_inputs()
    return LoglikelihoodJudge(backend)


def _endpoint_judge(config: RunConfig) -> Judge:
    """A judge served by an OpenAI-compatible server.

    Its key comes from the run's ``api_key_env`` (never recorded).
    """
    arm = ArmSpec("judge", "base", config.judge or "", "judge")
    backend = make_backend(
        "openai",
        [arm],
        progress=False,
        base_url=config.base_url,
        api_key_env=config.api_key_env,
        concurrency=config.concurrency,
        timeout_s=config.request_timeout_s,
        max_retries=config.max_retries,
    )
    backend.check_servers([LOGLIKELIHOOD])  # a judge scores verdicts by log-likelihood
    return LoglikelihoodJudge(backend)


def refuse_evaluated_judge(judge: str, arms: Sequence[ArmSpec]) -> None:
    """ConfigError when the judge is one of the evaluated arms (same path or weights)."""
    resolved = _resolved(judge)
    for arm in arms:
        if _resolved(arm.path) == resolved:
            raise ConfigError(
                f"--judge {judge}: the judge is the evaluated arm {arm.name!r} ({arm.path}); "
                "a model cannot judge its own answers"
            )
    if not is_local(judge):
        return
    mine = set(weight_hashes(judge).values())
    if not mine:
        return
    for arm in arms:
        local = arm.kind != "adapter" and is_local(arm.path)
        if local and mine & set(weight_hashes(arm.path).values()):
            raise ConfigError(
                f"--judge {judge}: its weights are those of the evaluated arm {arm.name!r} "
                f"({arm.path}, same sha256); a model cannot judge its own answers"
            )


def _resolved(path: str) -> str:
    candidate = Path(path)
    return str(candidate.resolve()) if candidate.exists() else path


def with_judge_name(tasks: Sequence[Task], config: RunConfig) -> list[Task]:
    """Judged tasks carry the judge's name and the base arm in their ``judge`` record."""
    base = config.arms()[0].name
    out = []
    for task in tasks:
        if task.judge is not None:
            record = {**task.judge, "judge": config.judge or "injected", "base_arm": base}
            task = dataclasses.replace(task, judge=record)
        out.append(task)
    return out


def judge_prompt(instruction: str, first: str, second: str) -> str:
    """The judge's prompt for one order of two answers."""
    return JUDGE_TEMPLATE.format(instruction=instruction, first=first, second=second)


def run_judge(
    run_dir: Path,
    tasks: Sequence[Task],
    samples: Sequence[SampleResult],
    judge: Judge,
    *,
    batch: int = 256,
) -> None:
    """Judge every (task, arm, item) not yet in ``judgments.jsonl``; append the verdicts."""
    path = run_dir / JUDGMENTS_FILE
    done = {
        (r["task"], r["arm"], r["example_id"], r["order"])
        for r in (read_jsonl(path) if path.exists() else [])
    }
    pending = []
    for task in tasks:
        if task.judge is not None:
            pending += _requests(task, samples, done)
    for start in range(0, len(pending), batch):
        chunk = pending[start : start + batch]
        verdicts = judge.prefer([p["prompt"] for p in chunk])
        append_jsonl(path, [_record(p, v) for p, v in zip(chunk, verdicts)])


def _requests(
    task: Task, samples: Sequence[SampleResult], done: set[tuple[str, str, str, str]]
) -> list[dict[str, Any]]:
    assert task.judge is not None
    opponent = task.judge.get("opponent", "reference")
    base = task.judge.get("base_arm", "base")
    instructions = {ex.example_id: ex.meta.get("instruction", ex.prompt) for ex in task.examples}
    by_arm: dict[str, dict[str, SampleResult]] = {}
    for sample in samples:
        if sample.task == task.name:
            by_arm.setdefault(sample.arm, {})[sample.example_id] = sample
    out = []
    for arm, items in by_arm.items():
        if opponent == "base" and arm == base:
            continue
        for example_id, sample in items.items():
            mine = str(sample.generation or "")
            if opponent == "base":
                other = str(by_arm[base][example_id].generation or "")
            else:
                target = sample.target
                other = target if isinstance(target, str) else str(target[0])
            instruction = str(instructions.get(example_id, ""))
            for order, (first, second) in (
                ("arm_first", (mine, other)),
                ("opponent_first", (other, mine)),
            ):
                if (task.name, arm, example_id, order) in done:
                    continue
                out.append(
                    {
                        "task": task.name,
                        "arm": arm,
                        "example_id": example_id,
                        "opponent": opponent,
                        "order": order,
                        "prompt": judge_prompt(instruction, first, second),
                    }
                )
    return out


def _record(pending: dict[str, Any], verdict: tuple[float, float] | None) -> dict[str, Any]:
    record = {k: v for k, v in pending.items() if k != "prompt"}
    if verdict is None:
        return {**record, "logprob_1": None, "logprob_2": None, "verdict": None,
                "error": "unreadable: the judge returned no finite log-likelihood"}  # fmt: skip
    first, second = verdict
    arm_is_first = pending["order"] == "arm_first"
    mine, other = (first, second) if arm_is_first else (second, first)
    outcome = "tie" if mine == other else ("arm" if mine > other else "opponent")
    return {**record, "logprob_1": first, "logprob_2": second, "verdict": outcome}


def unreadable_judgments(judgments: Sequence[dict[str, Any]]) -> str | None:
    """A warning counting unreadable judgments (None when every one was read).

    Raises:
        BackendError: not one judgment was readable: the judge gives no finite
            log-likelihood (NaN or infinite outputs), so no win rate can be computed.
    """
    unreadable = [j for j in judgments if j.get("verdict") is None]
    if not unreadable:
        return None
    first = unreadable[0]
    where = f"first: task {first.get('task')!r}, arm {first.get('arm')!r}, item " + repr(
        first.get("example_id")
    )
    if len(unreadable) == len(judgments):
        raise BackendError(
            f"the judge gave no finite log-likelihood for any of the {len(judgments)} "
            f"judgments ({where}): its outputs are NaN or infinite, so there is no win rate"
        )
    return (
        f"judge: {len(unreadable)} of {len(judgments)} judgments unreadable (no finite "
        f"log-likelihood; {where}); their items are left out of the win rates"
    )


def read_judgments(run_dir: Path) -> list[dict[str, Any]]:
    """The judgments of a run directory (empty when it has none)."""
    path = Path(run_dir) / JUDGMENTS_FILE
    return list(read_jsonl(path)) if path.exists() else []

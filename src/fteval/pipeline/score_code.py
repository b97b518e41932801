"""``fteval score --problems``: pass@k of HumanEval-format samples files, in the sandbox.

Each samples file (``task_id``, ``completion``) is one arm, the first the reference;
problems are paired across arms by ``task_id``. Per-sample outcomes go to
``executions.jsonl`` in the run directory; per-problem (n, c) counts are the samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fteval._util.paths import check_dir_target
from fteval.compare import StatsOptions
from fteval.errors import ConfigError
from fteval.pipeline.score_files import scored_arm, write_scored_run
from fteval.records import SampleResult
from fteval.records.integrity import check_inputs_survive
from fteval.scoring import TaskInfo


def score_code_files(
    files: Sequence[tuple[str, str]],
    problems: str,
    *,
    k: Sequence[int] = (1, 10, 100),
    timeout_s: float = 3.0,
    max_workers: int | None = None,
    allow_unsafe: bool = False,
    task_name: str = "code",
    out: str | Path | None = None,
    stats_options: StatsOptions | None = None,
) -> tuple[dict[str, Any], Path]:
    """Execute every arm's samples, then write a scored run with pass@k per arm.

    Only k values no larger than every problem's sample count are reported.

    Raises:
        ConfigError: a k below 1, a timeout that is not a positive number of seconds,
            fewer than 1 worker, or an --out that cannot be a directory (before any
            program runs).
    """
    from fteval.sandbox.humaneval import evaluate_code_samples

    check_code_options(k, timeout_s, max_workers)
    if out is not None:
        check_dir_target(out, "--out")
    check_inputs_survive(out, [problems, *(path for _, path in files)])

    samples: list[SampleResult] = []
    executions: list[dict[str, Any]] = []
    arms = []
    smallest_n = None
    for index, (arm, path) in enumerate(files):
        result = evaluate_code_samples(
            problems, path, k=k, timeout_s=timeout_s, max_workers=max_workers,
            allow_unsafe=allow_unsafe,
        )  # fmt: skip
        arms.append(scored_arm(index, arm, path, isolation=result.isolation))
        for task_id, (n, c) in result.counts.items():
            smallest_n = n if smallest_n is None else min(smallest_n, n)
            samples.append(
                SampleResult(
                    task=task_name,
                    example_id=str(task_id),
                    arm=arm,
                    prompt_hash="",
                    target=None,
                    prediction={"n": n, "c": c},
                    meta={"signature": result.signature},
                )
            )
        executions += [{"arm": arm, **record} for record in result.to_records()]
    ks = tuple(sorted(x for x in set(k) if smallest_n is not None and x <= smallest_n))
    if not ks:
        raise ConfigError(f"no k in {sorted(set(k))} fits the {smallest_n} samples per problem")
    metrics = tuple({"name": "pass@k", "k": x} for x in ks)
    task = TaskInfo(task_name, "code", metrics, (), len(samples) // len(files))
    config = {"problems": problems, "files": [list(f) for f in files], "k": list(ks),
              "timeout_s": timeout_s, "allow_unsafe": allow_unsafe}  # fmt: skip
    return write_scored_run(
        samples, arms, task, config, out=out, stats_options=stats_options,
        extra_files={"executions.jsonl": executions},
    )  # fmt: skip


def check_code_options(k: Sequence[int], timeout_s: float, max_workers: int | None) -> None:
    """``--k`` values >= 1, ``--timeout`` finite and > 0 seconds, ``--workers`` >= 1.

    Raises:
        ConfigError: naming the flag and the value.
    """
    bad_k = [x for x in k if isinstance(x, bool) or not isinstance(x, int) or x < 1]
    if not k or bad_k:
        raise ConfigError(f"--k: every k must be an integer >= 1 (value: {list(k)!r})")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)):
        raise ConfigError(f"--timeout: expected seconds, a number (value: {timeout_s!r})")
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise ConfigError(f"--timeout: must be a finite number of seconds > 0 (value: {timeout_s})")
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise ConfigError(f"--workers: must be an integer >= 1 (value: {max_workers!r})")

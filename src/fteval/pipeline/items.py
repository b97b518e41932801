"""items.jsonl: what each model was shown, once per task x example (not per arm).

samples.jsonl holds every arm's answer and a hash of the prompt; the prompt itself is
written here once, so that reports (the item browser) and ``fteval compare`` can show
and check it from the run directory alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fteval.tasks import Task


def item_records(tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
    """``{"task", "example_id", "prompt_hash", "prompt", "choices"}`` per example."""
    for task in tasks:
        for example in task.examples:
            record: dict[str, Any] = {
                "task": task.name,
                "example_id": example.example_id,
                "prompt_hash": example.prompt_hash,
                "prompt": example.prompt,
            }
            if example.choices:
                record["choices"] = list(example.choices)
            yield record

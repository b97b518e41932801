"""Batching by token budget (pure: no model needed)."""

from __future__ import annotations

import random

from fteval.backends.hf_scoring import budget_batches


def test_budget_batches_respect_every_budget_and_keep_every_row_once():
    rng = random.Random(0)
    for _ in range(200):
        lengths = [rng.randint(1, 300) for _ in range(rng.randint(1, 60))]
        scored = [rng.randint(1, 5) for _ in lengths]
        batches = budget_batches(lengths, max_tokens=1024, max_rows=8, scored=scored,
                                 max_scored=12, max_padding=0.1)  # fmt: skip
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for batch in batches:
            width = max(lengths[i] for i in batch)
            real = sum(lengths[i] for i in batch)
            if len(batch) > 1:  # a lone row may exceed a budget; a batch never does
                assert len(batch) <= 8 and len(batch) * width <= 1024
                assert sum(scored[i] for i in batch) <= 12
                assert len(batch) * width <= 1.1 * real


def test_budget_batches_put_the_longest_rows_first():
    batches = budget_batches([3, 9, 5, 9], max_tokens=100, max_rows=2, max_padding=1.0)
    assert batches == [[1, 3], [2, 0]]

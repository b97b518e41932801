"""Few-shot samplers: which rows of the pool become an example's shots.

Small classes in the manner of lm-evaluation-harness's ``api/samplers.py``
(``ContextSampler``, ``FirstNSampler``): each turns (example id, the pool rows that are
the example itself) into pool indices, in shot order. ``make_sampler`` picks one by the
``fewshot.sampler`` key of a task spec.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from fteval.tasks.spec import FewShotSpec


class FewShotSampler:
    """Chooses ``n`` of ``pool_size`` pool rows per example; never the example itself.

    Args:
        pool_size: rows in the few-shot pool (>= 0).
        n: shots per example (>= 0).
        seed: the sampler's seed (samplers that draw at random).
    """

    def __init__(self, pool_size: int, n: int, seed: int = 0) -> None:
        self.pool_size = pool_size
        self.n = n
        self.seed = seed

    def choose(self, example_id: str, own: Sequence[int]) -> list[int]:
        """Pool indices of the example's shots, in order (at most ``n``).

        Args:
            example_id: the example's id.
            own: pool indices of rows that are the example itself (same id, same file).
        """
        raise NotImplementedError


class FirstNSampler(FewShotSampler):
    """The first ``n`` pool rows in file order (lm-evaluation-harness's ``first_n``)."""

    def choose(self, example_id: str, own: Sequence[int]) -> list[int]:
        return [i for i in range(self.pool_size) if i not in own][: self.n]


class RandomSampler(FewShotSampler):
    """``n`` rows drawn per example by ``random.Random(f"{seed}:{example_id}")``: an
    example's shots never depend on which other examples are evaluated."""

    def choose(self, example_id: str, own: Sequence[int]) -> list[int]:
        rng = random.Random(f"{self.seed}:{example_id}")
        candidates = [i for i in range(self.pool_size) if i not in own]
        return rng.sample(candidates, min(self.n, len(candidates)))


class SequentialSampler(FewShotSampler):
    """lm-evaluation-harness's default ``ContextSampler``: one ``random.Random(seed)``
    drawing for each example in example order, so calls must come in that order.

    It draws ``n + 1`` rows when the example is in the pool (then drops it), and also
    when ``extra_draw`` is set: lm-evaluation-harness 0.4.x does so whenever a task's
    few-shot and test splits are configured alike.
    """

    def __init__(self, pool_size: int, n: int, seed: int = 0, *, extra_draw: bool = False):
        super().__init__(pool_size, n, seed)
        self.extra_draw = extra_draw
        self._rng = random.Random(seed)

    def choose(self, example_id: str, own: Sequence[int]) -> list[int]:
        extra = len(own) or int(self.extra_draw)
        drawn = self._rng.sample(range(self.pool_size), min(self.n + extra, self.pool_size))
        return [i for i in drawn if i not in own][: self.n]


def make_sampler(spec: FewShotSpec, pool_size: int) -> FewShotSampler:
    """The sampler a spec's ``fewshot.sampler`` names, over a pool of ``pool_size`` rows."""
    if spec.sampler == "first_n":
        return FirstNSampler(pool_size, spec.n, spec.seed)
    if spec.sampler == "sequential":
        return SequentialSampler(pool_size, spec.n, spec.seed, extra_draw=spec.extra_draw)
    return RandomSampler(pool_size, spec.n, spec.seed)

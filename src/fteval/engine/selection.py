"""A comparison with the best of several arms chosen on the same items (no winner's curse).

Picking the best of ``K`` checkpoints on the test items and then testing "last vs best"
on those same items finds a difference where there is none: with ten interchangeable
checkpoints the naive paired test says "regressed" several times as often as alpha
(``benchmarks/checkpoint_selection.py``). ``compare_with_best`` accounts for the choice:

* **test** (``max_permutation``): the statistic is the best candidate's lead over the
  last one, ``T = max_j s_j - s_last`` (signs flipped for lower-is-better metrics).
  Under the null hypothesis the candidates are exchangeable on every item, so each trial
  shuffles the ``K`` candidates' statistic rows of every item independently and
  recomputes ``T`` *including the choice of the best*. ``p = (#{T_perm >= T_obs} + 1) /
  (trials + 1)``, a valid p-value for the selected comparison: its false-positive rate
  is at most alpha whatever ``K`` is.
* **interval**: a paired bootstrap that re-selects the best candidate in every resample,
  so the interval carries the selection's variability (percentile method; the delta is
  never on the better side by construction).

When a validation split exists the best candidate should be chosen there and compared
with ``engine.compare`` on the test items instead (``robustness.checkpoints`` does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from fteval.engine.items import ItemStats, PerItem
from fteval.engine.measure import seed_for
from fteval.engine.options import StatsOptions
from fteval.records.rows import Comparison
from fteval.stats import _common

MAX_PERMUTATION = "max_permutation"
_BLOCK_ELEMENTS = 1 << 22


def common_items(candidates: Sequence[PerItem]) -> list[ItemStats]:
    """Every candidate restricted to the items all of them have, in the first one's order."""
    items = [ItemStats.of(c) for c in candidates]
    shared = set(items[0].example_ids)
    for item in items[1:]:
        shared &= set(item.example_ids)
    order = [i for i in items[0].example_ids if i in shared]
    out = []
    for item in items:
        position = {example: row for row, example in enumerate(item.example_ids)}
        out.append(item.subset([position[i] for i in order]))
    return out


def best_index(values: Sequence[float], higher_is_better: bool) -> int:
    """The best candidate by value; on a tie the later one (the last wins ties)."""
    sign = 1.0 if higher_is_better else -1.0
    scored = [(sign * v, i) for i, v in enumerate(values) if math.isfinite(v)]
    return max(scored)[1] if scored else len(values) - 1


def compare_with_best(
    candidates: Sequence[PerItem],
    names: Sequence[str],
    options: StatsOptions,
    *,
    task: str,
    section: str = "checkpoints",
    subject: Mapping[str, str] | None = None,
    family_pair: str = "",
) -> Comparison:
    """The last candidate vs the best of all, chosen on these items (module docstring).

    Args:
        candidates: per-item statistics of each candidate, the last one last.
        names: the candidates' arm names, in the same order.
        options: the run's statistical settings.
        task: the task the items belong to.
        section: the results section of the comparison.
        subject: what else identifies it (e.g. ``{"series": "run1"}``).
        family_pair: the family key's arm pair (default: the series of ``names``).

    Returns:
        An unadjusted comparison: ``arm`` the last candidate, ``reference_arm`` the best.
    """
    items = common_items(candidates)
    metric = items[0].metric
    n = len(items[0].stats)
    stacked = np.stack([item.stats for item in items])  # [K, n, k]
    values = [item.value for item in items]
    best = best_index(values, metric.higher_is_better)
    seed = seed_for(options.seed, "best-of", *(item.digest for item in items))
    low, high, se = _reselected_interval(metric, stacked, options, seed)
    p_value = _max_permutation_p(metric, stacked, options.permutations, seed)
    left_out = len(ItemStats.of(candidates[-1]).example_ids) - n
    notes = [
        f"the best of {len(items)} was chosen on these items: the p-value is of the largest "
        "lead over the last under exchangeable candidates (max-statistic permutation), "
        "the interval re-selects the best in every resample"
    ]
    if left_out:
        notes.append(f"{left_out} items not held by every candidate were left out")
    return Comparison(
        task=task,
        metric=metric.key,
        arm=names[-1],
        reference_arm=names[best],
        reference_kind="selected",
        section=section,
        subject=dict(subject or {}),
        value=values[-1],
        reference_value=values[best],
        delta=values[-1] - values[best],
        ci_low=low,
        ci_high=high,
        se=se,
        p_value=p_value,
        test=MAX_PERMUTATION,
        n=n,
        scale=metric.scale,
        unit=metric.unit,
        higher_is_better=metric.higher_is_better,
        signature=f"{metric.signature()}|best-of:{len(items)}|paired-ci:percentile-reselected"
        f"|conf:{options.confidence:g}|bs:{options.bootstrap_resamples}|seed:{seed}"
        f"|test:{MAX_PERMUTATION}|perm:{options.permutations}"
        f"|correction:{options.correction}|scope:{options.correction_scope}",
        note="; ".join(notes),
        test_id=f"{MAX_PERMUTATION}|" + "|".join(item.digest for item in items),
        family_pair=family_pair or "series " + "/".join(names),
    )


def _scores(metric: object, totals: np.ndarray, n: int) -> np.ndarray:
    """The metric on totals ``[..., k]`` over ``n`` items each, shape ``[...]``."""
    flat = totals.reshape(-1, totals.shape[-1])
    values = _common.scores(metric, flat, n)  # type: ignore[arg-type]
    return values.reshape(totals.shape[:-1])


def _lead(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """The best candidate's lead over the last, ``[...]`` from values ``[..., K]``."""
    oriented = values if higher_is_better else -values
    with np.errstate(invalid="ignore"):
        return np.nanmax(oriented, axis=-1) - oriented[..., -1]


def _reselected_interval(
    metric: object, stacked: np.ndarray, options: StatsOptions, seed: int
) -> tuple[float, float, float]:
    """Percentile interval of ``s_last - s_best`` with the best re-chosen per resample."""
    n_candidates, n, k = stacked.shape
    if n < 2:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    flat = np.concatenate(list(stacked), axis=1)  # [n, K * k]
    totals = _common.resampled_totals(flat, options.bootstrap_resamples, rng)
    values = _scores(metric, totals.reshape(-1, n_candidates, k), n)  # [B, K]
    higher = bool(getattr(metric, "higher_is_better", True))
    with np.errstate(invalid="ignore"):
        replicates = -_lead(values, higher) * (1.0 if higher else -1.0)
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < 2:
        return math.nan, math.nan, math.nan
    alpha = 1.0 - options.confidence
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high), float(np.std(finite, ddof=1))


def _max_permutation_p(metric: object, stacked: np.ndarray, trials: int, seed: int) -> float:
    """p-value of the best candidate's lead over the last (module docstring)."""
    n_candidates, n, k = stacked.shape
    higher = bool(getattr(metric, "higher_is_better", True))
    observed_values = _scores(metric, stacked.sum(axis=1), n)  # [K]
    observed = float(_lead(observed_values, higher))
    if not math.isfinite(observed):
        return math.nan
    if observed <= 0.0:
        return 1.0
    tol = _common.REL_TOL * max(1.0, float(np.nanmax(np.abs(observed_values))))
    rng = np.random.default_rng(seed + 1)
    by_item = np.ascontiguousarray(stacked.transpose(1, 0, 2))  # [n, K, k]
    step = max(1, _BLOCK_ELEMENTS // max(1, n * n_candidates * k))
    extreme = valid = 0
    for start in range(0, trials, step):
        rows = min(step, trials - start)
        order = np.argsort(rng.random((rows, n, n_candidates)), axis=-1)  # [rows, n, K]
        shuffled = np.take_along_axis(by_item[None, :, :, :], order[..., None], axis=2)
        leads = _lead(_scores(metric, shuffled.sum(axis=1), n), higher)  # [rows]
        finite = np.isfinite(leads)
        valid += int(finite.sum())
        extreme += int(np.count_nonzero(leads[finite] >= observed - tol))
    return (extreme + 1) / (valid + 1)

"""AlpacaEval-style judged win rates, from saved judgments (no model).

A judgment (one line of ``judgments.jsonl``, written by ``pipeline.judge``) says which
of two answers to one instruction the judge preferred, for one presentation order:
``verdict`` is ``"arm"``, ``"opponent"``, ``"tie"`` or null (unreadable, with ``error``).
Each item is judged in both orders, which cancels position bias. An item's value for an
arm is the mean over the two orders of 1 (arm preferred), 0.5 (tie) or 0 (opponent
preferred): 1 is a win, 0 a loss, anything between a tie, so ties count half. An item
whose judgment could not be read (in either order) is an error counted for that arm in
``judge[].unreadable``, never a score; it is left out of every arm's rows of that task,
since comparisons are paired on the same items.

Rows (ordinary ``scores``/``comparisons``, so CIs, paired tests, corrections and
verdicts apply), values in [0, 1], scale 100:

* ``win_rate``: the mean item value.
* ``lc_win_rate``: a length-controlled win rate after AlpacaEval 2.0's (Dubois et al.
  2024): a logistic regression of the item value on ``tanh(length difference / its
  standard deviation)`` (lengths in characters, arm minus opponent, the deviation over the
  arm's items), fitted by maximum likelihood with soft labels; the length-controlled win
  rate is ``sigmoid(intercept)``, the predicted preference at equal length. Its per-item
  statistics make every bootstrap or permutation resample refit the regression on that
  resample (weights = resample counts).

  **Not the leaderboard's number.** AlpacaEval 2.0's LC win rate differs in three ways,
  so the two must not be compared: it adds an instruction-difficulty term fitted on its
  leaderboard of other models' judgments (none exists in a run); it fits the regression
  with regularisation and cross-validation over many models, where fteval fits this one
  arm's items alone, unregularised; and its opponent is the leaderboard's baseline
  (GPT-4 Turbo's answers), where fteval's is the task's reference answers or the base
  arm. Use it to compare the arms of one run with each other, not with published scores.

Against the base arm's answers, the base arm's own values are 0.5 by definition (an
answer ties with itself; not judged), so each comparison with base tests a win rate
against one half.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.compare.rows import JudgeRow
from fteval.metrics import MeanMetric, Metric
from fteval.records import SampleResult
from fteval.scoring import ArmStats, TaskInfo
from fteval.version import __version__

VERDICT_VALUE = {"arm": 1.0, "tie": 0.5, "opponent": 0.0}
NEWTON_STEPS = 50


class WinRate(MeanMetric):
    """Share of items the judge preferred the arm's answer on, ties counting half."""

    name: ClassVar[str] = "win_rate"
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "proportion"

    def __init__(self, judge: str = "", opponent: str = "reference") -> None:
        self.judge = judge
        self.opponent = opponent

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        return np.asarray(predictions, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return (
            f"win_rate|judge:{self.judge}|opponent:{self.opponent}|orders:both|ties:half"
            f"|verdict:loglikelihood|fteval:{__version__}"
        )


class LengthControlledWinRate(Metric):
    """A length-controlled win rate after AlpacaEval 2.0's, in [0, 1] (see the module
    docstring: no difficulty term, no regularised cross-validated fit, no leaderboard
    baseline, so not comparable with the AlpacaEval leaderboard).

    Per-item statistics, for ``n`` items: ``[one-hot(i), value * one-hot(i),
    x * one-hot(i)]`` (``3n`` columns, ``x = tanh(length difference / sd)``), so summed
    rows give each item's resample weight, value and covariate, and ``from_totals`` fits
    the weighted regression.
    """

    name: ClassVar[str] = "lc_win_rate"
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "proportion"

    def __init__(self, n_items: int, judge: str = "", opponent: str = "reference") -> None:
        self.n_items = n_items
        self.judge = judge
        self.opponent = opponent

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        raise TypeError("lc_win_rate statistics are built by lc_statistics")

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        k = self.n_items
        flat = totals.reshape(-1, 3 * k)
        weights = flat[:, :k]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(weights > 0, flat[:, k : 2 * k] / np.where(weights > 0, weights, 1), 0)
            x = np.where(weights > 0, flat[:, 2 * k :] / np.where(weights > 0, weights, 1), 0)
        out = fit_lc(y, x, weights)
        return out.reshape(totals.shape[:-1])

    def signature(self) -> str:
        return (
            f"lc_win_rate|judge:{self.judge}|opponent:{self.opponent}"
            "|glm:logit(pref)~1+tanh(dlen/sd)|len:chars|difficulty:none"
            f"|fteval:{__version__}"
        )


def fit_lc(y: np.ndarray, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sigmoid(intercept) of weighted soft-label logistic regressions, one per row.

    Args:
        y: preferences in [0, 1], ``[b, n]``.
        x: the length covariate, ``[b, n]``.
        weights: item weights (resample counts), ``[b, n]``.

    Returns:
        ``[b]`` length-controlled win rates in [0, 1]; NaN for a row without weight. When
        every preference is 1 (or 0) the maximum-likelihood intercept is infinite, and the
        value is its limit, 1 (or 0).
    """
    y, x, w = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (y, x, weights))
    total = w.sum(axis=1)
    mean_y = np.divide((w * y).sum(axis=1), total, out=np.full(len(w), np.nan), where=total > 0)
    theta = np.zeros((len(w), 2))
    for _ in range(NEWTON_STEPS):
        z = theta[:, :1] + theta[:, 1:] * x
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        r = w * (y - p)
        grad = np.stack([r.sum(axis=1), (r * x).sum(axis=1)], axis=1)
        s = w * p * (1 - p)
        h00, h01, h11 = s.sum(axis=1), (s * x).sum(axis=1), (s * x * x).sum(axis=1)
        det = h00 * h11 - h01 * h01
        ridge = np.where(np.abs(det) < 1e-12, 1e-9, 0.0)
        h00r, h11r = h00 + ridge, h11 + ridge
        det = h00r * h11r - h01 * h01
        step0 = (h11r * grad[:, 0] - h01 * grad[:, 1]) / det
        step1 = (h00r * grad[:, 1] - h01 * grad[:, 0]) / det
        step = np.stack([np.clip(step0, -5, 5), np.clip(step1, -5, 5)], axis=1)
        theta += step
        if not np.any(np.abs(step) > 1e-12):  # every row has converged (NaN rows: none)
            break
    value = 1.0 / (1.0 + np.exp(-np.clip(theta[:, 0], -30, 30)))
    value = np.where(mean_y >= 1.0, 1.0, np.where(mean_y <= 0.0, 0.0, value))
    return np.where(total > 0, value, np.nan)


def item_values(
    judgments: Sequence[Mapping[str, Any]], task: str, arm: str
) -> tuple[dict[str, float], set[str]]:
    """(example id -> item value, ids with an unreadable judgment) of one arm on one task."""
    orders: dict[str, list[float | None]] = {}
    for row in judgments:
        if row["task"] != task or row["arm"] != arm:
            continue
        verdict = row.get("verdict")
        orders.setdefault(row["example_id"], []).append(VERDICT_VALUE.get(verdict or ""))
    values, unreadable = {}, set()
    for example_id, outcomes in orders.items():
        if len(outcomes) != 2 or any(o is None for o in outcomes):
            unreadable.add(example_id)
        else:
            values[example_id] = float(np.mean([o for o in outcomes if o is not None]))
    return values, unreadable


def judged_table(
    tasks: Sequence[TaskInfo],
    samples: Sequence[SampleResult],
    judgments: Sequence[Mapping[str, Any]],
) -> tuple[dict[tuple[str, str, str], ArmStats], list[JudgeRow]]:
    """The judged tasks' ArmStats (``win_rate``, ``lc_win_rate``) and ``judge`` rows."""
    table: dict[tuple[str, str, str], ArmStats] = {}
    rows: list[JudgeRow] = []
    for task in tasks:
        if not task.judge:
            continue
        made, summary = _task_table(task, samples, judgments)
        table.update(made)
        rows += summary
    return table, rows


def _task_table(
    task: TaskInfo, samples: Sequence[SampleResult], judgments: Sequence[Mapping[str, Any]]
) -> tuple[dict, list[JudgeRow]]:
    judge = str((task.judge or {}).get("judge", ""))
    opponent = str((task.judge or {}).get("opponent", "reference"))
    by_arm: dict[str, dict[str, SampleResult]] = {}
    for sample in samples:
        if sample.task == task.name:
            by_arm.setdefault(sample.arm, {})[sample.example_id] = sample
    if not by_arm:
        return {}, []
    base = (task.judge or {}).get("base_arm", "base")
    judged_arms = [a for a in by_arm if not (opponent == "base" and a == base)]
    values, unreadable = {}, {}
    for arm in judged_arms:
        values[arm], unreadable[arm] = item_values(judgments, task.name, arm)
    ids = [i for i in next(iter(by_arm.values())) if all(i in values[a] for a in judged_arms)]
    if opponent == "base" and base in by_arm:
        values[base] = dict.fromkeys(ids, 0.5)
        unreadable[base] = set()
    table, rows = {}, []
    for arm in by_arm:
        if arm not in values or not ids:
            continue
        lengths = [_length(by_arm[arm][i]) for i in ids]
        other = [_opponent_length(by_arm, base, opponent, i) for i in ids]
        y = np.array([values[arm][i] for i in ids])
        diff = np.array(lengths, dtype=float) - np.array(other, dtype=float)
        sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
        x = np.tanh(diff / sd) if sd > 0 else np.zeros(len(diff))
        win = WinRate(judge, opponent)
        lc = LengthControlledWinRate(len(ids), judge, opponent)
        eye = np.eye(len(ids))
        lc_stats = np.concatenate([eye, eye * y[:, None], eye * x[:, None]], axis=1)
        table[(task.name, arm, "win_rate")] = ArmStats(
            task.name, arm, win, tuple(ids), y.reshape(-1, 1)
        )
        table[(task.name, arm, "lc_win_rate")] = ArmStats(task.name, arm, lc, tuple(ids), lc_stats)
        if opponent == "base" and arm == base:
            continue
        rows.append(
            JudgeRow(
                task=task.name,
                arm=arm,
                opponent=opponent,
                judge=judge,
                n=len(ids),
                wins=int((y > 0.5).sum()),
                ties=int((y == 0.5).sum()),
                losses=int((y < 0.5).sum()),
                unreadable=len(unreadable[arm]),
                win_rate=float(y.mean()),
                lc_win_rate=float(lc.from_totals(lc_stats.sum(axis=0), len(ids))),
                mean_length=float(np.mean(lengths)),
                opponent_mean_length=float(np.mean(other)),
            )
        )
    return table, rows


def _length(sample: SampleResult) -> int:
    return len(str(sample.generation or sample.prediction or ""))


def _opponent_length(
    by_arm: Mapping[str, Mapping[str, SampleResult]], base: str, opponent: str, example_id: str
) -> int:
    if opponent == "base":
        return _length(by_arm[base][example_id])
    sample = next(iter(by_arm.values()))[example_id]
    target = sample.target
    return len(target if isinstance(target, str) else str(target[0]))


def lc_reference(y: Sequence[float], x: Sequence[float]) -> float:
    """The length-controlled win rate of one unweighted sample (tests and docs)."""
    value = fit_lc(np.asarray([y]), np.asarray([x]), np.ones((1, len(y))))[0]
    return float(value) if math.isfinite(value) else math.nan

"""Training health: training logs (``--training-log ARM=PATH``) and checkpoint series.

A training log is read when the run starts (bad input fails before any model loads) and
kept in the manifest (``training_logs``), so ``training`` rows are rebuilt from the run
directory alone. Two formats:

* Hugging Face Trainer's ``trainer_state.json``: ``log_history`` entries with ``step``
  and ``loss`` (training loss) or ``eval_loss`` (validation loss).
* CSV/TSV with a ``step`` column, a training-loss column (``train_loss`` or ``loss``) and
  a validation-loss column (``eval_loss``, ``val_loss``, ``validation_loss`` or
  ``valid_loss``); empty cells are absent values.

Per arm (``training``): the steps, the training and validation losses aligned on them
(null where not logged), the best step (lowest validation loss, the first on ties), the
final validation point, and ``train_val_gap``: the final validation loss minus the
training loss over the same stretch (the mean of the training losses logged after the
previous validation point, up to and including the final one; the latest earlier
training loss when none was logged there). ``overfitting`` is flagged when validation
loss rises while training loss falls: the best step is followed by at least
:data:`MIN_POINTS_AFTER_BEST` validation points, the final validation loss exceeds the
best by more than :data:`RISE` (relative), and the training loss at the final point is
below the one at the best step.

Checkpoint series (``checkpoints``): arms named ``<prefix>step<N>``, ``<prefix>ckpt<N>``
or ``<prefix>checkpoint-<N>`` (``--adapter step100=DIR --adapter step200=DIR``) form a
series per prefix when there are at least two. Per series × task × metric: the values
across steps, the best arm, and the last step compared with the best (paired bootstrap
CI, the comparisons' paired test, the run's correction over the series' tasks ×
metrics, a verdict; ``regressed`` means the last checkpoint is significantly worse than
an earlier one; ``last_is_best`` when the last checkpoint is the best).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fteval import stats
from fteval.data.readers import read_rows
from fteval.errors import InputError
from fteval.robustness._common import stable_seed
from fteval.scoring import ArmStats

RISE = 0.02
MIN_POINTS_AFTER_BEST = 2
TRAIN_COLUMNS = ("train_loss", "loss", "training_loss")
EVAL_COLUMNS = ("eval_loss", "val_loss", "validation_loss", "valid_loss")
STEP = re.compile(r"^(?P<prefix>.*?)[-_.]?(?:step|ckpt|checkpoint)[-_]?(?P<step>\d+)$", re.I)


def read_training_log(path: str | Path) -> dict[str, Any]:
    """``{"source", "format", "points": [[step, train_loss|None, eval_loss|None], ...]}``.

    Raises:
        InputError: the file is missing or malformed; the message names file, row, field.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, None, "training log not found")
    if path.suffix.lower() == ".json":
        points = _trainer_state(path)
        kind = "trainer_state"
    else:
        points = _csv_points(path)
        kind = "csv"
    if not points:
        raise InputError(path, None, None, "no step with a training or validation loss")
    return {"source": str(path), "format": kind, "points": points}


def _loss(path: Path, row: int | None, field: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputError(path, row, field, "expected a finite number", value)
    return number


def _step(path: Path, row: int | None, value: Any) -> int:
    if isinstance(value, bool) or not re.fullmatch(r"\s*\d+(\.0*)?\s*", str(value)):
        raise InputError(path, row, "step", "expected a non-negative integer step", value)
    return int(float(value))


def _trainer_state(path: Path) -> list[list[Any]]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(path, None, None, f"not valid JSON ({error})") from None
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise InputError(path, None, "log_history", "missing: not a trainer_state.json?")
    points: dict[int, list[Any]] = {}
    for number, entry in enumerate(history, start=1):
        if not isinstance(entry, dict) or "step" not in entry:
            continue
        step = _step(path, number, entry["step"])
        point = points.setdefault(step, [step, None, None])
        if "loss" in entry:
            point[1] = _loss(path, number, "loss", entry["loss"])
        if "eval_loss" in entry:
            point[2] = _loss(path, number, "eval_loss", entry["eval_loss"])
    return [p for _, p in sorted(points.items()) if p[1] is not None or p[2] is not None]


def _csv_points(path: Path) -> list[list[Any]]:
    rows = read_rows(path)
    columns = set(rows[0].fields)
    if "step" not in columns:
        raise InputError(
            path, rows[0].number, "step", f"missing column (columns: {sorted(columns)})"
        )
    train = next((c for c in TRAIN_COLUMNS if c in columns), None)
    evaluation = next((c for c in EVAL_COLUMNS if c in columns), None)
    if train is None and evaluation is None:
        expected = TRAIN_COLUMNS + EVAL_COLUMNS
        raise InputError(
            path,
            rows[0].number,
            None,
            f"no loss column: expected one of {expected}, got {sorted(columns)}",
        )
    points: dict[int, list[Any]] = {}
    for row in rows:
        step = _step(path, row.number, row.fields.get("step"))
        point = points.setdefault(step, [step, None, None])
        for index, column in ((1, train), (2, evaluation)):
            if not column:
                continue
            value = row.fields.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            point[index] = _loss(path, row.number, column, value)
    return [p for _, p in sorted(points.items()) if p[1] is not None or p[2] is not None]


def training_row(arm: str, log: Mapping[str, Any]) -> dict[str, Any]:
    """The ``training`` row of one arm's parsed log (see the module docstring)."""
    points = log["points"]
    steps = [int(p[0]) for p in points]
    train = [p[1] for p in points]
    evaluation = [p[2] for p in points]
    evals = [(i, v) for i, v in enumerate(evaluation) if v is not None]
    row: dict[str, Any] = {
        "arm": arm, "source": log["source"], "steps": steps, "train_loss": train,
        "eval_loss": evaluation, "best_step": None, "best_eval_loss": None,
        "final_step": None, "final_eval_loss": None, "train_val_gap": None,
        "overfitting": False, "message": "",
    }  # fmt: skip
    if not evals:
        row["message"] = "no validation loss in the log: overfitting cannot be judged"
        return row
    best_index, best = min(evals, key=lambda item: (item[1], item[0]))
    final_index, final = evals[-1]
    previous = evals[-2][0] if len(evals) > 1 else -1
    row.update(
        best_step=steps[best_index], best_eval_loss=best, final_step=steps[final_index],
        final_eval_loss=final,
    )  # fmt: skip
    train_final = _train_over(train, previous, final_index)
    if train_final is not None:
        row["train_val_gap"] = final - train_final
    after_best = sum(1 for i, _ in evals if i > best_index)
    train_best = _train_over(train, _previous_eval(evals, best_index), best_index)
    rising = final > best * (1 + RISE) if best > 0 else final > best
    falling = train_final is not None and train_best is not None and train_final < train_best
    row["overfitting"] = bool(after_best >= MIN_POINTS_AFTER_BEST and rising and falling)
    row["message"] = _message(row, after_best, rising, falling)
    return row


def _previous_eval(evals: Sequence[tuple[int, float]], index: int) -> int:
    earlier = [i for i, _ in evals if i < index]
    return earlier[-1] if earlier else -1


def _train_over(train: Sequence[float | None], after: int, until: int) -> float | None:
    """Mean training loss logged in ``(after, until]``, else the latest before ``until``."""
    window = [v for v in train[after + 1 : until + 1] if v is not None]
    if window:
        return float(np.mean(window))
    earlier = [v for v in train[: until + 1] if v is not None]
    return earlier[-1] if earlier else None


def _message(row: Mapping[str, Any], after_best: int, rising: bool, falling: bool) -> str:
    best, final = row["best_step"], row["final_step"]
    if row["overfitting"]:
        return (
            f"{row['arm']}: validation loss rose from {row['best_eval_loss']:.4g} at step "
            f"{best} to {row['final_eval_loss']:.4g} at step {final} while training loss "
            f"fell: overfitting; the checkpoint at step {best} is the best by validation loss"
        )
    if best == final:
        return f"{row['arm']}: validation loss is lowest at the final step ({final})"
    if rising and not falling:
        return (
            f"{row['arm']}: validation loss rose after step {best}, but training loss did not "
            "fall with it (not the overfitting pattern)"
        )
    if rising:
        return (
            f"{row['arm']}: validation loss rose after step {best}, over only {after_best} "
            f"validation point(s) (at least {MIN_POINTS_AFTER_BEST} are needed to call it)"
        )
    return (
        f"{row['arm']}: best validation loss at step {best}; the final step ({final}) is "
        f"within {RISE:.0%} of it"
    )


def checkpoint_series(arm_names: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
    """Series name -> [(step, arm), ...] sorted by step, for series of two or more arms."""
    series: dict[str, list[tuple[int, str]]] = {}
    for name in arm_names:
        match = STEP.match(name)
        if match:
            prefix = match.group("prefix").rstrip("-_.@") or "checkpoints"
            series.setdefault(prefix, []).append((int(match.group("step")), name))
    return {k: sorted(v) for k, v in series.items() if len({s for s, _ in v}) >= 2}


def checkpoint_rows(
    arm_names: Sequence[str], table: Mapping[tuple[str, str, str], ArmStats], options: Any
) -> list[dict[str, Any]]:
    """The ``checkpoints`` rows (see the module docstring)."""
    rows = []
    for series, members in checkpoint_series(arm_names).items():
        arms = [arm for _, arm in members]
        family = []
        for task, key in dict.fromkeys((t, m) for t, a, m in table if a == arms[0]):
            entries = [table.get((task, arm, key)) for arm in arms]
            if any(e is None for e in entries):
                continue
            family.append(_series_row(series, task, key, members, entries, options))  # type: ignore[arg-type]
        _adjust(family, options)
        rows += family
    return rows


def _series_row(
    series: str,
    task: str,
    key: str,
    members: Sequence[tuple[int, str]],
    entries: Sequence[ArmStats],
    options: Any,
) -> dict[str, Any]:
    metric = entries[0].metric
    values = [e.value for e in entries]
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    pick = max if metric.higher_is_better else min
    best = pick(finite, key=lambda i: values[i]) if finite else len(values) - 1
    last, top = entries[-1], entries[best]
    seed = stable_seed(options.seed, "checkpoints", series, task, key)
    delta = stats.paired_bootstrap_delta(
        metric, last.stats, top.stats, confidence=options.confidence,
        n_resamples=options.bootstrap_resamples, method=options.ci_method, seed=seed,
    )  # fmt: skip
    test = stats.paired_test(
        metric, last.stats, top.stats, n_resamples=options.permutations, seed=seed
    )
    return {
        "series": series, "task": task, "metric": key, "arms": [a for _, a in members],
        "steps": [s for s, _ in members], "values": values, "best_arm": top.arm,
        "best_step": members[best][0], "scale": metric.scale,
        "higher_is_better": metric.higher_is_better,
        "last_vs_best": {"delta": delta.delta, "ci_low": delta.low, "ci_high": delta.high,
                         "p_value": test.p_value, "p_adjusted": math.nan, "test": test.test,
                         "verdict": None, "n": len(last.stats)},
    }  # fmt: skip


def _adjust(rows: list[dict[str, Any]], options: Any) -> None:
    if not rows:
        return
    comparisons = [r["last_vs_best"] for r in rows]
    adjusted = stats.adjust_pvalues(
        np.array([c["p_value"] for c in comparisons], dtype=float), method=options.correction
    )
    for row, comparison, value in zip(rows, comparisons, adjusted):
        comparison["p_adjusted"] = float(value)
        comparison["last_is_best"] = row["best_arm"] == row["arms"][-1]
        comparison["verdict"] = stats.verdict(
            comparison["delta"], comparison["ci_low"], comparison["ci_high"], float(value),
            n_items=comparison["n"], alpha=options.alpha,
            higher_is_better=row["higher_is_better"],
        ).label  # fmt: skip

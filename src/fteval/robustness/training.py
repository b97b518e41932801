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
across steps, the best arm, and the last checkpoint compared with the best
(``regressed``: the last is significantly worse than the best). Choosing the best on the
same items the comparison then uses would find differences that are not there (with ten
interchangeable checkpoints, "regressed" several times as often as alpha), so:

* when the run scored the task's validation split, the best is chosen there and the
  last is compared with it on the test items (``selected_on: validation``);
* otherwise the best is chosen on the test items and the comparison accounts for the
  choice (``selected_on: test items``; ``engine.compare_with_best``: a max-statistic
  permutation test over the whole series and an interval that re-selects the best in
  every resample).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fteval import engine
from fteval.data.readers import read_rows
from fteval.engine import StatsOptions
from fteval.engine.selection import best_index
from fteval.errors import InputError
from fteval.records.rows import Comparison, Row, meta
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


def training_row(arm: str, log: Mapping[str, Any]) -> TrainingRow:
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
        return _typed(row)
    best_at, best = min(evals, key=lambda item: (item[1], item[0]))
    final_index, final = evals[-1]
    previous = evals[-2][0] if len(evals) > 1 else -1
    row.update(
        best_step=steps[best_at], best_eval_loss=best, final_step=steps[final_index],
        final_eval_loss=final,
    )  # fmt: skip
    train_final = _train_over(train, previous, final_index)
    if train_final is not None:
        row["train_val_gap"] = final - train_final
    after_best = sum(1 for i, _ in evals if i > best_at)
    train_best = _train_over(train, _previous_eval(evals, best_at), best_at)
    rising = final > best * (1 + RISE) if best > 0 else final > best
    falling = train_final is not None and train_best is not None and train_final < train_best
    row["overfitting"] = bool(after_best >= MIN_POINTS_AFTER_BEST and rising and falling)
    row["message"] = _message(row, after_best, rising, falling)
    return _typed(row)


def _typed(row: Mapping[str, Any]) -> TrainingRow:
    return TrainingRow(
        **{
            **row,
            "steps": tuple(row["steps"]),
            "train_loss": tuple(row["train_loss"]),
            "eval_loss": tuple(row["eval_loss"]),
        }
    )


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


SECTION = "checkpoints"
SELECTED_ON_VALIDATION = "validation"
SELECTED_ON_TEST = "test items"


@dataclass(frozen=True)
class TrainingRow(Row):
    """One arm's training log (see the module docstring).

    Attributes:
        arm: arm name.
        source: the log file.
        steps: logged steps.
        train_loss: training loss per step (None where not logged).
        eval_loss: validation loss per step (None where not logged).
        best_step: the step with the lowest validation loss (first on ties), or None.
        best_eval_loss: that loss.
        final_step: the last step with a validation loss.
        final_eval_loss: that loss.
        train_val_gap: final validation loss − training loss over the same stretch.
        overfitting: validation loss rose while training loss fell (the rule above).
        message: what the log shows, in words.
    """

    DESCRIPTION: ClassVar[str] = "One row per arm with a training log."

    arm: str = field(metadata=meta(schema="name"))
    source: str
    steps: tuple[int, ...]
    train_loss: tuple[float | None, ...]
    eval_loss: tuple[float | None, ...]
    best_step: int | None = None
    best_eval_loss: float | None = None
    final_step: int | None = None
    final_eval_loss: float | None = None
    train_val_gap: float | None = None
    overfitting: bool = False
    message: str = ""


@dataclass(frozen=True)
class CheckpointRow(Row):
    """One checkpoint series x task x metric (see the module docstring).

    Attributes:
        series: the series' name (the arms' common prefix).
        task: task name.
        metric: metric key.
        arms: the series' arms, by step.
        steps: their steps.
        values: each arm's score on the test items (metric units).
        validation_values: each arm's score on the validation split, or None.
        selected_on: ``validation`` (the best chosen on the validation split) or
            ``test items`` (chosen on the test items; the test accounts for the choice).
        best_arm: the best arm (on ``selected_on``; ties go to the later checkpoint).
        best_step: its step.
        last_is_best: the last checkpoint is the best.
        scale: multiply metric units by this to display.
        higher_is_better: the metric's direction.
        last_vs_best: the last checkpoint vs the best; ``regressed`` means the last is
            significantly worse than the best.
    """

    DESCRIPTION: ClassVar[str] = "One row per checkpoint series x task x metric."

    series: str
    task: str = field(metadata=meta(schema="name"))
    metric: str = field(metadata=meta(schema="name"))
    arms: tuple[str, ...]
    steps: tuple[int, ...]
    values: tuple[float, ...]
    validation_values: tuple[float, ...] | None
    selected_on: str
    best_arm: str
    best_step: int
    last_is_best: bool
    scale: float = field(metadata=meta(schema="positive"))
    higher_is_better: bool
    last_vs_best: Comparison


def checkpoint_rows(
    arm_names: Sequence[str],
    table: Mapping[tuple[str, str, str], ArmStats],
    options: StatsOptions,
    validation: Mapping[tuple[str, str, str], ArmStats] | None = None,
) -> list[CheckpointRow]:
    """The ``checkpoints`` rows, comparisons unadjusted (see the module docstring).

    Args:
        arm_names: every arm of the run.
        table: (task, arm, metric) -> the arm's statistics on the task's test items.
        options: the run's statistical settings.
        validation: the same for the tasks' validation splits (keyed by the clean task's
            name), where the run scored them.
    """
    rows = []
    for series, members in checkpoint_series(arm_names).items():
        arms = [arm for _, arm in members]
        for task, key in dict.fromkeys((t, m) for t, a, m in table if a == arms[0]):
            entries = [table[(task, arm, key)] for arm in arms if (task, arm, key) in table]
            if len(entries) < len(arms):
                continue
            held_out = [(validation or {}).get((task, arm, key)) for arm in arms]
            rows.append(_series_row(series, task, members, entries, held_out, options))
    return rows


def _series_row(
    series: str,
    task: str,
    members: Sequence[tuple[int, str]],
    entries: Sequence[ArmStats],
    held_out: Sequence[ArmStats | None],
    options: StatsOptions,
) -> CheckpointRow:
    metric = entries[0].metric
    arms = [arm for _, arm in members]
    values = tuple(e.value for e in entries)
    subject = {"series": series}
    pair = f"series {series}"
    if all(h is not None for h in held_out):
        checked = tuple(h.value for h in held_out)  # type: ignore[union-attr]
        best = best_index(checked, metric.higher_is_better)
        comparison = engine.compare(
            entries[-1], entries[best], options, task=task, arm=arms[-1],
            reference_arm=arms[best], reference_kind="selected", section=SECTION,
            subject={**subject, "selected_on": SELECTED_ON_VALIDATION}, family_pair=pair,
        )  # fmt: skip
        validation_values: tuple[float, ...] | None = checked
        selected_on = SELECTED_ON_VALIDATION
    else:
        comparison = engine.compare_with_best(
            entries, arms, options, task=task, section=SECTION,
            subject={**subject, "selected_on": SELECTED_ON_TEST}, family_pair=pair,
        )  # fmt: skip
        best = arms.index(comparison.reference_arm)
        validation_values, selected_on = None, SELECTED_ON_TEST
    return CheckpointRow(
        series=series, task=task, metric=metric.key, arms=tuple(arms),
        steps=tuple(s for s, _ in members), values=values,
        validation_values=validation_values, selected_on=selected_on, best_arm=arms[best],
        best_step=members[best][0], last_is_best=best == len(arms) - 1, scale=metric.scale,
        higher_is_better=metric.higher_is_better, last_vs_best=comparison,
    )  # fmt: skip

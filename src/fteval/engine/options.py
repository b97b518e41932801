"""The statistical settings of a run: one record, with the run config's option names.

``StatsOptions`` is what every comparison reads; ``fteval run`` builds it from the run
config (same field names, no translation), ``fteval score`` from its flags, and the
manifest and ``results["statistics"]`` record it (``to_json``), so a run directory is
re-scored with the settings it was made with.

The significance level and the confidence level of the intervals are one choice: the
verdict calls a difference significant only when the adjusted p-value is below ``alpha``
*and* the ``1 - alpha`` interval excludes 0, so the two levels must agree.
``resolve_levels`` fills the one a user left out from the one they gave, and refuses a
pair that disagrees.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

from fteval import stats
from fteval.records.rows import Row, meta

DEFAULT_SEED = 1234
"""Base seed of a run's decoding and of every bootstrap and permutation test; ``fteval
score`` uses the same default, so the same predictions get the same intervals."""

CorrectionScope = Literal["task", "arm-pair", "run"]
CORRECTION_SCOPES: tuple[str, ...] = get_args(CorrectionScope)
"""Which comparisons one correction covers (``engine.family``; docs/statistics.md):
``task`` (default): each task's metrics per arm pair and section (a task group counts as
one task: its headline rows in one family, its members' rows in another), so a task's
verdicts do not change when other tasks join the run; ``arm-pair``: each arm pair's
tasks x metrics per section; ``run``: every comparison of the run, every section, one
family."""

DEFAULT_CORRECTION_SCOPE: CorrectionScope = "task"

LEVEL_TOLERANCE = 1e-9


def resolve_levels(alpha: float | None, confidence: float | None) -> tuple[float, float]:
    """The significance level and the interval's confidence level, made to agree.

    Args:
        alpha: the significance level in (0, 1), or None when not given.
        confidence: the intervals' confidence level in (0, 1), or None when not given.

    Returns:
        ``(alpha, confidence)`` with ``confidence == 1 - alpha``: the given one decides;
        with neither given, ``stats.DEFAULT_ALPHA`` and its complement.

    Raises:
        ValueError: both are given and ``confidence != 1 - alpha``.
    """
    if alpha is None and confidence is None:
        alpha = stats.DEFAULT_ALPHA
    if alpha is not None and confidence is not None:
        if not math.isclose(confidence, 1.0 - alpha, rel_tol=0.0, abs_tol=LEVEL_TOLERANCE):
            raise ValueError(
                f"confidence {confidence:g} contradicts alpha {alpha:g}: the intervals are "
                f"read at the significance level, so confidence must be 1 - alpha = "
                f"{1.0 - alpha:g}; give one of the two"
            )
        return float(alpha), float(confidence)
    if alpha is not None:
        return float(alpha), _complement(alpha)
    assert confidence is not None
    return _complement(confidence), float(confidence)


def _complement(level: float) -> float:
    """``1 - level`` rounded to 12 decimals (0.95 for 0.05, not 0.9500000000000001)."""
    return round(1.0 - float(level), 12)


@dataclass(frozen=True)
class StatsOptions(Row):
    """Statistical settings of a run (recorded in every signature and in results).

    Attributes:
        confidence: confidence level of every interval, ``1 - alpha`` (see
            ``resolve_levels``).
        bootstrap_resamples: bootstrap resamples per interval (>= 1).
        permutations: trials of each paired permutation test (>= 1).
        ci_method: ``"percentile"`` or ``"bca"``.
        correction: ``"holm"`` (family-wise error rate) or ``"bh"`` (false discovery rate).
        correction_scope: which comparisons are corrected together (``CORRECTION_SCOPES``).
        alpha: significance level in (0, 0.5).
        seed: base seed; each interval's and test's generator is seeded from it and the
            content of the statistics it resamples, never from names or order of work.
        non_inferiority: ``"task"`` or ``"task/metric"`` -> largest tolerated drop vs
            base, in display units (points).
    """

    DESCRIPTION: ClassVar[str] = "The statistical settings every comparison of the run used."

    confidence: float = field(
        default=stats.DEFAULT_CONFIDENCE, metadata=meta(schema="probability", required=True)
    )
    bootstrap_resamples: int = field(
        default=stats.DEFAULT_N_RESAMPLES, metadata=meta(schema="count", required=True)
    )
    permutations: int = field(
        default=stats.DEFAULT_N_PERMUTATIONS, metadata=meta(schema="count", required=True)
    )
    ci_method: str = field(default="percentile", metadata=meta(enum=("percentile", "bca")))
    correction: str = field(default="holm", metadata=meta(enum=stats.CORRECTIONS))
    correction_scope: str = field(
        default=DEFAULT_CORRECTION_SCOPE, metadata=meta(enum=CORRECTION_SCOPES)
    )
    alpha: float = field(
        default=stats.DEFAULT_ALPHA, metadata=meta(schema="probability", required=True)
    )
    seed: int = field(default=DEFAULT_SEED, metadata=meta(required=True))
    non_inferiority: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        resolve_levels(self.alpha, self.confidence)  # raises when they disagree
        if self.correction not in stats.CORRECTIONS:
            raise ValueError(
                f"correction must be one of {stats.CORRECTIONS}, got {self.correction!r}"
            )
        if self.correction_scope not in CORRECTION_SCOPES:
            raise ValueError(
                f"correction_scope must be one of {CORRECTION_SCOPES}, got "
                f"{self.correction_scope!r}"
            )

    @classmethod
    def with_levels(
        cls, *, alpha: float | None = None, confidence: float | None = None, **others: Any
    ) -> StatsOptions:
        """Options where only one of ``alpha`` and ``confidence`` need be given."""
        alpha, confidence = resolve_levels(alpha, confidence)
        return cls(alpha=alpha, confidence=confidence, **others)

    @classmethod
    def from_settings(cls, settings: Any) -> StatsOptions:
        """The options of any object (a ``RunConfig``) with attributes of the same names."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: getattr(settings, name) for name in names})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatsOptions:
        """Options from their recorded form (``to_json``); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

"""Verdicts on paired comparisons, minimum detectable effects, non-inferiority.

A verdict turns a delta, its confidence interval and its multiplicity-adjusted p-value
into one of four labels (rules in order; the first that applies wins):

1. ``"insufficient data"`` — fewer than ``min_items`` items, or the delta, an interval
   end or the p-value is NaN (undefined metric, 0–1 items, test not run).
2. ``"improved"`` / ``"regressed"`` — the difference is *significant*
   (``significant``): ``p_adjusted < alpha`` **and** the interval lies entirely on the
   delta's side of zero. ``significant`` is the one rule fteval uses wherever it calls a
   difference significant (the verdict, the comparison rows' ``significant`` field, the
   tables' mark, the CI gate). Which of the two depends on the sign of the
   delta and ``higher_is_better`` (for error rates and perplexity a negative delta is an
   improvement). The test and the interval come from different procedures (exact
   McNemar or permutation vs bootstrap), so requiring both makes the claim robust to
   either one's approximation error.
3. ``"no significant difference"`` — everything else; the reason says which criterion
   failed, and quotes the minimum detectable effect when one is given (at the level the
   decision used, ``mde_alpha``: after a correction, the step's level), because "no
   difference found" means little if only huge effects were detectable.

Non-inferiority is judged separately from the label, against a margin ``m >= 0`` in the
metric's own units (e.g. 0.01 = one accuracy point): for higher-is-better metrics the arm
is non-inferior when ``ci_low > -m``; for lower-is-better ones when ``ci_high < m``. An
arm can be "regressed" yet non-inferior (a real but tolerable loss).

Minimum detectable effect (MDE), the smallest true delta the comparison would declare
significant with probability ``power`` (two-sided level ``alpha``), with
``z_a = Phi^-1(1 - alpha/2)`` and ``z_b = Phi^-1(power)``:

* binary outcomes (McNemar; Connor 1987): with ``psi`` the discordance rate (share of
  items on which the arms disagree) and ``n`` items, the MDE is the root ``d`` in
  ``[0, sqrt(psi)]`` of ``d * sqrt(n) = z_a * sqrt(psi) + z_b * sqrt(psi - d**2)``;
  approximately ``(z_a + z_b) * sqrt(psi / n)``.
* continuous metrics: ``(z_a + z_b) * SE`` with ``SE`` the bootstrap standard error of
  the delta.

Both are in the metric's own units. NaN when the data show no variability (``psi == 0``
or ``SE == 0``): the MDE then cannot be estimated; infinite when ``n <= z_a**2`` (no
effect is detectable with so few items).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.special import ndtri

logger = logging.getLogger(__name__)

IMPROVED = "improved"
REGRESSED = "regressed"
NO_DIFFERENCE = "no significant difference"
INSUFFICIENT_DATA = "insufficient data"
VERDICT_LABELS = (IMPROVED, REGRESSED, NO_DIFFERENCE, INSUFFICIENT_DATA)

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
DEFAULT_MIN_ITEMS = 30
"""Below ~30 items one item moves accuracy by more than 3 points, the bootstrap's
intervals under-cover, and an exact test rarely reaches significance: a verdict would
mostly report noise."""


@dataclass(frozen=True)
class Verdict:
    """The verdict on one paired comparison.

    Attributes:
        label: one of ``VERDICT_LABELS``.
        significant: True exactly when the label is ``improved`` or ``regressed``
            (``significant``).
        mde: minimum detectable effect in the metric's units (NaN when not supplied or not
            estimable; see the module docstring).
        non_inferiority: True when non-inferiority within the margin is shown, False when
            it is not, None when no margin was given or the data are insufficient.
        reason: one or two sentences a person can read in a report.
    """

    label: str
    mde: float
    non_inferiority: bool | None
    reason: str
    significant: bool = False


def significant(
    delta: float,
    ci_low: float,
    ci_high: float,
    p_adjusted: float,
    *,
    n_items: int,
    alpha: float = DEFAULT_ALPHA,
    min_items: int = DEFAULT_MIN_ITEMS,
) -> bool:
    """Whether a paired difference is significant: the one rule, used everywhere.

    True when there are at least ``min_items`` items, every input is finite, the
    adjusted p-value is below ``alpha`` and the interval lies entirely on the delta's
    side of zero (the test and the interval agree).

    Args:
        delta: ``score(arm) - score(reference)`` in metric units.
        ci_low: lower end of the delta's interval (at confidence ``1 - alpha``).
        ci_high: upper end of the delta's interval.
        p_adjusted: the p-value after multiple-comparison correction.
        n_items: items the comparison rests on.
        alpha: significance level in (0, 1).
        min_items: fewest items for a significant difference.

    Returns:
        The decision; False whenever the data are insufficient.
    """
    values = (delta, ci_low, ci_high, p_adjusted)
    if n_items < min_items or not all(math.isfinite(v) for v in values):
        return False
    interval_agrees = (delta > 0 and ci_low > 0) or (delta < 0 and ci_high < 0)
    return p_adjusted < alpha and interval_agrees


def verdict(
    delta: float,
    ci_low: float,
    ci_high: float,
    p_adjusted: float,
    *,
    n_items: int,
    alpha: float = DEFAULT_ALPHA,
    higher_is_better: bool,
    non_inferiority_margin: float | None = None,
    min_items: int = DEFAULT_MIN_ITEMS,
    mde: float = math.nan,
    mde_alpha: float | None = None,
) -> Verdict:
    """Label a paired comparison (rules in the module docstring).

    Args:
        delta: ``score(arm) - score(reference)`` in metric units.
        ci_low: lower end of the delta's confidence interval (NaN if none).
        ci_high: upper end of the delta's confidence interval (NaN if none).
        p_adjusted: the comparison's p-value after multiple-comparison correction.
        n_items: items the comparison rests on.
        alpha: significance level in (0, 1).
        higher_is_better: the metric's direction (``metric.higher_is_better``).
        non_inferiority_margin: tolerated loss ``m >= 0`` in metric units, or None.
        min_items: fewest items for any verdict other than "insufficient data".
        mde: the comparison's minimum detectable effect, quoted in the reason.
        mde_alpha: the significance level ``mde`` was computed at (after a correction,
            the step's level), quoted beside it; None when it is ``alpha``.

    Returns:
        The label, the MDE passed in, the non-inferiority result and a reason.

    Raises:
        ValueError: an option is out of range, ``ci_low > ci_high`` or a p-value is
            outside [0, 1].
    """
    _check_verdict_inputs(ci_low, ci_high, p_adjusted, n_items, alpha, min_items)
    margin = _check_margin(non_inferiority_margin)
    if n_items < min_items:
        reason = f"only {n_items} items; at least {min_items} are needed for a verdict"
        return Verdict(INSUFFICIENT_DATA, mde, None, reason)
    values = {"delta": delta, "ci_low": ci_low, "ci_high": ci_high, "p_adjusted": p_adjusted}
    undefined = [name for name, value in values.items() if not math.isfinite(value)]
    if undefined:
        reason = f"{', '.join(undefined)} undefined (metric or test not computable)"
        return Verdict(INSUFFICIENT_DATA, mde, None, reason)

    interval = f"[{ci_low:.4g}, {ci_high:.4g}]"
    decided = significant(
        delta, ci_low, ci_high, p_adjusted, n_items=n_items, alpha=alpha, min_items=min_items
    )
    if decided:
        better = (delta > 0) == higher_is_better
        label = IMPROVED if better else REGRESSED
        reason = f"delta {delta:+.4g}, adjusted p = {p_adjusted:.3g} < {alpha:g}, CI {interval}"
    else:
        label = NO_DIFFERENCE
        if p_adjusted < alpha:
            reason = (
                f"adjusted p = {p_adjusted:.3g} < {alpha:g} but the CI {interval} "
                f"includes 0; the test and the interval must agree"
            )
        elif ci_low > 0 or ci_high < 0:
            reason = (
                f"the CI {interval} excludes 0 but adjusted p = {p_adjusted:.3g} >= "
                f"{alpha:g} after multiple-comparison correction"
            )
        else:
            reason = f"adjusted p = {p_adjusted:.3g} >= {alpha:g}, CI {interval} includes 0"
        if math.isfinite(mde):
            level = alpha if mde_alpha is None else mde_alpha
            reason += f"; minimum detectable effect ~{mde:.3g} (at level {level:.3g})"
    passes, note = _non_inferiority(ci_low, ci_high, margin, higher_is_better)
    if note:
        reason += f"; {note}"
    return Verdict(label, mde, passes, reason, decided)


def minimum_detectable_effect(
    *,
    se: float | None = None,
    n_items: int | None = None,
    discordance_rate: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
) -> float:
    """The smallest true delta detectable with ``power`` at two-sided level ``alpha``.

    Give either ``se`` (continuous metrics: the bootstrap SE of the delta) or both
    ``n_items`` and ``discordance_rate`` (binary outcomes tested with McNemar). Formulas
    are in the module docstring.

    Args:
        se: bootstrap standard error of the delta, >= 0, metric units.
        n_items: items compared (binary mode).
        discordance_rate: share of items on which the two arms' 0/1 outcomes differ,
            ``(b + c) / n`` in [0, 1] (binary mode).
        alpha: two-sided significance level in (0, 1); pass a corrected level to account
            for multiple comparisons.
        power: target power in [0.5, 1).

    Returns:
        The MDE in metric units (>= 0): for binary outcomes a proportion (multiply by 100
        for percentage points). NaN when the data show no variability; ``inf`` when too
        few items for any effect to be detectable.

    Raises:
        ValueError: neither or both modes given, or a value is out of range.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    binary_mode = n_items is not None or discordance_rate is not None
    if (se is None) == (not binary_mode):
        raise ValueError(
            "give either se= (continuous metrics) or n_items= and discordance_rate= "
            f"(binary outcomes); got se={se!r}, n_items={n_items!r}, "
            f"discordance_rate={discordance_rate!r}"
        )
    z_a = float(ndtri(1.0 - alpha / 2.0))
    z_b = float(ndtri(power))
    if se is not None:
        if se < 0:
            raise ValueError(f"se must be >= 0, got {se!r}")
        return (z_a + z_b) * se if se > 0 else math.nan
    if n_items is None or discordance_rate is None:
        raise ValueError(
            f"binary mode needs both n_items and discordance_rate; got n_items={n_items!r}, "
            f"discordance_rate={discordance_rate!r}"
        )
    return _mde_paired_proportions(n_items, discordance_rate, z_a, z_b)


def _mde_paired_proportions(n_items: int, psi: float, z_a: float, z_b: float) -> float:
    """Root of Connor's (1987) McNemar sample-size equation, solved for the effect."""
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items!r}")
    if not 0.0 <= psi <= 1.0:
        raise ValueError(f"discordance_rate must be in [0, 1], got {psi!r}")
    if n_items == 0 or psi == 0.0:
        return math.nan
    if n_items <= z_a**2:
        return math.inf
    root_n, root_psi = math.sqrt(n_items), math.sqrt(psi)

    def gap(d: float) -> float:
        return d * root_n - z_a * root_psi - z_b * math.sqrt(max(psi - d * d, 0.0))

    return float(brentq(gap, 0.0, root_psi, xtol=1e-14, rtol=1e-12))


def _check_verdict_inputs(
    ci_low: float, ci_high: float, p_adjusted: float, n_items: int, alpha: float, min_items: int
) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items!r}")
    if min_items < 0:
        raise ValueError(f"min_items must be >= 0, got {min_items!r}")
    if ci_low > ci_high:  # False when either is NaN
        raise ValueError(f"ci_low must not exceed ci_high, got [{ci_low!r}, {ci_high!r}]")
    if math.isfinite(p_adjusted) and not 0.0 <= p_adjusted <= 1.0:
        raise ValueError(f"p_adjusted must be in [0, 1], got {p_adjusted!r}")


def _check_margin(margin: float | None) -> float | None:
    if margin is not None and not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"non_inferiority_margin must be finite and >= 0, got {margin!r}")
    return margin


def non_inferior(ci_low: float, ci_high: float, margin: float, *, higher_is_better: bool) -> bool:
    """Whether the interval rules out a loss larger than ``margin`` (metric units, >= 0).

    Higher-is-better metrics: ``ci_low > -margin``; lower-is-better: ``ci_high < margin``.
    False when the needed interval end is undefined.
    """
    if higher_is_better:
        return bool(math.isfinite(ci_low) and ci_low > -margin)
    return bool(math.isfinite(ci_high) and ci_high < margin)


def _non_inferiority(
    ci_low: float, ci_high: float, margin: float | None, higher_is_better: bool
) -> tuple[bool | None, str]:
    """Whether the interval rules out a loss larger than ``margin``, and a note saying so."""
    if margin is None:
        return None, ""
    if higher_is_better:
        passes, bound, rule = ci_low > -margin, ci_low, f"CI low {ci_low:.4g} > {-margin:.4g}"
    else:
        passes, bound, rule = ci_high < margin, ci_high, f"CI high {ci_high:.4g} < {margin:.4g}"
    if passes:
        return True, f"non-inferior within margin {margin:g} ({rule})"
    return False, f"non-inferiority not shown at margin {margin:g} (CI end {bound:.4g})"

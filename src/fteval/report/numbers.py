"""How every report shows a number, a unit, a significance mark and a verdict word.

One set of rules for the terminal, report.md and report.html, so that they agree:

* **Units.** A metric whose ``scale`` is 100 is a proportion (values in [0, 1], shown as
  percent; its deltas are percentage points, "pts"). Every other metric is shown in its
  own units: BLEU and chrF are 0-100 scores, not percentages; perplexity is neither.
* **Precision.** One precision per scale in a table: proportions always get one decimal
  (so a delta of -0.8 pts never sits beside +3.3 pts written as -0.833); any other metric
  gets the decimals that give its largest score about three significant digits (one to
  four decimals), and its scores, deltas and interval ends all use them.
* **Significance.** A delta is starred exactly when its verdict is improved or regressed:
  the comparison row's boolean ``significant`` when present, else the verdict itself.
* **Words.** A comparison against any arm but the base (the full fine-tune, another
  adapter) says the arm "leads" or "trails" it, never "improved" or "regressed": those
  arms are yardsticks, not baselines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

IMPROVED, REGRESSED = "improved", "regressed"
NO_DIFFERENCE, INSUFFICIENT = "no significant difference", "insufficient data"
PROPORTION_SCALE = 100.0
SIGNIFICANT = "*"


def is_number(value: Any) -> bool:
    """True for a finite int or float (bools, None, NaN and infinities are not)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def is_proportion(scale: Any, kind: str | None = None) -> bool:
    """True when a metric is a proportion shown as percent.

    Args:
        scale: the metric's display scale (100 for proportions and 0-100 scores alike).
        kind: the row's ``unit`` (``proportion``, ``points`` or ``native``) when known; it
            decides (BLEU, ROUGE and SQuAD-F1 have scale 100 but are scores, not percents).
            Without it, a scale of 100 counts as a proportion.
    """
    if kind is not None:
        return kind == "proportion"
    return is_number(scale) and float(scale) == PROPORTION_SCALE


def unit(scale: Any, kind: str | None = None) -> str:
    """The unit of a displayed score: ``"%"`` for proportions, else ``""``."""
    return "%" if is_proportion(scale, kind) else ""


def delta_unit(scale: Any) -> str:
    """The unit of a displayed difference: ``"pts"`` (percentage points) or ``""``."""
    return "pts" if is_proportion(scale) else ""


def metric_label(metric: str, scale: Any, kind: str | None = None) -> str:
    """``"acc (%)"`` for proportions, the bare metric name otherwise (see ``is_proportion``)."""
    return f"{metric} (%)" if is_proportion(scale, kind) else metric


def decimals_for(values: Iterable[Any], scale: Any) -> int:
    """Decimals for every number of one metric in one table (see the module docstring).

    Args:
        values: the metric's scores in its own units (None and NaN are ignored).
        scale: the metric's display scale.

    Returns:
        1 for proportions; otherwise 1 to 4, so the largest shown score has about three
        significant digits.
    """
    if is_proportion(scale):
        return 1
    factor = float(scale) if is_number(scale) else 1.0
    shown = [abs(float(v) * factor) for v in values if is_number(v)]
    largest = max(shown, default=0.0)
    if largest == 0.0:
        return 1
    return int(min(4, max(1, 2 - math.floor(math.log10(largest)))))


def fmt(value: Any, scale: Any = 1.0, *, decimals: int = 1, signed: bool = False) -> str:
    """A number in display units with a fixed number of decimals; "–" when undefined."""
    if not is_number(value):
        return "–"
    shown = float(value) * (float(scale) if is_number(scale) else 1.0)
    if float(f"{shown:.{decimals}f}") == 0.0:
        shown = 0.0  # never "-0.0"
    return f"{shown:+.{decimals}f}" if signed else f"{shown:.{decimals}f}"


def fmt_interval(low: Any, high: Any, scale: Any, decimals: int, *, signed: bool = False) -> str:
    """``"[a, b]"`` in display units; ``""`` when both ends are undefined."""
    if not is_number(low) and not is_number(high):
        return ""
    a = fmt(low, scale, decimals=decimals, signed=signed)
    b = fmt(high, scale, decimals=decimals, signed=signed)
    return f"[{a}, {b}]"


def fmt_p(p: Any) -> str:
    """A p-value with two significant digits, ``<0.001`` below that, "–" when undefined."""
    if not is_number(p):
        return "–"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def fmt_count(value: Any) -> str:
    """An integer with thousands separators; "–" when undefined."""
    return f"{int(value):,}" if is_number(value) else "–"


def fmt_bytes(value: Any) -> str:
    """A byte count in binary units (``12.3 MiB``); "–" when undefined."""
    if not is_number(value):
        return "–"
    size = float(value)
    for name in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or name == "TiB":
            return f"{size:.0f} {name}" if name == "B" else f"{size:.1f} {name}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - loop always returns


def fmt_params(value: Any) -> str:
    """A parameter count as ``1.23M`` / ``4.5B``; "–" when undefined."""
    if not is_number(value):
        return "–"
    count = float(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= limit:
            return f"{count / limit:.3g}{suffix}"
    return f"{count:.0f}"


def fmt_share(value: Any) -> str:
    """A share in [0, 1] as percent: ``100%``, ``12%``, ``0.41%``, ``<0.01%``."""
    if not is_number(value):
        return "–"
    percent = 100 * float(value)
    if percent >= 10:
        return f"{percent:.0f}%"
    if percent >= 0.01:
        return f"{percent:.2g}%"
    return "<0.01%" if percent > 0 else "0%"


def fmt_seconds(value: Any) -> str:
    """Seconds with a sensible precision (``0.42 s``, ``12.3 s``, ``3 min 5 s``)."""
    if not is_number(value):
        return "–"
    seconds = float(value)
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def is_significant(row: Mapping[str, Any]) -> bool:
    """Whether a comparison is starred: its ``significant`` flag, else its verdict."""
    flag = row.get("significant")
    if isinstance(flag, bool):
        return flag
    return row.get("verdict") in (IMPROVED, REGRESSED)


def arm_kinds(results: Mapping[str, Any]) -> dict[str, str]:
    """Arm name -> kind (``base``, ``adapter``, ``full``, ...)."""
    return {a["name"]: a.get("kind", "") for a in results.get("arms", [])}


def reference_kind(row: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """The kind of a comparison's reference arm (the row's own field first)."""
    return str(row.get("reference_kind") or kinds.get(row.get("reference_arm", ""), ""))


def verdict_word(row: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """The verdict as a person should read it: "improved"/"regressed" against the base,
    "leads"/"trails" against any other arm (the full fine-tune, another adapter)."""
    verdict = str(row.get("verdict") or "")
    if reference_kind(row, kinds) not in ("base", ""):
        if verdict == IMPROVED:
            return "leads"
        if verdict == REGRESSED:
            return "trails"
    return verdict


def verdict_symbol(row: Mapping[str, Any]) -> str:
    """A text mark that reads without colour: ▲ better, ▼ worse, = no difference, ? too few."""
    verdict = row.get("verdict")
    return {IMPROVED: "▲", REGRESSED: "▼", NO_DIFFERENCE: "=", INSUFFICIENT: "?"}.get(
        str(verdict), ""
    )


def reason_text(row: Mapping[str, Any], alpha: Any = 0.05) -> str:
    """Why a comparison got its verdict, in display units (the tables' units).

    The engine's ``reason`` quotes deltas and intervals in metric units ("delta +0.4667")
    beside tables in points; this says the same from the row's fields: which of the two
    criteria (adjusted p below alpha, an interval that excludes 0) held, the
    non-inferiority bound in points when a margin was set, and the row's ``note``. The
    delta, interval and MDE are not repeated: they have their own columns.

    Args:
        row: a comparison row (results ``comparisons`` or one nested in a section).
        alpha: the run's significance level (``statistics.alpha``).
    """
    values = [row.get(k) for k in ("delta", "ci_low", "ci_high", "p_adjusted")]
    if row.get("verdict") == INSUFFICIENT or not all(is_number(v) for v in values):
        return str(row.get("reason") or INSUFFICIENT)  # counts only: no metric units in it
    level = float(alpha) if is_number(alpha) else 0.05
    p = fmt_p(row["p_adjusted"])
    p_text = f"adjusted p {p[0]} {p[1:]}" if p.startswith("<") else f"adjusted p = {p}"
    excludes = row["ci_low"] > 0 or row["ci_high"] < 0
    below = row["p_adjusted"] < level
    if is_significant(row):
        parts = [f"{p_text}, below α = {level:g}, and the CI excludes 0"]
    elif below and not excludes:
        parts = [f"{p_text}, below α = {level:g}, but the CI includes 0 (both must hold)"]
    elif excludes:
        parts = [f"the CI excludes 0 but {p_text}, not below α = {level:g}, after correction"]
    else:
        parts = [f"{p_text}, not below α = {level:g}, and the CI includes 0"]
    margin = _non_inferiority_text(row)
    if margin:
        parts.append(margin)
    if row.get("note"):
        parts.append(str(row["note"]))
    return "; ".join(parts)


def _non_inferiority_text(row: Mapping[str, Any]) -> str:
    """The non-inferiority outcome with its bound and margin in display units, or ""."""
    shown, value = row.get("non_inferiority"), row.get("non_inferiority_margin")
    if not isinstance(shown, bool) or not isinstance(value, (int, float)) or not is_number(value):
        return ""
    margin = float(value)
    scale = row.get("scale", 1.0)
    digits = decimals_for([row.get("ci_low"), row.get("ci_high")], scale)
    unit = f" {delta_unit(scale)}".rstrip()
    higher = row.get("higher_is_better", True) is not False
    end = fmt(row["ci_low"] if higher else row["ci_high"], scale, decimals=digits, signed=True)
    limit = fmt(-margin if higher else margin, scale, decimals=digits, signed=True)
    side = "low" if higher else "high"
    size = fmt(margin, scale, decimals=digits)
    if shown:
        word = ">" if higher else "<"
        return f"non-inferior within {size}{unit} (CI {side} {end} {word} {limit})"
    word = "≤" if higher else "≥"
    return f"non-inferiority not shown at {size}{unit} (CI {side} {end} {word} {limit})"


def correction_families(results: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(family name, number of comparisons) of the multiple-comparison correction.

    Uses the rows' ``correction_family`` and ``family_size`` when present; otherwise the
    family of today's runs: each arm pair (arm vs reference) over its tasks x metrics.
    """
    rows = results.get("comparisons", [])
    families: dict[str, int] = {}
    for row in rows:
        family = row.get("correction_family")
        if family is None:
            name = f"{row['arm']} vs {row['reference_arm']}"
        elif isinstance(family, str):
            name = family
        elif isinstance(family, Mapping):
            name = ", ".join(f"{k}={v}" for k, v in family.items())
        elif isinstance(family, Sequence):
            name = " vs ".join(str(part) for part in family)
        else:
            name = str(family)
        size = row.get("family_size")
        if is_number(size):
            families[name] = int(size)
        else:
            families[name] = families.get(name, 0) + 1
    return list(families.items())


def correction_note(results: Mapping[str, Any], *, listed: bool = True) -> str:
    """One sentence naming the correction and exactly which comparisons it covered.

    Args:
        results: the results object.
        listed: name every family and its size in the sentence; otherwise only how many
            families there are (for a report that lists them in a table).
    """
    statistics = results.get("statistics", {})
    method = {"holm": "Holm", "bh": "Benjamini-Hochberg"}.get(
        str(statistics.get("correction", "holm")), str(statistics.get("correction"))
    )
    alpha = statistics.get("alpha", 0.05)
    families = correction_families(results)
    if not families:
        return ""
    scope = statistics.get("correction_scope")
    if scope == "run":
        where = "over every comparison of the run together"
    elif scope is None and all(
        row.get("correction_family") is None for row in results.get("comparisons", [])
    ):
        where = "within each arm pair, over its tasks × metrics"
    else:
        where = "within each family below"
    if listed:
        sizes = "; ".join(f"{name}: {size}" for name, size in families) + " comparisons"
    else:
        where = where.replace("each family below", "each family")
        sizes = f"{len(families)} families; their sizes are listed below"
    return (
        f"{SIGNIFICANT} = improved/regressed (adjusted p < {alpha:g} and the CI excludes 0); "
        f"p-values {method}-adjusted {where} ({sizes})."
    )

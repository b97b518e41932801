"""The charts of the results sections (report.html only; their numbers are in the tables).

One function per section, each reading that section of results.json and returning
``Chart`` blocks; ``charts_for(key, results, style)`` picks by the view's key. Values
are drawn in display units with the same sign convention as the tables (``report.views``):
every delta is the arm under test minus its reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fteval.report import svg
from fteval.report.document import Chart
from fteval.report.numbers import decimals_for, delta_unit, fmt, fmt_interval, is_number

RowMap = Mapping[str, Any]
Styles = Mapping[str, int]


def _shown(value: Any, scale: Any) -> float | None:
    return float(value) * float(scale or 1.0) if is_number(value) else None


def _grouped(rows: Sequence[RowMap], *keys: str) -> dict[tuple[Any, ...], list[RowMap]]:
    groups: dict[tuple[Any, ...], list[RowMap]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    return groups


def _interval_row(label: str, found: RowMap, style: int, filled: bool, note: str = "") -> Any:
    scale = found.get("scale", 1.0)
    digits = decimals_for([found.get("delta"), found.get("ci_low"), found.get("ci_high")], scale)
    text = (
        fmt(found.get("delta"), scale, decimals=digits, signed=True)
        + " "
        + fmt_interval(found.get("ci_low"), found.get("ci_high"), scale, digits, signed=True)
    )
    return svg.IntervalRow(
        label=label,
        value=_shown(found.get("delta"), scale),
        low=_shown(found.get("ci_low"), scale),
        high=_shown(found.get("ci_high"), scale),
        style=style,
        filled=filled,
        text=text.strip() + note,
    )


def robustness_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """Per task and metric: each arm's Δ under each perturbation (perturbed − clean)."""
    out = []
    rows = results.get("robustness") or []
    for (task, metric), group in _grouped(rows, "task", "metric").items():
        chart_rows = [
            _interval_row(
                f"{r['arm']} · {r.get('perturbation')}",
                r["under_perturbation"],
                styles.get(r["arm"], 0),
                bool(r.get("brittle")),
                " brittle" if r.get("brittle") else "",
            )
            for r in group
            if isinstance(r.get("under_perturbation"), Mapping)
        ]
        unit = delta_unit(group[0].get("scale", 1.0))
        title = (
            f"{task}: {metric} Δ under perturbation (perturbed − clean"
            f"{', ' + unit if unit else ''}); filled = brittle"
        )
        chart = svg.interval_chart(chart_rows, title=title, kind="robustness", zero_line=True)
        out.append(Chart("robustness", chart, title))
    return out


def slices_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """Per task, field and metric: each slice's score per arm with its interval."""
    out = []
    rows = results.get("slices") or []
    for (task, field, metric), group in _grouped(rows, "task", "field", "metric").items():
        scale = group[0].get("scale", 1.0)
        digits = decimals_for([r.get("value") for r in group], scale)
        chart_rows = [
            svg.IntervalRow(
                label=f"{r.get('slice')} · {r['arm']}",
                value=_shown(r.get("value"), scale),
                low=_shown(r.get("ci_low"), scale),
                high=_shown(r.get("ci_high"), scale),
                style=styles.get(r["arm"], 0),
                filled=(r.get("vs_base") or {}).get("verdict") in ("improved", "regressed"),
                text=(
                    fmt(r.get("value"), scale, decimals=digits)
                    + " "
                    + fmt_interval(r.get("ci_low"), r.get("ci_high"), scale, digits)
                    + (" worst" if r.get("is_worst") else "")
                ),
            )
            for r in sorted(group, key=lambda r: (str(r.get("slice")), styles.get(r["arm"], 0)))
        ]
        title = f"{task}: {metric} per {field} slice and arm"
        out.append(
            Chart("slices", svg.interval_chart(chart_rows, title=title, kind="slices"), title)
        )
    return out


def calibration_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """A reliability diagram per task and arm."""
    out = []
    for row in results.get("calibration") or []:
        bins = row.get("reliability") or {}
        if not bins.get("bin_lower"):
            continue
        title = (
            f"{row['task']}: reliability diagram of {row['arm']} "
            "(bars below the diagonal: overconfident)"
        )
        chart = svg.reliability_chart(
            bins["bin_lower"],
            bins["bin_upper"],
            bins.get("count", []),
            bins.get("mean_confidence", []),
            bins.get("accuracy", []),
            title=title,
            style=styles.get(row["arm"], 0),
        )
        out.append(Chart("reliability", chart, title))
    return out


def training_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """Training and validation loss by step, per arm with a log."""
    out = []
    for row in results.get("training") or []:
        steps = row.get("steps") or []
        if not steps:
            continue
        style = styles.get(row["arm"], 0)
        series = [svg.Series("train loss", steps, row.get("train_loss") or [], style)]
        if any(v is not None for v in row.get("eval_loss") or []):
            series.append(svg.Series("eval loss", steps, row["eval_loss"], style, dashed=True))
        marks = [(row["best_step"], "best")] if is_number(row.get("best_step")) else []
        title = f"{row['arm']}: training and evaluation loss by step"
        chart = svg.line_chart(
            series, title=title, kind="training", x_label="step", y_label="loss", marks=marks
        )
        if chart:
            out.append(Chart("training", chart, title))
    return out


def checkpoint_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """Each checkpoint series' score by step, per task and metric."""
    out = []
    for row in results.get("checkpoints") or []:
        scale = row.get("scale", 1.0)
        shown = [_shown(v, scale) for v in row.get("values") or []]
        title = f"{row.get('series', '')}: {row.get('task')} {row.get('metric')} by step"
        chart = svg.line_chart(
            [
                svg.Series(
                    f"{row.get('task')} {row.get('metric')}", row.get("steps") or [], shown, 0
                )
            ],
            title=title,
            kind="training",
            x_label="step",
            y_label=str(row.get("metric")),
        )
        if chart:
            out.append(Chart("training", chart, title))
    return out


def contamination_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """Per task and source: each arm's score on clean and overlapping items."""
    out = []
    for row in results.get("contamination") or []:
        chart_rows = []
        for arm in row.get("by_arm") or []:
            scale = arm.get("scale", 1.0)
            digits = decimals_for([arm.get("clean_value"), arm.get("overlap_value")], scale)
            for subset in ("clean", "overlap"):
                chart_rows.append(
                    svg.IntervalRow(
                        label=f"{arm['arm']} · {subset}",
                        value=_shown(arm.get(f"{subset}_value"), scale),
                        low=None,
                        high=None,
                        style=styles.get(arm["arm"], 0),
                        filled=subset == "clean",
                        text=fmt(arm.get(f"{subset}_value"), scale, decimals=digits),
                    )
                )
        if chart_rows:
            title = f"{row['task']}: score on clean vs overlapping items per arm"
            chart = svg.interval_chart(chart_rows, title=title, kind="contamination")
            out.append(Chart("contamination", chart, title))
    return out


def judge_charts(results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """Per judged task: wins, ties and losses per arm."""
    out = []
    for (task,), group in _grouped(results.get("judge") or [], "task").items():
        chart_rows = [
            (
                f"{r['arm']} vs {r.get('opponent', '')}",
                [
                    ("wins", float(r.get("wins") or 0)),
                    ("ties", float(r.get("ties") or 0)),
                    ("losses", float(r.get("losses") or 0)),
                ],
            )
            for r in group
        ]
        title = f"{task}: judged wins, ties and losses per arm"
        out.append(
            Chart("judge", svg.stacked_bar_chart(chart_rows, title=title, kind="judge"), title)
        )
    return out


CHARTS: dict[str, Callable[[Mapping[str, Any], Styles], list[Chart]]] = {
    "robustness": robustness_charts,
    "slices": slices_charts,
    "calibration": calibration_charts,
    "training": training_charts,
    "checkpoints": checkpoint_charts,
    "contamination_arms": contamination_charts,
    "judge": judge_charts,
}


def charts_for(key: str, results: Mapping[str, Any], styles: Styles) -> list[Chart]:
    """The charts of the section a view shows (none for views without charts)."""
    builder = CHARTS.get(key)
    return builder(results, styles) if builder is not None else []

"""Sections for what the clean score hides, rendered when results.json holds them.

Each builder reads one section of the results contract (``task_groups``, ``calibration``,
``robustness``, ``slices``/``slice_summary``, ``training``/``checkpoints``,
``contamination``, ``judge``; see docs/records.md) and returns None when the run has
none. Values are in metric units; ``scale`` turns them into display units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fteval.report import svg
from fteval.report.document import Cell, Chart, Note, Section, Table
from fteval.report.numbers import (
    decimals_for,
    delta_unit,
    fmt,
    fmt_count,
    fmt_interval,
    fmt_p,
    is_number,
    metric_label,
)

if TYPE_CHECKING:
    from fteval.report.sections import Context


def sections(ctx: Context) -> list[Section]:
    """Every extra section the results hold, in reading order."""
    out = []
    for builder in (
        groups_section,
        calibration_section,
        robustness_section,
        slices_section,
        training_section,
        contamination_section,
        judge_section,
    ):
        section = builder(ctx)
        if section is not None:
            out.append(section)
    return out


def _shown(value: Any, scale: Any) -> float | None:
    return float(value) * float(scale or 1.0) if is_number(value) else None


def _value(value: Any, scale: Any, digits: int, *, signed: bool = False) -> str:
    return fmt(value, scale, decimals=digits, signed=signed)


def _with_ci(
    value: Any, low: Any, high: Any, scale: Any, digits: int, *, signed: bool = False
) -> str:
    text = _value(value, scale, digits, signed=signed)
    return f"{text} {fmt_interval(low, high, scale, digits, signed=signed)}".strip()


def _digits(rows: Sequence[Mapping[str, Any]], *keys: str) -> int:
    scale = rows[0].get("scale", 1.0) if rows else 1.0
    return decimals_for([r.get(k) for r in rows for k in keys], scale)


def _yes(flag: Any, text: str) -> str | Cell:
    return Cell(text, "warn") if flag else ("no" if flag is False else "–")


# ---- task groups ----


def groups_section(ctx: Context) -> Section | None:
    """The task groups (MMLU-style) and their member tasks, or None when the run has none."""
    groups = ctx.results.get("task_groups", [])
    if not groups:
        return None
    body = []
    for group in groups:
        depth = 0
        parent = group.get("parent")
        while parent is not None and depth < 10:
            depth += 1
            parent = next((g.get("parent") for g in groups if g["name"] == parent), None)
        metrics = [
            m for m in ("acc_micro", "acc_macro") if (group["name"], ctx.arms[0], m) in ctx.scores
        ] or sorted({k[2] for k in ctx.scores if k[0] == group["name"]})
        for metric in metrics:
            cells = []
            for arm in ctx.arms:
                row = ctx.scores.get((group["name"], arm, metric))
                if row is None:
                    cells.append("")
                    continue
                digits = ctx.decimals(group["name"], metric, row.get("scale"))
                cells.append(
                    _with_ci(
                        row.get("value"),
                        row.get("ci_low"),
                        row.get("ci_high"),
                        row.get("scale"),
                        digits,
                    )
                )
            body.append(
                (
                    "› " * depth + group["name"],
                    str(group.get("level", "")),
                    metric,
                    str(len(group.get("members", []))),
                    *cells,
                )
            )
    table = Table(
        ("group", "level", "metric", "members", *ctx.arms),
        tuple(body),
        caption="task groups (micro: item-weighted; macro: mean of members)",
        label_columns=3,
        kind="groups",
    )
    return Section("groups", "Task groups", (table,))


# ---- calibration ----


def calibration_section(ctx: Context) -> Section | None:
    """Calibration per log-likelihood task and arm, or None when the run has none."""
    rows = ctx.results.get("calibration", [])
    if not rows:
        return None
    blocks: list[Any] = []
    body = []
    for row in rows:
        deltas = row.get("deltas_vs_base") or {}
        ece_delta = deltas.get("ece") or {}
        body.append(
            (
                row["task"],
                row["arm"],
                fmt_count(row.get("n")),
                fmt(row.get("accuracy"), 100, decimals=1),
                fmt(row.get("mean_confidence"), 100, decimals=1),
                fmt(row.get("overconfidence"), 100, decimals=1, signed=True),
                fmt(row.get("ece"), 100, decimals=1),
                fmt(row.get("ece_equal_mass"), 100, decimals=1),
                fmt(row.get("brier"), 1, decimals=3),
                fmt(row.get("nll"), 1, decimals=3),
                fmt(row.get("temperature"), 1, decimals=2),
                fmt(row.get("ece_after_temperature"), 100, decimals=1),
                _with_ci(
                    ece_delta.get("delta"),
                    ece_delta.get("ci_low"),
                    ece_delta.get("ci_high"),
                    100,
                    1,
                    signed=True,
                )
                if ece_delta
                else "",
                _yes(row.get("overconfident"), "overconfident"),
            )
        )
        if row.get("overconfident"):
            blocks.append(
                Note(
                    f"{row['arm']} is overconfident on {row['task']}: mean confidence "
                    f"{fmt(row.get('mean_confidence'), 100)}% vs accuracy "
                    f"{fmt(row.get('accuracy'), 100)}%"
                    + (
                        "; after temperature scaling (T = "
                        f"{fmt(row.get('temperature'), 1, decimals=2)}) "
                        f"ECE is {fmt(row.get('ece_after_temperature'), 100)}%."
                        if is_number(row.get("temperature"))
                        else "."
                    ),
                    "warning",
                )
            )
    blocks.append(
        Table(
            (
                "task",
                "arm",
                "n",
                "acc (%)",
                "mean conf (%)",
                "conf − acc (pts)",
                "ECE (%)",
                "ECE eq-mass (%)",
                "Brier",
                "NLL",
                "T",
                "ECE after T (%)",
                "Δ ECE vs base (pts)",
                "flag",
            ),
            tuple(body),
            caption="calibration of the chosen answer's probability",
            kind="calibration",
            align="llrrrrrrrrrrrl",
        )
    )
    for row in rows:
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
            style=ctx.style.get(row["arm"], 0),
        )
        blocks.append(Chart("reliability", chart, title))
    return Section("calibration", "Calibration", tuple(blocks))


# ---- robustness ----


def robustness_section(ctx: Context) -> Section | None:
    """Scores under each perturbation with their drops, or None when the run has none."""
    rows = ctx.results.get("robustness", [])
    if not rows:
        return None
    blocks: list[Any] = []
    body = []
    for row in rows:
        scale = row.get("scale", 1.0)
        digits = decimals_for([row.get("clean"), row.get("perturbed")], scale)
        body.append(
            (
                row["task"],
                row["arm"],
                str(row.get("perturbation", "")),
                metric_label(
                    row.get("metric", ""),
                    scale,
                    ctx.unit_of(str(row.get("task", "")), str(row.get("metric", ""))),
                ),
                fmt_count(row.get("n")),
                str(row.get("k", "")),
                _value(row.get("clean"), scale, digits),
                _value(row.get("perturbed"), scale, digits),
                _value(row.get("worst_of_k"), scale, digits),
                fmt(row.get("ratio"), 1, decimals=3),
                _with_ci(
                    row.get("drop"),
                    row.get("drop_ci_low"),
                    row.get("drop_ci_high"),
                    scale,
                    digits,
                    signed=True,
                ),
                _with_ci(
                    row.get("gap_vs_base"),
                    row.get("gap_ci_low"),
                    row.get("gap_ci_high"),
                    scale,
                    digits,
                    signed=True,
                ),
                fmt_p(row.get("gap_p_value")),
                _yes(row.get("brittle"), "brittle"),
            )
        )
        if row.get("brittle"):
            blocks.append(
                Note(
                    f"{row['arm']} is brittle under {row.get('perturbation')} on {row['task']}: "
                    f"{_value(row.get('perturbed'), scale, digits)} perturbed vs "
                    f"{_value(row.get('clean'), scale, digits)} clean (ratio "
                    f"{fmt(row.get('ratio'), 1, decimals=3)} < "
                    f"{fmt(row.get('brittle_threshold'), 1, decimals=2)}).",
                    "warning",
                )
            )
    blocks.append(
        Table(
            (
                "task",
                "arm",
                "perturbation",
                "metric",
                "n",
                "k",
                "clean",
                "perturbed",
                "worst of k",
                "ratio",
                "drop [CI]",
                "gap vs base [CI]",
                "gap p",
                "flag",
            ),
            tuple(body),
            caption="scores under perturbed inputs; drop = perturbed − clean",
            kind="robustness",
            align="llllrrrrrrrrrl",
        )
    )
    for (task, metric), group in _grouped(rows, "task", "metric").items():
        scale = group[0].get("scale", 1.0)
        digits = _digits(group, "drop", "drop_ci_low", "drop_ci_high")
        chart_rows = [
            svg.IntervalRow(
                label=f"{r['arm']} · {r.get('perturbation')}",
                value=_shown(r.get("drop"), scale),
                low=_shown(r.get("drop_ci_low"), scale),
                high=_shown(r.get("drop_ci_high"), scale),
                style=ctx.style.get(r["arm"], 0),
                filled=bool(r.get("brittle")),
                text=_with_ci(
                    r.get("drop"),
                    r.get("drop_ci_low"),
                    r.get("drop_ci_high"),
                    scale,
                    digits,
                    signed=True,
                )
                + (" brittle" if r.get("brittle") else ""),
            )
            for r in group
        ]
        unit = delta_unit(scale)
        shown_unit = f" ({unit})" if unit else ""
        title = f"{task}: {metric} drop under perturbation{shown_unit}; filled = brittle"
        chart = svg.interval_chart(chart_rows, title=title, kind="robustness", zero_line=True)
        blocks.append(Chart("robustness", chart, title))
    return Section("robustness", "Robustness", tuple(blocks))


def _grouped(rows: Sequence[Mapping[str, Any]], *keys: str) -> dict[tuple, list]:
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    return groups


# ---- slices ----


def slices_section(ctx: Context) -> Section | None:
    """Scores per slice of the data and the worst slices, or None when the run has none."""
    rows = ctx.results.get("slices", [])
    summary = ctx.results.get("slice_summary", [])
    if not rows and not summary:
        return None
    blocks: list[Any] = []
    for row in rows:
        if row.get("regressed_while_task_improved"):
            blocks.append(
                Note(
                    f"{row['arm']} regressed on {row['task']} {row['field']}={row['slice']} "
                    f"({row.get('metric')}) while the task as a whole improved.",
                    "alert",
                )
            )
    body = []
    for row in rows:
        scale = row.get("scale", 1.0)
        digits = decimals_for([row.get("value")], scale)
        flags = ", ".join(
            name
            for name, on in (
                ("worst slice", row.get("is_worst")),
                ("regressed while task improved", row.get("regressed_while_task_improved")),
            )
            if on
        )
        body.append(
            (
                row["task"],
                str(row.get("field", "")),
                str(row.get("slice", "")),
                row["arm"],
                metric_label(
                    row.get("metric", ""),
                    scale,
                    ctx.unit_of(str(row.get("task", "")), str(row.get("metric", ""))),
                ),
                fmt_count(row.get("n")),
                _with_ci(row.get("value"), row.get("ci_low"), row.get("ci_high"), scale, digits),
                _with_ci(
                    row.get("delta_vs_base"),
                    row.get("delta_ci_low"),
                    row.get("delta_ci_high"),
                    scale,
                    digits,
                    signed=True,
                ),
                fmt_p(row.get("p_adjusted")),
                str(row.get("verdict") or ""),
                Cell(flags, "warn") if flags else "",
            )
        )
    if body:
        blocks.append(
            Table(
                (
                    "task",
                    "field",
                    "slice",
                    "arm",
                    "metric",
                    "n",
                    "score [CI]",
                    "Δ vs base [CI]",
                    "p adj",
                    "verdict",
                    "flags",
                ),
                tuple(body),
                caption="scores per slice",
                kind="slices",
                align="lllllrrrrll",
            )
        )
    if summary:
        sbody = []
        for row in summary:
            scale = ctx.scores.get((row["task"], row["arm"], row.get("metric")), {}).get(
                "scale", row.get("scale", 1.0)
            )
            digits = decimals_for([row.get("best_worst_gap")], scale)
            sbody.append(
                (
                    row["task"],
                    str(row.get("field", "")),
                    row["arm"],
                    str(row.get("metric", "")),
                    str(row.get("worst_slice", "")),
                    str(row.get("best_slice", "")),
                    _with_ci(
                        row.get("best_worst_gap"),
                        row.get("gap_ci_low"),
                        row.get("gap_ci_high"),
                        scale,
                        digits,
                    ),
                )
            )
        blocks.append(
            Table(
                (
                    "task",
                    "field",
                    "arm",
                    "metric",
                    "worst slice",
                    "best slice",
                    "best − worst [CI]",
                ),
                tuple(sbody),
                caption="best and worst slices",
                kind="slice-summary",
                align="llllllr",
            )
        )
    for (task, field, metric), group in _grouped(rows, "task", "field", "metric").items():
        scale = group[0].get("scale", 1.0)
        digits = _digits(group, "value")
        chart_rows = [
            svg.IntervalRow(
                label=f"{r.get('slice')} · {r['arm']}",
                value=_shown(r.get("value"), scale),
                low=_shown(r.get("ci_low"), scale),
                high=_shown(r.get("ci_high"), scale),
                style=ctx.style.get(r["arm"], 0),
                filled=r.get("verdict") in ("improved", "regressed"),
                text=_with_ci(r.get("value"), r.get("ci_low"), r.get("ci_high"), scale, digits)
                + (" worst" if r.get("is_worst") else ""),
            )
            for r in sorted(group, key=lambda r: (str(r.get("slice")), ctx.style.get(r["arm"], 0)))
        ]
        label = metric_label(str(metric), scale, ctx.unit_of(str(task), str(metric)))
        title = f"{task}: {label} per {field} slice and arm"
        blocks.append(
            Chart("slices", svg.interval_chart(chart_rows, title=title, kind="slices"), title)
        )
    return Section("slices", "Slices", tuple(blocks))


# ---- training ----


def training_section(ctx: Context) -> Section | None:
    """Training logs and checkpoint series, or None when the run has none."""
    rows = ctx.results.get("training", [])
    checkpoints = ctx.results.get("checkpoints", [])
    if not rows and not checkpoints:
        return None
    blocks: list[Any] = []
    for row in rows:
        if row.get("overfitting"):
            blocks.append(Note(f"{row['arm']}: {row.get('message') or 'overfitting'}", "warning"))
    if rows:
        body = [
            (
                row["arm"],
                str(row.get("source", "")),
                str(row.get("best_step", "")),
                fmt(row.get("best_eval_loss"), 1, decimals=4),
                str(row.get("final_step", "")),
                fmt(row.get("final_eval_loss"), 1, decimals=4),
                fmt(row.get("train_val_gap"), 1, decimals=4, signed=True),
                _yes(row.get("overfitting"), "overfitting"),
                str(row.get("message") or ""),
            )
            for row in rows
        ]
        blocks.append(
            Table(
                (
                    "arm",
                    "source",
                    "best step",
                    "best eval loss",
                    "final step",
                    "final eval loss",
                    "train − val gap",
                    "flag",
                    "message",
                ),
                tuple(body),
                caption="training logs",
                kind="training",
                align="llrrrrrll",
            )
        )
        for row in rows:
            steps = row.get("steps") or []
            if not steps:
                continue
            style = ctx.style.get(row["arm"], 0)
            series = [svg.Series("train loss", steps, row.get("train_loss") or [], style)]
            if any(v is not None for v in row.get("eval_loss") or []):
                series.append(svg.Series("eval loss", steps, row["eval_loss"], style, dashed=True))
            marks = [(row["best_step"], "best")] if is_number(row.get("best_step")) else []
            title = f"{row['arm']}: training and evaluation loss by step"
            chart = svg.line_chart(
                series, title=title, kind="training", x_label="step", y_label="loss", marks=marks
            )
            if chart:
                blocks.append(Chart("training", chart, title))
    for series in checkpoints:
        blocks += _checkpoint_blocks(ctx, series)
    return Section("training", "Training", tuple(blocks))


def _checkpoint_blocks(ctx: Context, series: Mapping[str, Any]) -> list[Any]:
    task, metric = series.get("task", ""), series.get("metric", "")
    scale = ctx.scores.get((task, (series.get("arms") or [""])[0], metric), {}).get("scale", 1.0)
    label = metric_label(metric, scale, ctx.unit_of(str(task), str(metric)))
    digits = decimals_for(series.get("values") or [], scale)
    last = series.get("last_vs_best") or {}
    body = [
        (str(arm), str(step), _value(value, scale, digits))
        for arm, step, value in zip(
            series.get("arms") or [], series.get("steps") or [], series.get("values") or []
        )
    ]
    caption = (
        f"checkpoints {series.get('series', '')} on {task} {label}; best: "
        f"{series.get('best_arm', '')}; last − best "
        + _with_ci(
            last.get("delta"), last.get("ci_low"), last.get("ci_high"), scale, digits, signed=True
        )
        + f" ({last.get('verdict', '')}, p {fmt_p(last.get('p_value'))})"
    )
    blocks: list[Any] = [
        Table(
            ("checkpoint", "step", "score"),
            tuple(body),
            caption=caption,
            kind="checkpoints",
            align="llr",
        )
    ]
    shown = [_shown(v, scale) for v in series.get("values") or []]
    chart = svg.line_chart(
        [svg.Series(f"{task} {metric}", series.get("steps") or [], shown, 0)],
        title=f"{series.get('series', '')}: {task} {label} by step",
        kind="training",
        x_label="step",
        y_label=label,
    )
    if chart:
        blocks.append(Chart("training", chart, caption))
    return blocks


# ---- contamination ----


def _ci_pair(row: Mapping[str, Any], name: str) -> tuple[Any, Any]:
    """The CI of field ``name`` under any of the spellings a producer may use."""
    stem = name.removesuffix("_vs_base")
    for low, high in ((f"{name}_ci_low", f"{name}_ci_high"), (f"{stem}_ci_low", f"{stem}_ci_high")):
        if low in row or high in row:
            return row.get(low), row.get(high)
    return None, None


def contamination_section(ctx: Context) -> Section | None:
    """Overlap with training data and clean-part scores, or None when none."""
    rows = ctx.results.get("contamination", [])
    if not rows:
        return None
    blocks: list[Any] = []
    overview = []
    for row in rows:
        n = row.get("n") or 0
        exact, near = row.get("exact") or 0, row.get("near") or 0
        overview.append(
            (
                row["task"],
                str(row.get("source", "")),
                fmt_count(n),
                fmt_count(exact),
                fmt_count(near),
                f"{100 * (exact + near) / n:.1f}%" if n else "–",
                fmt(row.get("threshold"), 1, decimals=2),
                fmt_count(row.get("duplicates_in_test")),
            )
        )
        if n and exact + near:
            blocks.append(
                Note(
                    f"{row['task']}: {exact + near} of {n} test items overlap the training data "
                    f"({exact} exact, {near} near).",
                    "warning",
                )
            )
    blocks.append(
        Table(
            (
                "task",
                "training data",
                "n",
                "exact",
                "near",
                "overlap",
                "threshold",
                "duplicates in test",
            ),
            tuple(overview),
            caption="test items found in training data",
            kind="contamination",
            align="llrrrrrr",
        )
    )
    body = []
    for row in rows:
        by_arm = row.get("by_arm") or []
        for arm_row in by_arm:
            scale = ctx.scores.get((row["task"], arm_row["arm"], arm_row.get("metric")), {}).get(
                "scale", arm_row.get("scale", 1.0)
            )
            digits = decimals_for([arm_row.get("clean_value"), arm_row.get("overlap_value")], scale)
            clean_ci = _ci_pair(arm_row, "clean_delta_vs_base")
            overlap_ci = _ci_pair(arm_row, "overlap_delta_vs_base")
            body.append(
                (
                    row["task"],
                    arm_row["arm"],
                    metric_label(
                        str(arm_row.get("metric", "")),
                        scale,
                        ctx.unit_of(str(row["task"]), str(arm_row.get("metric", ""))),
                    ),
                    _value(arm_row.get("clean_value"), scale, digits),
                    _value(arm_row.get("overlap_value"), scale, digits),
                    _with_ci(
                        arm_row.get("clean_delta_vs_base"), *clean_ci, scale, digits, signed=True
                    ),
                    _with_ci(
                        arm_row.get("overlap_delta_vs_base"),
                        *overlap_ci,
                        scale,
                        digits,
                        signed=True,
                    ),
                )
            )
        if by_arm:
            chart_rows = []
            for arm_row in by_arm:
                scale = ctx.scores.get(
                    (row["task"], arm_row["arm"], arm_row.get("metric")), {}
                ).get("scale", arm_row.get("scale", 1.0))
                digits = decimals_for(
                    [arm_row.get("clean_value"), arm_row.get("overlap_value")], scale
                )
                for subset in ("clean", "overlap"):
                    chart_rows.append(
                        svg.IntervalRow(
                            label=f"{arm_row['arm']} · {subset}",
                            value=_shown(arm_row.get(f"{subset}_value"), scale),
                            low=None,
                            high=None,
                            style=ctx.style.get(arm_row["arm"], 0),
                            filled=subset == "clean",
                            text=_value(arm_row.get(f"{subset}_value"), scale, digits),
                        )
                    )
            title = f"{row['task']}: score on clean vs overlapping items per arm"
            blocks.append(
                Chart(
                    "contamination",
                    svg.interval_chart(chart_rows, title=title, kind="contamination"),
                    title,
                )
            )
    if body:
        blocks.append(
            Table(
                (
                    "task",
                    "arm",
                    "metric",
                    "clean",
                    "overlap",
                    "Δ vs base clean [CI]",
                    "Δ vs base overlap [CI]",
                ),
                tuple(body),
                caption="scores on clean and overlapping subsets",
                label_columns=3,
                kind="contamination-arms",
            )
        )
    return Section("contamination", "Contamination", tuple(blocks))


# ---- judged win rates ----


def judge_section(ctx: Context) -> Section | None:
    """Judged win rates per task, arm and opponent, or None when the run has none."""
    rows = ctx.results.get("judge", [])
    if not rows:
        return None
    body = [
        (
            row["task"],
            row["arm"],
            str(row.get("opponent", "")),
            str(row.get("judge", "")),
            fmt_count(row.get("n")),
            fmt_count(row.get("wins")),
            fmt_count(row.get("ties")),
            fmt_count(row.get("losses")),
            fmt_count(row.get("unreadable")),
            fmt(row.get("win_rate"), 100, decimals=1),
            fmt(row.get("lc_win_rate"), 100, decimals=1),
            fmt(row.get("mean_length"), 1, decimals=1),
            fmt(row.get("opponent_mean_length"), 1, decimals=1),
        )
        for row in rows
    ]
    blocks: list[Any] = [
        Table(
            (
                "task",
                "arm",
                "opponent",
                "judge",
                "n",
                "wins",
                "ties",
                "losses",
                "unreadable",
                "win rate (%)",
                "LC win rate (%)",
                "mean length",
                "opponent length",
            ),
            tuple(body),
            caption="judged win rates (ties count half; LC: length-controlled)",
            label_columns=4,
            kind="judge",
        )
    ]
    for task, group in _grouped(rows, "task").items():
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
        title = f"{task[0]}: judged wins, ties and losses per arm"
        blocks.append(
            Chart("judge", svg.stacked_bar_chart(chart_rows, title=title, kind="judge"), title)
        )
    unreadable = [r for r in rows if r.get("unreadable")]
    for row in unreadable:
        blocks.append(
            Note(
                f"{row['arm']}: {row['unreadable']} judgments on {row['task']} could not be read "
                "(counted as errors, not scores).",
                "warning",
            )
        )
    return Section("judge", "Judged win rates", tuple(blocks))

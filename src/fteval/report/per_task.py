"""One report section per unit of the run: a task, or a task group with its members folded.

A task's section: what it is (n, kind, role, source), its scores with intervals, every
verdict on it (each metric, each arm pair) with the reason in the table's units, the
charts of both, its confusion matrices and per-class scores, its seed groups.

A task group's section (MMLU): the micro and macro scores of the group and of each of
its categories, their verdicts and charts; then each category folded (``<details>``,
closed) holding an overview of its member tasks (the primary metric per arm and each
arm's Δ vs base) and each member's own section, itself folded. 57 subjects therefore
take one screen until the reader opens one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fteval.report import svg
from fteval.report.cells import (
    delta_cell,
    mde_text,
    non_inferiority_text,
    reason_cell,
    score_cell,
    verdict_cell,
)
from fteval.report.context import Context, slug
from fteval.report.document import Cell, Chart, Note, Section, Table
from fteval.report.headline import cut_sentence
from fteval.report.numbers import (
    delta_unit,
    fmt,
    fmt_count,
    fmt_p,
    is_number,
    is_significant,
    metric_label,
    reference_kind,
    verdict_word,
)

REFERENCE_ORDER = {"base": 0, "full": 1}  # then adapters and anything else


def unit_section(ctx: Context, unit: str) -> Section | None:
    """The section of one unit (``Context.units``): a group's or a task's; None if empty."""
    if ctx.is_group(unit):
        return group_section(ctx, unit)
    if not ctx.metrics_of(unit):
        return None
    return task_section(ctx, unit)


# ---- one task ----


def task_section(ctx: Context, task: str, *, level: int = 2, collapsed: bool = False) -> Section:
    """Scores, verdicts with reasons, charts, confusion matrices, seed groups of a task."""
    metrics = ctx.metrics_of(task)
    blocks: list[Any] = [Note(_facts(ctx, task))]
    cut = next(
        (r for r in ctx.results.get("truncation") or [] if r["task"] == task and r.get("cut")),
        None,
    )
    if cut is not None:
        level_of = "alert" if cut.get("verdicts_withheld") else "warning"
        blocks.append(Note(cut_sentence(cut), level_of))
    blocks.append(scores_table(ctx, task, metrics))
    comparisons = comparisons_of(ctx, [task])
    if comparisons:
        blocks.append(verdict_table(ctx, comparisons, caption=_verdict_caption()))
    blocks += [scores_chart(ctx, task, metric) for metric in metrics]
    blocks += [c for m in metrics if (c := deltas_chart(ctx, task, m, comparisons)) is not None]
    classes = classification_blocks(ctx, task)
    if classes:
        title = f"{task}: confusion matrices and per-class scores"
        blocks.append(Section(f"classes-{slug(task)}", title, tuple(classes), level=level + 1))
    blocks += seed_blocks(ctx, task)
    return Section(
        f"task-{slug(task)}",
        f"Task: {task}",
        tuple(blocks),
        level=level,
        collapsed=collapsed,
        summary=_headline_of(ctx, task) if collapsed else "",
    )


def _facts(ctx: Context, task: str) -> str:
    info = ctx.task_info(task)
    n = max((r.get("n") or 0 for k, r in ctx.scores.items() if k[0] == task), default=0)
    facts = [f"n = {n}"]
    if info.get("kind"):
        facts.append(str(info["kind"]))
    if info.get("role"):
        facts.append(f"role: {info['role']}")
    if info.get("primary_metric"):
        facts.append(f"primary metric: {info['primary_metric']}")
    if info.get("source"):
        facts.append(f"source: {info['source']}")
    return "; ".join(facts)


def comparisons_of(ctx: Context, tasks: Sequence[str]) -> list[Mapping[str, Any]]:
    """The main comparisons of ``tasks``: against the base first, then the full fine-tune,
    then between adapters; within each, in results order."""
    wanted = set(tasks)
    rows = [c for c in ctx.results.get("comparisons", []) if c["task"] in wanted]
    return sorted(rows, key=lambda r: REFERENCE_ORDER.get(reference_kind(r, ctx.kinds), 2))


def _verdict_caption(subject: str = "") -> str:
    return (
        f"verdicts{f' of {subject}' if subject else ''}: Δ = arm − reference in the table's "
        "units (pts for % metrics); * = significant; the reason says which criterion decided"
    )


def scores_table(ctx: Context, task: str, metrics: Sequence[str]) -> Table:
    """One row per metric, one column per arm: score [CI] in display units."""
    arms = [a for a in ctx.arms if any((task, a, m) in ctx.scores for m in metrics)]
    rows = []
    for metric in metrics:
        scale = _scale_of(ctx, task, metric)
        rows.append(
            (
                metric_label(metric, scale, ctx.unit_of(task, metric)),
                *(score_cell(ctx, ctx.scores.get((task, a, metric))) for a in arms),
            )
        )
    confidence = ctx.results.get("statistics", {}).get("confidence", 0.95)
    caption = f"scores with {confidence:.0%} bootstrap confidence intervals"
    return Table(("metric", *arms), tuple(rows), caption=caption, kind="scores")


def _scale_of(ctx: Context, task: str, metric: str) -> Any:
    return next(
        (r.get("scale", 1.0) for k, r in ctx.scores.items() if k[0] == task and k[2] == metric),
        1.0,
    )


def verdict_table(
    ctx: Context, rows: Sequence[Mapping[str, Any]], *, caption: str, with_task: bool = False
) -> Table:
    """One line per comparison: verdict, Δ with CI, adjusted p, test, MDE, reason.

    Args:
        ctx: the report's lookups.
        rows: comparison rows.
        caption: the table's caption.
        with_task: add a first column naming each row's task (tables over several tasks).
    """
    header = ["metric", "arm", "vs", "verdict", "Δ [CI]", "p adj", "test", "MDE"]
    header += ["non-inferior", "reason"]
    body = []
    for row in rows:
        cells: list[str | Cell] = [
            metric_label(row["metric"], row.get("scale"), row.get("unit")),
            row["arm"],
            row["reference_arm"],
            verdict_cell(ctx, row),
            delta_cell(ctx, row),
            fmt_p(row.get("p_adjusted")),
            str(row.get("test", "")),
            mde_text(ctx, row),
            non_inferiority_text(row),
            reason_cell(ctx, row),
        ]
        body.append(tuple([row["task"], *cells] if with_task else cells))
    align = "lllllrrlrll" if with_task else "llllrrlrll"
    head = ("task", *header) if with_task else tuple(header)
    return Table(head, tuple(body), caption=caption, kind="verdicts", align=align)


def _headline_of(ctx: Context, task: str) -> str:
    """A folded section's one-line summary: the primary metric's verdicts vs base."""
    primary = ctx.primary(task)
    parts = []
    for row in comparisons_of(ctx, [task]):
        if row["metric"] != primary or reference_kind(row, ctx.kinds) != "base":
            continue
        parts.append(f"{row['arm']} {delta_cell(ctx, row, with_ci=False).text}")
    unit = delta_unit(_scale_of(ctx, task, primary)) if primary else ""
    return f"{primary} Δ vs base{f' ({unit})' if unit else ''}: {', '.join(parts)}" if parts else ""


def _shown(value: Any, scale: Any) -> float | None:
    return float(value) * float(scale or 1.0) if is_number(value) else None


def scores_chart(ctx: Context, task: str, metric: str) -> Chart:
    """Each arm's score of one metric with its interval."""
    rows = []
    scale = 1.0
    for arm in ctx.arms:
        row = ctx.scores.get((task, arm, metric))
        if row is None:
            continue
        scale = row.get("scale", 1.0)
        rows.append(
            svg.IntervalRow(
                label=arm,
                value=_shown(row.get("value"), scale),
                low=_shown(row.get("ci_low"), scale),
                high=_shown(row.get("ci_high"), scale),
                style=ctx.style.get(arm, 0),
                filled=True,
                text=score_cell(ctx, row),
            )
        )
    label = metric_label(metric, scale, ctx.unit_of(task, metric))
    title = f"{task}: {label} per arm with confidence intervals"
    return Chart("scores", svg.interval_chart(rows, title=title, kind="scores"), title)


def deltas_chart(
    ctx: Context, task: str, metric: str, comparisons: Sequence[Mapping[str, Any]]
) -> Chart | None:
    """Each arm pair's difference on one metric with its interval; filled = significant."""
    rows = []
    scale = 1.0
    for row in comparisons:
        if row["metric"] != metric or row["task"] != task:
            continue
        scale = row.get("scale", 1.0)
        rows.append(
            svg.IntervalRow(
                label=f"{row['arm']} − {row['reference_arm']}",
                value=_shown(row.get("delta"), scale),
                low=_shown(row.get("ci_low"), scale),
                high=_shown(row.get("ci_high"), scale),
                style=ctx.style.get(row["arm"], 0),
                filled=is_significant(row),
                text=f"{delta_cell(ctx, row).text}  {verdict_word(row, ctx.kinds)}",
            )
        )
    if not rows:
        return None
    unit = delta_unit(scale)
    title = f"{task}: {metric} differences{f' ({unit})' if unit else ''}; filled = significant"
    return Chart(
        "deltas", svg.interval_chart(rows, title=title, kind="deltas", zero_line=True), title
    )


def classification_blocks(ctx: Context, task: str) -> list[Any]:
    """Confusion matrix per arm (chart + table) and per-class precision/recall/F1."""
    reports = [r for r in ctx.results.get("classification", []) if r["task"] == task]
    blocks: list[Any] = []
    for report in reports:
        arm = report["arm"]
        labels = list(report["labels"])
        matrix = [list(row) for row in report["confusion_matrix"]]
        outside = report.get("predicted_outside_labels") or [0] * len(labels)
        columns = list(labels)
        if any(outside):
            columns.append("(other)")
            matrix = [[*row, extra] for row, extra in zip(matrix, outside)]
        title = f"{task}: confusion matrix of {arm} (rows: gold, columns: predicted)"
        blocks.append(Chart("confusion", svg.heatmap(labels, columns, matrix, title=title), title))
        blocks.append(
            Table(
                ("gold \\ predicted", *columns),
                tuple((label, *(fmt_count(v) for v in row)) for label, row in zip(labels, matrix)),
                caption=f"confusion matrix: {arm}",
                kind="confusion",
            )
        )
        blocks.append(_per_class_table(report, labels))
        if report.get("imbalanced") and arm == ctx.arms[0]:
            blocks.append(
                Note(
                    f"{task} is imbalanced (largest / smallest class = "
                    f"{report['imbalance_ratio']:.1f}): read f1_macro beside acc.",
                    "warning",
                )
            )
    return blocks


def _per_class_table(report: Mapping[str, Any], labels: Sequence[str]) -> Table:
    per_class = report.get("per_class", {})
    counts = report.get("class_counts", {})
    return Table(
        ("class", "support", "precision (%)", "recall (%)", "F1 (%)"),
        tuple(
            (
                label,
                fmt_count(counts.get(label)),
                *(
                    fmt(per_class.get(label, {}).get(k), 100, decimals=1)
                    for k in ("precision", "recall", "f1")
                ),
            )
            for label in labels
        ),
        caption=f"per class: {report['arm']}",
        kind="per-class",
    )


def seed_blocks(ctx: Context, task: str) -> list[Any]:
    """The task's seed groups: mean ± std over seeds and whether the spread beats the effect."""
    rows = [r for r in ctx.results.get("seed_groups", []) if r["task"] == task]
    if not rows:
        return []
    body = []
    for row in rows:
        scale = row.get("scale", 1.0)
        digits = ctx.decimals(task, row["metric"], scale)
        spread = row.get("spread_exceeds_effect")
        body.append(
            (
                row["group"],
                metric_label(row["metric"], scale),
                str(row.get("n_seeds", "")),
                f"{fmt(row.get('mean'), scale, decimals=digits)} ± "
                f"{fmt(row.get('std'), scale, decimals=digits)}",
                fmt(row.get("mean_delta_vs_reference"), scale, decimals=digits, signed=True),
                Cell("yes: not credited", "warn") if spread else ("no" if spread is False else "–"),
            )
        )
    return [
        Table(
            ("seed group", "metric", "seeds", "mean ± std", "mean Δ vs base", "spread ≥ effect"),
            tuple(body),
            caption="adapters trained with several seeds",
            kind="seeds",
        )
    ]


# ---- a task group ----


def group_section(ctx: Context, group: str) -> Section:
    """The group's and its categories' scores, the group's verdicts; each category folded."""
    leaves = ctx.leaves(group)
    categories = [c for c in ctx.children(group) if ctx.is_group(c)]
    direct = [c for c in ctx.children(group) if not ctx.is_group(c)]
    shape = f"{len(leaves)} tasks" + (f" in {len(categories)} groups" if categories else "")
    blocks: list[Any] = [
        Note(
            f"{group}: {shape}. Each group and task below is folded: open it to read its "
            "verdicts and its member tasks' scores, verdicts and charts."
        ),
        groups_table(ctx, group),
    ]
    blocks += _group_rows(ctx, group)
    for category in categories:
        blocks.append(members_section(ctx, category, ctx.leaves(category), level=3))
    if direct:
        blocks.append(members_section(ctx, group, direct, level=3, title=f"{group}: tasks"))
    return Section(f"group-{slug(group)}", f"Task group: {group}", tuple(blocks))


def _group_rows(ctx: Context, group: str) -> list[Any]:
    """A group's own verdicts (its micro and macro rows) and their charts."""
    comparisons = comparisons_of(ctx, [group])
    blocks: list[Any] = []
    if comparisons:
        caption = _verdict_caption(f"{group} as a whole")
        blocks.append(verdict_table(ctx, comparisons, caption=caption))
    for metric in ctx.metrics_of(group):
        blocks.append(scores_chart(ctx, group, metric))
        chart = deltas_chart(ctx, group, metric, comparisons)
        if chart is not None:
            blocks.append(chart)
    return blocks


def members_section(
    ctx: Context, group: str, tasks: Sequence[str], *, level: int, title: str = ""
) -> Section:
    """A folded section: a category's own verdicts, an overview table of ``tasks``, then
    each task's folded section."""
    blocks: list[Any] = [] if title else _group_rows(ctx, group)
    overview = members_table(ctx, tasks)
    if overview is not None:
        blocks.append(overview)
    blocks += [
        task_section(ctx, task, level=level + 1, collapsed=True)
        for task in tasks
        if ctx.metrics_of(task)
    ]
    regressed = sum(
        1
        for row in comparisons_of(ctx, tasks)
        if row.get("verdict") == "regressed" and reference_kind(row, ctx.kinds) == "base"
    )
    summary = f"{len(tasks)} tasks" + (f"; {regressed} regressions vs base" if regressed else "")
    return Section(
        f"members-{slug(group)}" if title else f"group-{slug(group)}",
        title or f"Group: {group}",
        tuple(blocks),
        level=level,
        collapsed=True,
        summary=summary,
    )


def members_table(ctx: Context, tasks: Sequence[str]) -> Table | None:
    """One row per task: its primary metric per arm and each arm's Δ vs base."""
    rows = []
    pairs: list[str] = [a for a in ctx.arms if ctx.kinds.get(a) != "base"]
    base = next((a for a in ctx.arms if ctx.kinds.get(a) == "base"), None)
    for task in tasks:
        primary = ctx.primary(task)
        if primary is None:
            continue
        vs_base = {
            c["arm"]: c
            for c in comparisons_of(ctx, [task])
            if c["metric"] == primary and c["reference_arm"] == base
        }
        scores = [ctx.scores.get((task, a, primary)) for a in ctx.arms]
        n = max((row.get("n") or 0 for row in scores if row is not None), default=0)
        rows.append(
            (
                task,
                metric_label(primary, _scale_of(ctx, task, primary), ctx.unit_of(task, primary)),
                fmt_count(n),
                *(score_cell(ctx, row, with_ci=False) for row in scores),
                *(delta_cell(ctx, vs_base[a]) if a in vs_base else "" for a in pairs),
            )
        )
    if not rows:
        return None
    header = ("task", "metric", "n", *ctx.arms, *(f"{a} − {base}" for a in pairs if base))
    if base is None:
        header = header[: 3 + len(ctx.arms)]
        rows = [row[: 3 + len(ctx.arms)] for row in rows]
    return Table(
        header,
        tuple(rows),
        caption="member tasks: each task's primary metric per arm, and each arm's Δ vs base "
        "with its CI (* = significant)",
        label_columns=2,
        kind="members",
    )


def groups_table(ctx: Context, group: str) -> Table:
    """The group and its categories: micro (item-weighted) and macro scores per arm."""
    body = []
    for name in ctx.subgroups(group):
        depth = 0
        parent = ctx.groups[name].get("parent")
        while parent is not None and depth < 10:
            depth += 1
            parent = ctx.groups.get(str(parent), {}).get("parent")
        info = ctx.groups[name]
        for metric in ctx.metrics_of(name):
            body.append(
                (
                    "› " * depth + name,
                    str(info.get("level", "")),
                    metric_label(metric, _scale_of(ctx, name, metric), ctx.unit_of(name, metric)),
                    str(len(info.get("members", []))),
                    *(score_cell(ctx, ctx.scores.get((name, arm, metric))) for arm in ctx.arms),
                )
            )
    return Table(
        ("group", "level", "metric", "members", *ctx.arms),
        tuple(body),
        caption="task groups (micro: item-weighted; macro: mean of members)",
        label_columns=3,
        kind="groups",
    )

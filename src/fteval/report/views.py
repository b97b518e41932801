"""Each results section's table, declared once: columns, units, formatters, captions.

A ``View`` names the section of results.json it shows, how its rows split into tables
(``group_by``), the caption of each table and its columns; a ``Column`` has one label
and one formatter. ``tables`` renders a view into neutral ``Table`` blocks, and every
renderer shows those blocks: report.html and report.md as they are, the terminal fitted
to its width (``terminal=False`` columns and, with ``primary_only``, metrics other than
the task's primary one are left out there to stay short). A caption, a label or a sign
convention therefore cannot differ between the three.

Conventions every view follows: values in display units (``value * scale``); every
delta is *the arm under test minus its reference* (perturbed minus clean; the arm minus
the base), so a negative delta of a higher-is-better metric is a loss; a delta is
starred when significant (``stats.significant``: adjusted p < alpha and the interval
excludes 0) and the p shown is the adjusted one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fteval.report.document import Cell, Note, Table
from fteval.report.numbers import (
    decimals_for,
    delta_unit,
    fmt,
    fmt_bytes,
    fmt_count,
    fmt_interval,
    fmt_p,
    is_number,
    is_significant,
    metric_label,
    verdict_symbol,
)

RowMap = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    """One column: its label (the same in every renderer), how a row fills it, and the
    record field it reads (a dotted path into a nested comparison; empty when computed)."""

    label: str
    render: Callable[[RowMap, int], str | Cell]
    align: str = "r"
    terminal: bool = True
    field: str = ""


@dataclass(frozen=True)
class View:
    """How one results section is shown (see the module docstring).

    Attributes:
        key: the section's name in results.json.
        title: the report section's title.
        columns: the columns, in order.
        caption: the caption of one table, from its rows.
        group_by: row fields whose values split the rows into tables.
        rows: the rows to show, from the results object (default: ``results[key]``).
        notes: sentences a row raises (warnings), shown after its table.
        primary_only: in the terminal, only rows of each task's primary metric.
        decimals_from: row fields whose values set the table's precision.
        section: the report section the view's tables join (default: its own, ``key``);
            the first view of a section gives the section its title.
    """

    key: str
    title: str
    columns: tuple[Column, ...]
    caption: Callable[[Sequence[RowMap]], str]
    group_by: tuple[str, ...] = ("task",)
    rows: Callable[[Mapping[str, Any]], list[RowMap]] | None = None
    notes: Callable[[RowMap], Note | None] | None = None
    primary_only: bool = True
    decimals_from: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    section: str = ""

    def rows_of(self, results: Mapping[str, Any]) -> list[RowMap]:
        """The rows this view shows."""
        if self.rows is not None:
            return self.rows(results)
        return list(results.get(self.key) or [])


# ---- cell formatters ----


def _scale(row: RowMap) -> float:
    scale = row.get("scale", 1.0)
    return float(scale) if is_number(scale) else 1.0


def text(name: str, label: str | None = None, *, terminal: bool = True) -> Column:
    """A text field."""
    return Column(label or name, lambda row, _: str(row.get(name) or ""), "l", terminal, name)


def count(name: str, label: str | None = None, *, terminal: bool = True) -> Column:
    """A count."""
    return Column(label or name, lambda row, _: fmt_count(row.get(name)), "r", terminal, name)


def score(name: str, label: str | None = None, *, terminal: bool = True) -> Column:
    """A score in display units, at the table's precision."""
    return Column(
        label or name,
        lambda row, d: fmt(row.get(name), _scale(row), decimals=d),
        "r",
        terminal,
        name,
    )


def number(
    name: str, label: str | None = None, *, scale: float = 1.0, decimals: int = 3,
    signed: bool = False, terminal: bool = True,
) -> Column:  # fmt: skip
    """A number with a fixed scale and precision (losses, ratios, temperatures)."""

    def render(row: RowMap, _: int) -> str:
        return fmt(row.get(name), scale, decimals=decimals, signed=signed)

    return Column(label or name, render, "r", terminal, name)


def score_with_ci(name: str, low: str, high: str, label: str, *, terminal: bool = True) -> Column:
    """A score with its interval: ``87.7 [84.0, 91.3]``."""

    def render(row: RowMap, d: int) -> str:
        value = fmt(row.get(name), _scale(row), decimals=d)
        return f"{value} {fmt_interval(row.get(low), row.get(high), _scale(row), d)}".strip()

    return Column(label, render, "r", terminal, name)


def comparison_of(row: RowMap, name: str) -> RowMap | None:
    """The comparison at ``name`` (a dotted path: ``vs_base.ece``), or None."""
    value: Any = row
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else None


def delta(name: str, label: str, *, terminal: bool = True) -> Column:
    """A comparison's delta with its interval, starred when significant."""

    def render(row: RowMap, d: int) -> str | Cell:
        found = comparison_of(row, name)
        if found is None:
            return ""
        scale = _scale(found)
        star = "*" if is_significant(found) else ""
        shown = fmt(found.get("delta"), scale, decimals=d, signed=True) + star
        interval = fmt_interval(found.get("ci_low"), found.get("ci_high"), scale, d, signed=True)
        return Cell(f"{shown} {interval}".strip(), _tone(found) if star else "")

    return Column(label, render, "r", terminal, name)


def verdict(name: str, label: str = "verdict", *, terminal: bool = True) -> Column:
    """A comparison's verdict: symbol and word."""

    def render(row: RowMap, _: int) -> str | Cell:
        found = comparison_of(row, name)
        if found is None:
            return ""
        word = str(found.get("verdict") or "")
        return Cell(f"{verdict_symbol(found)} {word}".strip(), _tone(found))

    return Column(label, render, "l", terminal, name)


def p_adjusted(name: str, label: str = "p adj", *, terminal: bool = False) -> Column:
    """A comparison's adjusted p-value."""

    def render(row: RowMap, _: int) -> str:
        found = comparison_of(row, name)
        return fmt_p(found.get("p_adjusted")) if found is not None else ""

    return Column(label, render, "r", terminal, name)


def flags(*pairs: tuple[str, str], label: str = "flags", terminal: bool = True) -> Column:
    """Words for the boolean fields that are true (``("brittle", "BRITTLE")``...)."""

    def render(row: RowMap, _: int) -> str | Cell:
        words = [word for name, word in pairs if row.get(name)]
        return Cell(", ".join(words), "warn") if words else ""

    return Column(label, render, "l", terminal, pairs[0][0] if len(pairs) == 1 else "")


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def _tone(row: RowMap) -> str:
    return {"improved": "up", "regressed": "down"}.get(str(row.get("verdict")), "")


# ---- rendering ----


def tables(
    view: View,
    results: Mapping[str, Any],
    *,
    narrow: bool = False,
    primary: Mapping[str, str] | None = None,
) -> list[tuple[Table, list[Note]]]:
    """The view's tables (one per group), each with the notes its rows raise.

    Args:
        view: the declaration.
        results: the results object.
        narrow: the terminal's form: ``terminal=False`` columns left out and, for a
            ``primary_only`` view, only rows of each task's primary metric (``primary``).
        primary: task -> its primary metric.
    """
    rows = view.rows_of(results)
    if narrow and view.primary_only and primary:
        rows = [r for r in rows if r.get("metric") in (None, primary.get(str(r.get("task"))))]
    columns = [c for c in view.columns if c.terminal or not narrow]
    out = []
    for group in _groups(rows, view.group_by):
        digits = _decimals(view, group)
        body = tuple(tuple(column.render(row, digits) for column in columns) for row in group)
        table = Table(
            tuple(c.label for c in columns),
            body,
            caption=view.caption(group),
            kind=view.key,
            align="".join(c.align for c in columns),
        )
        notes = [note for row in group if view.notes and (note := view.notes(row)) is not None]
        out.append((table, notes))
    return out


def _groups(rows: Sequence[RowMap], keys: Sequence[str]) -> list[list[RowMap]]:
    groups: dict[tuple[Any, ...], list[RowMap]] = {}
    for row in rows:
        groups.setdefault(tuple(str(row.get(k)) for k in keys), []).append(row)
    return list(groups.values())


def _decimals(view: View, rows: Sequence[RowMap]) -> int:
    if not rows:
        return 1
    values = [r.get(name) for r in rows for name in view.decimals_from]
    return decimals_for(values, _scale(rows[0]))


def _first(rows: Sequence[RowMap], name: str) -> str:
    return str(rows[0].get(name, "")) if rows else ""


def _unit_words(rows: Sequence[RowMap]) -> str:
    unit = delta_unit(_scale(rows[0])) if rows else ""
    return f" in {unit}" if unit else ""


CONVENTION = "* = significant (adjusted p < α and the CI excludes 0)"


# ---- the views ----


def _robustness_caption(rows: Sequence[RowMap]) -> str:
    task, label = _first(rows, "task"), _first(rows, "perturbation")
    k = rows[0].get("k", 1) if rows else 1
    variants = f", {k} variants per item" if is_number(k) and int(k) > 1 else ""
    return (
        f"robustness: {task} under {label}{variants}. Δ = perturbed − clean{_unit_words(rows)} "
        "(negative: worse); vs base = the arm's Δ − the base's Δ (positive: more robust "
        f"than the base); {CONVENTION}"
    )


def _brittle_note(row: RowMap) -> Note | None:
    if not row.get("brittle"):
        return None
    return Note(
        f"{row['arm']} is brittle under {row.get('perturbation')} on {row['task']} "
        f"{row.get('metric')}: perturbed/clean ratio {fmt(row.get('ratio'), 1, decimals=2)} "
        f"< {fmt(row.get('brittle_threshold'), 1, decimals=2)}.",
        "warning",
    )


def _brittle_cell(row: RowMap, _: int) -> str | Cell:
    """``brittle: 0.85 < 0.90`` (the ratio under the threshold) or empty: one flag with the
    numbers that raised it, never a bare word beside a verdict."""
    if not row.get("brittle"):
        return ""
    ratio = fmt(row.get("ratio"), 1, decimals=2)
    return Cell(f"brittle: {ratio} < {fmt(row.get('brittle_threshold'), 1, decimals=2)}", "warn")


ROBUSTNESS = View(
    key="robustness",
    title="Robustness",
    group_by=("task", "perturbation"),
    caption=_robustness_caption,
    decimals_from=("clean", "perturbed"),
    notes=_brittle_note,
    columns=(
        text("arm"),
        text("metric"),
        count("n", terminal=False),
        score("clean"),
        score("perturbed"),
        score("worst_of_k", "worst of k", terminal=False),
        number("ratio", decimals=2),
        delta("under_perturbation", "Δ [CI]"),
        verdict("under_perturbation", "Δ verdict", terminal=False),
        delta("vs_base", "vs base [CI]"),
        verdict("vs_base", "vs base verdict"),
        p_adjusted("vs_base", "vs base p adj"),
        Column("brittle", _brittle_cell, "l", field="brittle"),
    ),
)


def _slices_caption(rows: Sequence[RowMap]) -> str:
    return (
        f"slices: {_first(rows, 'task')} by {_first(rows, 'field')}. Δ vs base{_unit_words(rows)} "
        "on the slice's items; ^ = the arm's worst slice (ties: the first by name); "
        "! = regressed while the whole "
        f"task improved; {CONVENTION}"
    )


def _slice_name(row: RowMap, _: int) -> str:
    marks = ("^" if row.get("is_worst") else "") + (
        "!" if row.get("regressed_while_task_improved") else ""
    )
    return f"{row.get('slice', '')}{marks}"


def _regressed_note(row: RowMap) -> Note | None:
    if not row.get("regressed_while_task_improved"):
        return None
    return Note(
        f"{row['arm']} regressed on {row['task']} {row['field']}={row['slice']} "
        f"({row.get('metric')}) while the task as a whole improved.",
        "alert",
    )


SLICES = View(
    key="slices",
    title="Slices",
    group_by=("task", "field"),
    caption=_slices_caption,
    decimals_from=("value",),
    notes=_regressed_note,
    columns=(
        Column("slice", _slice_name, "l"),
        text("arm"),
        text("metric", terminal=False),
        count("n"),
        score_with_ci("value", "ci_low", "ci_high", "score [CI]"),
        delta("vs_base", "Δ vs base [CI]"),
        verdict("vs_base", terminal=False),
        p_adjusted("vs_base"),
    ),
)


def _summary_caption(rows: Sequence[RowMap]) -> str:
    return (
        f"worst and best slice: {_first(rows, 'task')} by {_first(rows, 'field')} "
        f"(gap = best − worst{_unit_words(rows)}; {_first(rows, 'note')})"
    )


SLICE_SUMMARY = View(
    key="slice_summary",
    title="Worst and best slices",
    section="slices",
    group_by=("task", "field"),
    caption=_summary_caption,
    decimals_from=("best_worst_gap",),
    columns=(
        text("arm"),
        text("metric"),
        text("worst_slice", "worst slice"),
        text("best_slice", "best slice"),
        score_with_ci("best_worst_gap", "gap_ci_low", "gap_ci_high", "gap [CI]"),
    ),
)


def _calibration_caption(rows: Sequence[RowMap]) -> str:
    bins = rows[0].get("n_bins", 15) if rows else 15
    return (
        f"calibration: {_first(rows, 'task')}. acc, conf and ECE in %, over {bins} "
        "equal-width bins; Brier and NLL in their own units; T = temperature fitted on "
        f"validation; Δ ECE vs base in points; {CONVENTION}"
    )


def _overconfident_rows(results: Mapping[str, Any]) -> list[RowMap]:
    """The calibration rows flagged overconfident, each with its task's base accuracy."""
    rows = list(results.get("calibration") or [])
    base_arms = {a["name"] for a in results.get("arms", []) if a.get("kind") == "base"}
    base = {r["task"]: r.get("accuracy") for r in rows if r.get("arm") in base_arms}
    return [{**r, "base_accuracy": base.get(r["task"])} for r in rows if r.get("overconfident")]


def _overconfidence(row: RowMap, _: int) -> str:
    value = fmt(row.get("overconfidence"), 100, decimals=1, signed=True)
    low, high = row.get("overconfidence_ci_low"), row.get("overconfidence_ci_high")
    return f"{value} {fmt_interval(low, high, 100, 1, signed=True)}".strip()


def _rescaling(row: RowMap, _: int) -> str:
    before, after = _number(row.get("ece")), _number(row.get("ece_after_temperature"))
    if before is None or after is None:
        return "–"
    return "fixes it" if after < 0.5 * before else "does not fix it"


def _loss_flag(row: RowMap, _: int) -> str | Cell:
    """Loss up while accuracy up: the arm is right more often but more sure when wrong."""
    nll = comparison_of(row, "vs_base.nll")
    base, accuracy = _number(row.get("base_accuracy")), _number(row.get("accuracy"))
    if nll is None or nll.get("verdict") != "regressed":
        return ""
    if base is not None and accuracy is not None and accuracy > base:
        return Cell("loss up vs base while acc up", "warn")
    return Cell("loss up vs base", "warn")


def _flags_caption(rows: Sequence[RowMap]) -> str:
    return (
        "overconfident arms: mean confidence above accuracy with the CI of conf − acc above "
        "0 (points); T = temperature fitted on validation; rescaling fixes it when the ECE "
        "after T is under half the ECE"
    )


CALIBRATION_FLAGS = View(
    key="calibration_flags",
    title="Calibration",
    section="calibration",
    caption=_flags_caption,
    group_by=(),
    rows=_overconfident_rows,
    primary_only=False,
    columns=(
        text("task"),
        text("arm"),
        number("mean_confidence", "conf", scale=100, decimals=1),
        number("accuracy", "acc", scale=100, decimals=1),
        Column("conf − acc [CI]", _overconfidence, field="overconfidence"),
        number("ece", "ECE", scale=100, decimals=1),
        number("temperature", "T", decimals=2, terminal=False),
        number("ece_after_temperature", "ECE after T", scale=100, decimals=1),
        Column("rescaling", _rescaling, "l", field="ece_after_temperature"),
        Column("loss", _loss_flag, "l", terminal=False, field="vs_base"),
    ),
)


CALIBRATION = View(
    key="calibration",
    title="Calibration",
    caption=_calibration_caption,
    primary_only=False,
    columns=(
        text("arm"),
        count("n", terminal=False),
        number("accuracy", "acc", scale=100, decimals=1),
        number("mean_confidence", "conf", scale=100, decimals=1),
        number("overconfidence", "conf − acc", scale=100, decimals=1, signed=True),
        number("ece", "ECE", scale=100, decimals=1),
        number("ece_equal_mass", "ECE mass", scale=100, decimals=1, terminal=False),
        number("brier", "Brier", decimals=3),
        number("nll", "NLL", decimals=3),
        number("temperature", "T", decimals=2),
        number("ece_after_temperature", "ECE after T", scale=100, decimals=1),
        delta("vs_base.ece", "Δ ECE vs base [CI]"),
        flags(("overconfident", "overconfident"), terminal=False),
    ),
)


def _training_caption(rows: Sequence[RowMap]) -> str:
    return "training logs: losses in their own units; gap = final validation − training loss"


TRAINING = View(
    key="training",
    title="Training logs",
    group_by=(),
    caption=_training_caption,
    primary_only=False,
    notes=lambda row: Note(str(row["message"]), "warning") if row.get("overfitting") else None,
    columns=(
        text("arm"),
        text("source", terminal=False),
        text("best_step", "best step"),
        number("best_eval_loss", "best val loss", decimals=4),
        text("final_step", "final step"),
        number("final_eval_loss", "final val loss", decimals=4),
        number("train_val_gap", "gap", decimals=4, signed=True),
        flags(("overfitting", "overfitting")),
        text("message", terminal=False),
    ),
)


def _checkpoint_rows(results: Mapping[str, Any]) -> list[RowMap]:
    out: list[RowMap] = []
    for row in results.get("checkpoints") or []:
        values = ", ".join(
            f"{step}: {fmt(v, row.get('scale', 1.0))}"
            for step, v in zip(row.get("steps") or [], row.get("values") or [])
        )
        out.append({**row, "values_text": values})
    return out


def _checkpoint_caption(rows: Sequence[RowMap]) -> str:
    return (
        f"checkpoints: {_first(rows, 'task')}. last − best{_unit_words(rows)}; the best "
        "is chosen on the validation split when the run has one, otherwise on the test "
        f"items with a test that accounts for the choice; {CONVENTION}"
    )


CHECKPOINTS = View(
    key="checkpoints",
    title="Checkpoints",
    caption=_checkpoint_caption,
    rows=_checkpoint_rows,
    decimals_from=("values",),
    columns=(
        text("series"),
        text("metric"),
        Column(
            "score by step", lambda row, _: str(row.get("values_text", "")), "l", field="values"
        ),
        text("best_arm", "best"),
        text("selected_on", "chosen on"),
        delta("last_vs_best", "last − best [CI]"),
        verdict("last_vs_best"),
        p_adjusted("last_vs_best"),
    ),
)


def _contamination_caption(rows: Sequence[RowMap]) -> str:
    row = rows[0] if rows else {}
    return (
        f"contamination: {row.get('task', '')} vs {row.get('source', '')}: items whose "
        f"input is in the training data (near: ≥{fmt(row.get('threshold'), 100, decimals=0)}% "
        f"of its {row.get('ngram', 8)}-grams)"
    )


def _contamination_note(row: RowMap) -> Note | None:
    n, found = row.get("n") or 0, (row.get("exact") or 0) + (row.get("near") or 0)
    if not n or not found:
        return None
    return Note(
        f"{row['task']}: {found} of {n} test items overlap {row.get('source')} "
        f"({row.get('exact')} exact, {row.get('near')} near).",
        "warning",
    )


CONTAMINATION = View(
    key="contamination",
    title="Contamination",
    caption=_contamination_caption,
    group_by=("task", "source"),
    notes=_contamination_note,
    primary_only=False,
    columns=(
        count("n"),
        count("exact"),
        count("near"),
        Column(
            "overlap",
            lambda row, _: (
                f"{100 * ((row.get('exact') or 0) + (row.get('near') or 0)) / row['n']:.1f}%"
                if row.get("n")
                else "–"
            ),
        ),
        count("duplicates_in_test", "duplicates in test"),
    ),
)


def _contamination_arm_rows(results: Mapping[str, Any]) -> list[RowMap]:
    return [
        {"task": row["task"], "source": row.get("source"), **arm}
        for row in results.get("contamination") or []
        for arm in row.get("by_arm") or []
    ]


def _contamination_arm_caption(rows: Sequence[RowMap]) -> str:
    return (
        f"scores on clean and overlapping items: {_first(rows, 'task')} vs "
        f"{_first(rows, 'source')}; Δ vs base{_unit_words(rows)} on the same items; "
        f"{CONVENTION}"
    )


CONTAMINATION_ARMS = View(
    key="contamination_arms",
    title="Contamination: scores by subset",
    section="contamination",
    caption=_contamination_arm_caption,
    group_by=("task", "source"),
    rows=_contamination_arm_rows,
    decimals_from=("clean_value", "overlap_value"),
    columns=(
        text("arm"),
        text("metric"),
        count("clean_n", "n clean", terminal=False),
        score("clean_value", "clean"),
        count("overlap_n", "n overlap", terminal=False),
        score("overlap_value", "overlap"),
        delta("clean_vs_base", "Δ clean vs base [CI]"),
        delta("overlap_vs_base", "Δ overlap vs base [CI]"),
    ),
)


def _judge_caption(rows: Sequence[RowMap]) -> str:
    return (
        f"judged win rates: {_first(rows, 'task')} (in %; ties count half; LC: length-controlled)"
    )


JUDGE = View(
    key="judge",
    title="Judged win rates",
    caption=_judge_caption,
    primary_only=False,
    notes=lambda row: (
        Note(
            f"{row['arm']}: {row['unreadable']} judgments on {row['task']} could not be read "
            "(counted as errors, not scores).",
            "warning",
        )
        if row.get("unreadable")
        else None
    ),
    columns=(
        text("arm"),
        text("opponent"),
        text("judge", terminal=False),
        count("n"),
        count("wins"),
        count("ties"),
        count("losses"),
        count("unreadable", terminal=False),
        number("win_rate", "win rate", scale=100, decimals=1),
        number("lc_win_rate", "LC win rate", scale=100, decimals=1),
        number("mean_length", "mean length", decimals=1, terminal=False),
        number("opponent_mean_length", "opponent length", decimals=1, terminal=False),
    ),
)


def _truncation_caption(rows: Sequence[RowMap]) -> str:
    return (
        "prompts longer than the context window, cut from the left before the model read "
        "them (tokens of the arms' tokenizer); a task where most items lost their question "
        "gets no verdict"
    )


def _withheld_note(row: RowMap) -> Note | None:
    if not row.get("verdicts_withheld"):
        return None
    return Note(
        f"{row['task']}: {row.get('question_cut')} of {row.get('n')} prompts lost part of "
        f"their question to the {row.get('max_length')}-token context window: its "
        "comparisons say 'insufficient data' instead of a verdict.",
        "alert",
    )


TRUNCATION = View(
    key="truncation",
    title="Prompts cut by the context window",
    caption=_truncation_caption,
    group_by=(),
    notes=_withheld_note,
    primary_only=False,
    columns=(
        text("task"),
        count("n"),
        count("cut"),
        number("share_cut", "cut (%)", scale=100, decimals=0),
        number("median_tokens_cut", "median tokens cut", decimals=0),
        count("question_cut", "question lost"),
        number("share_question_cut", "question lost (%)", scale=100, decimals=0),
        count("max_length", "window"),
        count("fitted", "field shortened", terminal=False),
        flags(("verdicts_withheld", "NO VERDICT")),
    ),
)


def _deployment_caption(rows: Sequence[RowMap]) -> str:
    return (
        f"deployment parity: {_first(rows, 'task')}. Δ = form − the arm it derives from"
        f"{_unit_words(rows)}, on the same items; parity is held when the interval stays "
        "within the margin (non-inferiority); memory: the serving model's weights as loaded; "
        f"{CONVENTION}"
    )


def _parity_cell(row: RowMap, _: int) -> str | Cell:
    held = row.get("held")
    if held is None:
        return "too few items"
    return Cell("held", "up") if held else Cell("LOST", "down")


def _margin_cell(row: RowMap, d: int) -> str:
    parity = comparison_of(row, "parity") or {}
    scale = _scale(parity)
    unit = delta_unit(scale)
    shown = fmt(parity.get("non_inferiority_margin"), scale, decimals=d)
    return f"{shown} {unit}".strip() if is_number(parity.get("non_inferiority_margin")) else "–"


def _lost_note(row: RowMap) -> Note | None:
    if row.get("held") is not False:
        return None
    parity = comparison_of(row, "parity") or {}
    return Note(
        f"{row['arm']} ({row.get('form')} of {row.get('source_arm')}) lost parity on "
        f"{row['task']} {row.get('metric')}: its interval reaches past the "
        f"{_margin_cell(row, 1)} margin ({parity.get('reason', '')}).",
        "warning",
    )


DEPLOYMENT = View(
    key="deployment",
    title="Deployment parity",
    caption=_deployment_caption,
    notes=_lost_note,
    decimals_from=("value", "source_value"),
    columns=(
        text("arm", "form arm"),
        text("form"),
        text("source_arm", "source"),
        text("metric"),
        score("value", "form score"),
        score("source_value", "source score", terminal=False),
        delta("parity", "Δ vs source [CI]"),
        Column("margin", _margin_cell, field="parity"),
        Column("parity", _parity_cell, "l", field="held"),
        Column("memory", lambda row, _: fmt_bytes(row.get("memory_bytes")),
               field="memory_bytes"),
        Column("source memory", lambda row, _: fmt_bytes(row.get("source_memory_bytes")),
               terminal=False, field="source_memory_bytes"),
        p_adjusted("parity"),
    ),
)  # fmt: skip

VIEWS: tuple[View, ...] = (
    TRUNCATION,
    CALIBRATION_FLAGS,
    CALIBRATION,
    ROBUSTNESS,
    SLICES,
    SLICE_SUMMARY,
    TRAINING,
    CHECKPOINTS,
    CONTAMINATION,
    CONTAMINATION_ARMS,
    JUDGE,
    DEPLOYMENT,
)
"""Every section view, in reading order."""


def primary_metrics(results: Mapping[str, Any]) -> dict[str, str]:
    """Task -> its primary metric (the task's ``primary_metric``, else its first metric)."""
    out = {}
    for info in results.get("tasks", []):
        chosen = info.get("primary_metric")
        if not chosen and info.get("metrics"):
            first = info["metrics"][0]
            chosen = first if isinstance(first, str) else first.get("key") or first.get("name")
        if chosen:
            out[info["name"]] = str(chosen)
    return out


__all__ = ["VIEWS", "Column", "View", "metric_label", "primary_metrics", "tables"]

"""The terminal summary printed after a run: the headline (``report.headline``: one screen
that answers whether each fine-tune helped), then with ``details`` every table. It fits
the terminal's width (80 columns when piped) and colours verdicts and significant deltas
when the stream is a colour terminal, plain otherwise.

Colour follows the usual conventions: ``NO_COLOR`` set to anything non-empty turns it off
(https://no-color.org), ``FORCE_COLOR`` turns it on, otherwise only a TTY whose ``TERM``
is not ``dumb`` gets it. Colour never carries meaning alone: significant deltas also have
a ``*`` and verdicts their words.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from fteval.report.document import Cell, Table
from fteval.report.headline import build_headline, cut_sentence
from fteval.report.numbers import (
    correction_note,
    fmt,
    fmt_bytes,
    fmt_count,
    fmt_params,
    fmt_seconds,
    is_number,
    is_proportion,
)
from fteval.report.sections import LENGTH_ALERT_SHARE
from fteval.report.table import TaskTable, build_tables, verdict_lines
from fteval.report.views import VIEWS, primary_metrics, tables

DEFAULT_WIDTH = 80
DETAILS_RULE = "─── details " + "─" * 28
"""The line between the headline and the tables ``--details`` adds."""
GAP = "  "
ANSI = {"up": "\033[1;32m", "down": "\033[1;31m", "warn": "\033[33m", "bold": "\033[1m"}
RESET = "\033[0m"
WORD_TONES = {"improved": "up", "leads": "up", "regressed": "down", "trails": "down"}
VERDICT_WORD = re.compile(r"(^\s*|: )(improved|regressed|leads|trails)(?= |$)")


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to colour output written to ``stream`` (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_width(stream: TextIO) -> int:
    """The width to fit: the terminal's columns for a TTY, else 80."""
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        return max(40, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    return DEFAULT_WIDTH


def _paint(text: str, tone: str, color: bool) -> str:
    return f"{ANSI[tone]}{text}{RESET}" if color and tone in ANSI and text else text


def render_terminal(
    results: Mapping[str, Any],
    run_dir: str | None = None,
    *,
    width: int = DEFAULT_WIDTH,
    color: bool = False,
    quiet: bool = False,
    details: bool = False,
) -> str:
    """The headline (one screen: ``report.headline``), then with ``details`` every table.

    Args:
        results: the results object.
        run_dir: the run directory, named in the headline's last line.
        width: the widest line allowed (columns, >= 40).
        color: colour verdict words and significant deltas with ANSI codes.
        quiet: with ``details``, only the tables, the results sections and loud warnings.
        details: the per-task tables, every verdict, the results sections, notes and cost
            after the headline.
    """
    width = max(40, width)
    lines = headline_lines(results, run_dir, width, color)
    if details:
        lines += ["", DETAILS_RULE, *detail_lines(results, width, color, quiet)]
    return "\n".join(lines).strip("\n") + "\n"


def headline_lines(
    results: Mapping[str, Any], run_dir: str | None, width: int, color: bool
) -> list[str]:
    """The headline fitted to ``width`` columns (at most ``HEADLINE_LINES`` lines)."""
    headline = build_headline(results, run_dir=run_dir, width=width)
    lines = [*_wrap(headline.title, width), ""]
    rows = [line for block in headline.blocks for line in block.lines]
    word = max((len(r.word) for r in rows), default=0)
    delta = max((len(r.delta) for r in rows), default=0)
    interval = max((len(r.interval) for r in rows), default=0)
    room = width - 2 - word - 2 - delta - 1 - interval - 2
    label = max(8, min(max((len(r.label) for r in rows), default=0), room))
    for block in headline.blocks:
        lines.append(_clip(block.title, width))
        for row in block.lines:
            text = (
                f"  {_clip(row.label, label).ljust(label)}  {row.word.ljust(word)}  "
                f"{row.delta.rjust(delta)} {row.interval.ljust(interval)}"
            )
            if row.note:
                text += f"  {row.note}"
            text = _clip(text.rstrip(), width)
            lines.append(text.replace(row.word, _paint(row.word, row.tone, color), 1))
        if block.folded:
            lines.append(_clip(f"  {block.folded}", width))
    if headline.notes or headline.footer:
        lines.append("")
    for note in headline.notes:
        tone = {"warning": "warn", "alert": "down"}.get(note.level, "")
        wrapped = _wrap(f"{note.label}: {note.text}", width)
        lines += [_paint(part, tone, color) for part in wrapped]
    if headline.footer:
        lines += _wrap(headline.footer, width)
    return lines


def detail_lines(
    results: Mapping[str, Any], width: int, color: bool, quiet: bool = False
) -> list[str]:
    """Every table of the run: per task, the verdicts, the results sections, notes, cost."""
    lines: list[str] = []
    cuts = {r["task"]: r for r in results.get("truncation") or [] if r.get("cut")}
    for table in build_tables(results):
        lines.append("")
        lines += _wrap(f"{table.task}  (n={table.n})", width)
        if table.task in cuts:
            text = f"WARNING: {cut_sentence(cuts[table.task])}"
            lines += [_paint(part, "warn", color) for part in _wrap(text, width)]
        lines += fit_table(table, width, color)
    notes = _unit_note(results)
    if notes:
        lines += ["", *_wrap(notes, width)]
    if quiet:
        lines += _length_alerts(results, width, color)
    if results.get("comparisons") and not quiet:
        lines += ["", "verdicts:"]
        for line in verdict_lines(results):
            wrapped = _wrap(line, width, indent="  ", hanging="      ")
            lines += [_paint_words(part, color) for part in wrapped]
        lines += ["", *_wrap(correction_note(results), width)]
    lines += _hidden_sections(results, width, color)  # tables too: shown when quiet
    if not quiet:
        lines += _notes(results, width, color)
        lines += _length_alerts(results, width, color)
        lines += _cost_lines(results, width)
    return lines


def _unit_note(results: Mapping[str, Any]) -> str:
    kinds = {(r.get("scale"), r.get("unit")) for r in results.get("scores", [])}
    if any(is_proportion(scale, kind) for scale, kind in kinds):
        return "(%) = percent; Δ of (%) metrics in percentage points; other metrics in own units."
    return ""


def fit_table(table: TaskTable, width: int, color: bool) -> list[str]:
    """The table in blocks of columns that each fit ``width`` (the metric column repeats)."""
    columns = len(table.header)
    widths = [max(len(str(r[i])) for r in [table.header, *table.rows]) for i in range(columns)]
    first = min(widths[0], max(8, width // 3))
    blocks: list[list[int]] = []
    current: list[int] = []
    used = first
    for index in range(1, columns):
        need = len(GAP) + widths[index]
        if current and used + need > width:
            blocks.append(current)
            current, used = [], first
        current.append(index)
        used += need
    if current:
        blocks.append(current)
    lines: list[str] = []
    for number, block in enumerate(blocks):
        if number:
            lines.append("")
        header = [_clip(table.header[0], first)] + [
            _clip(table.header[i], width - first - len(GAP)) for i in block
        ]
        cell_widths = [first] + [min(widths[i], width - first - len(GAP)) for i in block]
        lines.append(_join(header, cell_widths, [""] * len(header), color))
        lines.append(GAP.join("-" * w for w in cell_widths))
        for row_number, row in enumerate(table.rows):
            tones = table.tones[row_number] if table.tones else ("",) * columns
            cells = [_clip(row[0], first)] + [row[i] for i in block]
            cell_tones = [""] + [tones[i] for i in block]
            lines.append(_join(cells, cell_widths, cell_tones, color))
    return lines


def _join(cells: Sequence[str], widths: Sequence[int], tones: Sequence[str], color: bool) -> str:
    padded = [
        (str(c).ljust(w) if i == 0 else str(c).rjust(w))
        for i, (c, w) in enumerate(zip(cells, widths))
    ]
    painted = [
        p.replace(str(c).strip(), _paint(str(c).strip(), t, color)) if t else p
        for p, c, t in zip(padded, cells, tones)
    ]
    return GAP.join(painted).rstrip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _wrap(text: str, width: int, indent: str = "", hanging: str = "  ") -> list[str]:
    if not text:
        return []
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=hanging,
        break_long_words=True,
        break_on_hyphens=False,
    )


def _paint_words(line: str, color: bool) -> str:
    """Colour the verdict word of a (wrapped) verdict line."""
    if not color:
        return line
    return VERDICT_WORD.sub(
        lambda m: m.group(1) + _paint(m.group(2), WORD_TONES[m.group(2)], True), line, count=1
    )


def _hidden_sections(results: Mapping[str, Any], width: int, color: bool) -> list[str]:
    """Guardrails, then every results section through its view (``report.views``): the
    captions, columns and notes of report.html, narrowed to fit ``width``."""
    lines = _guardrail_lines(results, width)
    primary = primary_metrics(results)
    for view in VIEWS:
        for table, notes in tables(view, results, narrow=True, primary=primary):
            lines += ["", *_wrap(table.caption, width)]
            lines += fit_table(_task_table(table), width, color)
            for note in notes:
                lines += _wrap(note.text, width, indent="  ", hanging="    ")
    return lines


def _task_table(table: Table) -> TaskTable:
    """A document table as the terminal's table (cell texts and tones)."""
    rows = tuple(tuple(str(cell) for cell in row) for row in table.rows)
    tones = tuple(
        tuple(cell.tone if isinstance(cell, Cell) else "" for cell in row) for row in table.rows
    )
    return TaskTable("", 0, table.header, rows, tones)


def _guardrail_lines(results: Mapping[str, Any], width: int) -> list[str]:
    """Guardrail tasks apart from target tasks: each arm's non-inferiority vs base."""
    guards = {t["name"] for t in results.get("tasks", []) if t.get("role") == "guardrail"}
    lines = []
    for row in results.get("comparisons", []):
        if row["task"] not in guards or row.get("reference_kind", "base") != "base":
            continue
        shown = {True: "non-inferior", False: "NON-INFERIORITY NOT SHOWN"}.get(
            row.get("non_inferiority"), "insufficient data"
        )
        scale = row.get("scale", 1.0)
        interval = (
            f"[{fmt(row.get('ci_low'), scale, signed=True)}, "
            f"{fmt(row.get('ci_high'), scale, signed=True)}]"
        )
        text = (
            f"{row['task']} {row['metric']}: {row['arm']} vs {row['reference_arm']} "
            f"{fmt(row['delta'], scale, signed=True)} {interval}: {shown}"
        )
        lines += _wrap(text, width, indent="  ", hanging="    ")
    return ["", "guardrails (must not get worse than base):", *lines] if lines else []


def _notes(results: Mapping[str, Any], width: int, color: bool) -> list[str]:
    lines: list[str] = []
    for row in results.get("seed_groups", []):
        scale = row["scale"]
        warning = "  (seed spread ≥ effect: not credited)" if row["spread_exceeds_effect"] else ""
        text = (
            f"seeds {row['group']} {row['task']} {row['metric']}: {fmt(row['mean'], scale)} ± "
            f"{fmt(row['std'], scale)} over {row['n_seeds']} seeds, Δ vs base "
            f"{fmt(row['mean_delta_vs_reference'], scale, signed=True)}{warning}"
        )
        lines += ["", *_wrap(text, width)]
    for note in results.get("advice", []):
        lines += ["", *_wrap(f"advice: {note['message']}", width)]
    first_arm = results["arms"][0]["name"] if results.get("arms") else None
    for report in results.get("classification", []):
        if report["imbalanced"] and report["arm"] == first_arm:
            text = (
                f"note: {report['task']} is imbalanced (largest/smallest class = "
                f"{report['imbalance_ratio']:.1f}); read f1_macro/f1_weighted beside acc."
            )
            lines += ["", *_wrap(text, width)]
    for row in results.get("generation", []):
        if row.get("empty_predictions"):
            text = (
                f"note: {row['arm']} gave {row['empty_predictions']} empty outputs of "
                f"{row.get('n')} on {row['task']}."
            )
            lines += ["", *_wrap(text, width)]
    return lines


def _length_alerts(results: Mapping[str, Any], width: int, color: bool) -> list[str]:
    """A loud line per task x arm whose outputs mostly hit max_new_tokens."""
    lines: list[str] = []
    for row in results.get("generation", []):
        finish = row.get("finish_reasons", {})
        total = sum(finish.values()) or row.get("n") or 0
        length = finish.get("length", 0)
        if total and length / total > LENGTH_ALERT_SHARE:
            text = (
                f"WARNING: {row['arm']} hit max_new_tokens on {100 * length / total:.0f}% of "
                f"{row['task']} outputs ({length} of {total}); its answers are cut off. Raise "
                "max_new_tokens or add stop strings."
            )
            lines += ["", *[_paint(line, "warn", color) for line in _wrap(text, width)]]
    return lines


def _cost_lines(results: Mapping[str, Any], width: int) -> list[str]:
    rows = results.get("cost", [])
    if not rows:
        return []
    lines = ["", "cost:"]
    for row in rows:
        trainable, total = row.get("trainable_params"), row.get("total_params")
        params = (
            f"{fmt_params(trainable)} of {fmt_params(total)} params trained"
            if is_number(trainable)
            else f"{fmt_params(total)} params"
        )
        parts = [
            params,
            f"{fmt_bytes(row.get('size_on_disk_bytes'))} on disk",
            f"eval {fmt_seconds(row.get('eval_wall_s'))}",
        ]
        if is_number(row.get("memory_footprint_bytes")):
            parts.append(f"weights {fmt_bytes(row['memory_footprint_bytes'])} in memory")
        if is_number(row.get("tokens_processed")):
            shown = f"{int(row['tokens_processed']):,} tokens processed"
            if is_number(row.get("tokens_per_s")):
                shown += f" ({fmt_count(row['tokens_per_s'])}/s)"
            parts.append(f"{shown}, {int(row.get('tokens') or 0):,} scored")
        if row.get("requests_cached"):
            cached = f"{row['requests_cached']:,} answers from the cache"
            if is_number(row.get("cached_compute_s")):
                cached += (
                    f" (computing them took {fmt_seconds(row['cached_compute_s'])}, "
                    f"recorded {row.get('cached_cost_measured_at')})"
                )
            parts.append(cached)
        if is_number(row.get("peak_memory_bytes")):
            parts.append(f"peak {fmt_bytes(row['peak_memory_bytes'])} {row.get('memory_kind', '')}")
        name = f"{row['arm']} ({row['form']})" if row.get("form") else row["arm"]
        lines += _wrap(f"{name}: " + ", ".join(parts), width, indent="  ", hanging="    ")
    return lines

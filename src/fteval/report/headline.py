"""The answer first: one screen that says whether each fine-tune helped.

``build_headline(results)`` reads results.json only and returns a ``Headline``: per
fine-tuned arm, the primary metric's verdict on each target task with Δ [CI] (a task
group as one row), guardrails held or lost with their margin; per deployment form,
"parity held / LOST" on each task against the arm it derives from (Δ vs that arm, named
in the block's title, and the margin); then the ranking of the
fine-tuned arms, flags only where raised (robustness, calibration, slices, checkpoints,
training, contamination, cut-off generations), prompts cut by the context window, the
cost, advice, and where the details are. It fits ``HEADLINE_LINES`` terminal lines for any
number of tasks and arms: rows beyond the budget are folded into a count ("… 6 more
tasks: 2 improved, 4 no change"), and every list is cut with "+N more".

The terminal, report.md and report.html all render this one object, so they say the same
words about the same numbers.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fteval.report.document import Cell, Note, Section, Table
from fteval.report.numbers import (
    decimals_for,
    delta_unit,
    fmt,
    fmt_bytes,
    fmt_interval,
    fmt_params,
    fmt_seconds,
    is_number,
    is_significant,
)

QUESTION = "Did the fine-tune help?"
HEADLINE_LINES = 25
"""The most terminal lines the headline takes, whatever the run holds."""

ARM_WORDS = {"adapter": "adapter", "full": "full fine-tune", "model": "model", "form": "form"}
VERDICT_WORDS = {
    "improved": "improved",
    "regressed": "REGRESSED",
    "no significant difference": "no change",
    "insufficient data": "too few items",
}
TONES = {
    "improved": "up",
    "REGRESSED": "down",
    "held": "up",
    "LOST": "down",
    "parity held": "up",
    "parity LOST": "down",
    "NO VERDICT": "warn",
}
LIST_ITEMS = 3  # flags, truncations and advice shown before "+N more"
NOTE_LINES = 2  # terminal lines a listed note takes at most, before the screen is full
SHRINK_ORDER = ("flags", "advice", "TRUNCATED")  # notes cut to one line first when over
TASK = "\x00task\x00"  # where a flag's phrase names its task (or its task group)


@dataclass(frozen=True)
class VerdictLine:
    """One task's verdict for one arm: ``support acc  improved  +68.0 pts [+62.7, +73.3]``."""

    label: str
    word: str
    delta: str
    interval: str
    note: str = ""
    tone: str = ""


@dataclass(frozen=True)
class ArmBlock:
    """One fine-tuned arm: what it is, and its verdicts task by task."""

    arm: str
    title: str
    lines: tuple[VerdictLine, ...]
    folded: str = ""

    @property
    def height(self) -> int:
        """Terminal lines of the block: its title, its rows and the folded rest."""
        return 1 + len(self.lines) + (1 if self.folded else 0)


@dataclass(frozen=True)
class HeadlineNote:
    """A labelled sentence under the verdicts (``rank``, ``flags``, ``cost``...)."""

    label: str
    text: str
    level: str = "info"
    items: tuple[str, ...] = ()
    noun: str = "item"
    brief: tuple[str, ...] = ()

    def fitted(self, width: int, lines: int) -> HeadlineNote:
        """This note with as many of its items (at most ``LIST_ITEMS``) as fit ``lines``
        terminal lines at ``width`` columns, the rest counted ("+2 more"); then the same
        with the items' brief forms; then only their count. A note without items is
        returned as it is."""
        for items in (self.items, self.brief):
            for shown in range(min(LIST_ITEMS, len(items)), 0, -1):
                text = _listed(items, shown)
                if _lines(f"{self.label}: {text}", width) <= lines:
                    return dataclasses.replace(self, text=text)
        if not self.items:
            return self
        count = len(self.items)
        first, _, rest = self.noun.partition(" ")
        noun = " ".join(filter(None, (first if count == 1 else f"{first}s", rest)))
        return dataclasses.replace(self, text=f"{count} {noun} (--details)")


@dataclass(frozen=True)
class Headline:
    """The one-screen answer (see the module docstring)."""

    title: str
    blocks: tuple[ArmBlock, ...]
    notes: tuple[HeadlineNote, ...] = field(default_factory=tuple)
    footer: str = ""
    conventions: str = ""


@dataclass(frozen=True)
class _Subject:
    """A task (or task group) the headline gives a verdict row."""

    name: str
    metric: str
    role: str
    label: str


def build_headline(
    results: Mapping[str, Any],
    *,
    run_dir: str | None = None,
    max_lines: int = HEADLINE_LINES,
    width: int = 80,
) -> Headline:
    """The headline of a results object (module docstring).

    Args:
        results: the results object.
        run_dir: the run directory, named in the footer.
        max_lines: the most lines the terminal rendering may take.
        width: the terminal width the line budget is counted at (columns).
    """
    arms = [a for a in results.get("arms", []) if a.get("kind") != "base"]
    base = next((a["name"] for a in results.get("arms", []) if a.get("kind") == "base"), None)
    subjects = headline_subjects(results)
    notes = [
        n
        for n in (
            _ranking(results, subjects),
            _flags(results),
            _truncation(results),
            _advice(results),
            _cost(results),
        )
        if n is not None
    ]
    statistics = results.get("statistics") or {}
    method = {"holm": "Holm", "bh": "BH"}.get(str(statistics.get("correction", "holm")), "Holm")
    conventions = (
        f"Δ vs {base or 'the reference'} [{_percent(statistics.get('confidence', 0.95))} CI] · "
        f"α = {statistics.get('alpha', 0.05):g}, {method} per "
        f"{_scope_words(statistics.get('correction_scope'))}"
    )
    title = f"{QUESTION} {conventions}"
    footer = f"details: --details, or report.html in {run_dir}" if run_dir else ""
    fixed = _lines(title, width) + 1 + _lines(footer, width)  # a blank line under the title
    if max_lines < 10 * HEADLINE_LINES:  # the terminal's screen; a report shows every item
        notes = [n.fitted(width, NOTE_LINES) for n in notes]
    shrinkable = [label for label in SHRINK_ORDER if any(n.label == label for n in notes)]
    while True:
        used = fixed + sum(_lines(f"{n.label}: {n.text}", width) for n in notes)
        used += 1 if notes or footer else 0  # the blank line before the notes
        per_arm = _rows_per_arm(max_lines - used, len(arms), len(subjects))
        blocks = tuple(_arm_block(results, arm, base, subjects, per_arm) for arm in arms)
        if used + sum(b.height for b in blocks) <= max_lines or not shrinkable:
            break
        label = shrinkable.pop(0)
        notes = [n.fitted(width, 1) if n.label == label else n for n in notes]
    if not arms:
        notes.insert(0, HeadlineNote("note", "one arm only: nothing to compare"))
    return Headline(title, blocks, tuple(notes), footer, conventions)


def headline_subjects(results: Mapping[str, Any]) -> list[_Subject]:
    """Target tasks, then task groups (one row each), then guardrails, in run order."""
    tasks = [t for t in results.get("tasks", []) if "~" not in t["name"]]
    scored = {(r["task"], r["metric"]) for r in results.get("scores", [])}
    groups = {g["name"]: g for g in results.get("task_groups", [])}
    tops = [g for g in groups.values() if g.get("parent") is None]
    members: dict[str, list[Mapping[str, Any]]] = {}
    for task in tasks:
        if task.get("groups"):
            members.setdefault(task["groups"][0], []).append(task)
    out: list[_Subject] = []
    for task in tasks:
        if task.get("groups"):
            continue
        metric = _primary(task)
        if (task["name"], metric) in scored:
            out.append(_Subject(task["name"], metric, task.get("role", "target"), task["name"]))
    for group in tops:
        inside = members.get(group["name"], [])
        if not inside:
            continue
        chosen = _group_metric(group["name"], _primary(inside[0]), scored)
        role = "guardrail" if all(t.get("role") == "guardrail" for t in inside) else "target"
        label = f"{group['name']} ({len(inside)} tasks)"
        if chosen is not None:
            out.append(_Subject(group["name"], chosen, role, label))
    order = {"target": 0, "guardrail": 1}
    return sorted(out, key=lambda s: order.get(s.role, 2))


def _lines(text: str, width: int) -> int:
    """Terminal lines ``text`` takes when wrapped at ``width`` (continuations indented 2)."""
    if not text:
        return 0
    return len(textwrap.wrap(text, width=width, subsequent_indent="  ")) or 1


def _primary(task: Mapping[str, Any]) -> str:
    chosen = task.get("primary_metric")
    if chosen:
        return str(chosen)
    first = (task.get("metrics") or [""])[0]
    return str(first if isinstance(first, str) else first.get("key") or first.get("name"))


def _group_metric(group: str, member: str, scored: set[tuple[str, str]]) -> str | None:
    for candidate in (f"{member}_micro", f"{member}_macro"):
        if (group, candidate) in scored:
            return candidate
    return next((m for g, m in sorted(scored) if g == group), None)


def _rows_per_arm(budget: int, arms: int, subjects: int) -> int:
    """Verdict rows shown per arm so that the blocks fit ``budget`` lines (each block: the
    arm's title, its rows, and a line for the folded rest if any)."""
    if not arms:
        return 0
    room = budget // arms - 1
    if room >= subjects:
        return subjects
    return max(1, room - 1)


def _comparison(
    results: Mapping[str, Any], task: str, metric: str, arm: str, reference: str | None
) -> Mapping[str, Any] | None:
    for row in results.get("comparisons", []):
        if (row["task"], row["metric"], row["arm"], row["reference_arm"]) == (
            task, metric, arm, reference,
        ):  # fmt: skip
            return row
    return None


def _arm_block(
    results: Mapping[str, Any],
    arm: Mapping[str, Any],
    base: str | None,
    subjects: Sequence[_Subject],
    shown: int,
) -> ArmBlock:
    lines = []
    for subject in subjects:
        if arm.get("kind") == "form":
            parity = _parity(results, subject, arm["name"])
            if parity is not None:
                lines.append(_parity_line(results, subject, parity))
            continue
        row = _comparison(results, subject.name, subject.metric, arm["name"], base)
        if row is not None:
            lines.append(_line(results, subject, row))
    folded = ""
    if len(lines) > shown + 1:  # folding one row would take the line it frees
        rest = lines[shown:]
        counts: dict[str, int] = {}
        for line in rest:
            counts[line.word] = counts.get(line.word, 0) + 1
        summary = ", ".join(f"{n} {word}" for word, n in counts.items())
        folded = f"… {len(rest)} more tasks: {summary} (--details)"
        lines = lines[:shown]
    return ArmBlock(arm["name"], _arm_title(results, arm), tuple(lines), folded)


def _arm_title(results: Mapping[str, Any], arm: Mapping[str, Any]) -> str:
    if arm.get("kind") == "form":
        return f"{arm['name']} ({arm.get('form')} of {arm.get('source_arm')}: deployment parity)"
    kind = ARM_WORDS.get(str(arm.get("kind")), str(arm.get("kind")))
    cost: Mapping[str, Any] = next(
        (c for c in results.get("cost", []) if c["arm"] == arm["name"]), {}
    )
    trained, total = cost.get("trainable_params"), cost.get("total_params")
    if trained is not None and total and is_number(trained) and is_number(total):
        share = 100.0 * float(trained) / float(total)
        shown = f"{share:.2g}%" if share < 10 else f"{share:.0f}%"
        return f"{arm['name']} ({kind}, {shown} of {fmt_params(total)} params trained)"
    return f"{arm['name']} ({kind})"


def _cut_note(results: Mapping[str, Any], task: str) -> tuple[str, bool]:
    """What the context window did to a task's prompts, and whether its verdicts are
    withheld for it."""
    for row in results.get("truncation") or []:
        if row["task"] == task and row.get("cut"):
            withheld = bool(row.get("verdicts_withheld"))
            lost = f", question lost in {row['share_question_cut']:.0%}" if withheld else ""
            return f"{row['share_cut']:.0%} of prompts cut{lost}", withheld
    return "", False


def _line(results: Mapping[str, Any], subject: _Subject, row: Mapping[str, Any]) -> VerdictLine:
    scale = row.get("scale", 1.0)
    digits = decimals_for(
        [r.get("value") for r in results.get("scores", []) if r["task"] == subject.name
         and r["metric"] == subject.metric],
        scale,
    )  # fmt: skip
    unit = delta_unit(scale)
    delta = fmt(row.get("delta"), scale, decimals=digits, signed=True) + (
        f" {unit}" if unit else ""
    )
    interval = fmt_interval(row.get("ci_low"), row.get("ci_high"), scale, digits, signed=True)
    label = f"{subject.label} {subject.metric}"
    if subject.role == "guardrail":
        word, note = _guardrail(row, digits)
        return VerdictLine(f"{label} (guardrail)", word, delta, interval, note, TONES.get(word, ""))
    verdict = str(row.get("verdict") or "")
    word = VERDICT_WORDS.get(verdict, verdict)
    if "context window" in str(row.get("reason", "")) and verdict == "insufficient data":
        # most prompts lost their question (the TRUNCATED note says how many)
        return VerdictLine(label, "NO VERDICT", delta, interval, "prompts cut", TONES["NO VERDICT"])
    return VerdictLine(label, word, delta, interval, "", TONES.get(verdict, ""))


def _parity(results: Mapping[str, Any], subject: _Subject, arm: str) -> Mapping[str, Any] | None:
    for row in results.get("deployment") or []:
        if (row["task"], row["metric"], row["arm"]) == (subject.name, subject.metric, arm):
            return row
    return None


def _parity_line(
    results: Mapping[str, Any], subject: _Subject, row: Mapping[str, Any]
) -> VerdictLine:
    """``support acc  parity held  -0.3 pts [-1.1, +0.5]  margin 1.0 pts`` (Δ vs the arm
    the form derives from, which the block's title names)."""
    parity = row.get("parity") or {}
    scale = parity.get("scale", 1.0)
    digits = decimals_for([row.get("value"), row.get("source_value")], scale)
    unit = delta_unit(scale)
    delta = fmt(parity.get("delta"), scale, decimals=digits, signed=True) + (
        f" {unit}" if unit else ""
    )
    interval = fmt_interval(parity.get("ci_low"), parity.get("ci_high"), scale, digits, signed=True)
    held = row.get("held")
    word = "too few items" if held is None else ("parity held" if held else "parity LOST")
    margin = parity.get("non_inferiority_margin")
    bound = f"margin {fmt(margin, scale, decimals=digits)}{' ' + unit if unit else ''}"
    note = bound if is_number(margin) else "no margin"
    label = f"{subject.label} {subject.metric}"
    return VerdictLine(label, word, delta, interval, note, TONES.get(word, ""))


def _guardrail(row: Mapping[str, Any], digits: int) -> tuple[str, str]:
    """``held`` / ``LOST`` / ``too few items`` and the margin it was held to."""
    margin = row.get("non_inferiority_margin")
    scale = row.get("scale", 1.0)
    unit = delta_unit(scale)
    bound = (
        f"margin {fmt(margin, scale, decimals=digits)}{' ' + unit if unit else ''}"
        if is_number(margin)
        else "no margin set"
    )
    shown = row.get("non_inferiority")
    if shown is True:
        return "held", bound
    if shown is False:
        return "LOST", bound
    if row.get("verdict") == "regressed":
        return "LOST", bound
    return VERDICT_WORDS.get(str(row.get("verdict")), "too few items"), bound


# ---- the notes under the verdicts ----


def _listed(items: Sequence[str], count: int = LIST_ITEMS) -> str:
    """The first ``count`` items joined by "; ", the rest counted ("+2 more")."""
    shown = list(items[:count])
    if len(items) > count:
        shown.append(f"+{len(items) - count} more")
    return "; ".join(shown)


def _ranking(results: Mapping[str, Any], subjects: Sequence[_Subject]) -> HeadlineNote | None:
    """The fine-tuned arms ordered on the first target task (">": significantly better)."""
    arms = [a["name"] for a in results.get("arms", []) if a.get("kind") in ("adapter", "full")]
    target = next((s for s in subjects if s.role == "target"), None)
    if len(arms) < 2 or target is None:
        return None
    if not any(r["task"] == target.name and r["arm"] in arms for r in results.get("scores", [])):
        return None
    values = {
        r["arm"]: r for r in results.get("scores", [])
        if r["task"] == target.name and r["metric"] == target.metric and r["arm"] in arms
    }  # fmt: skip
    sign = 1.0 if next(iter(values.values())).get("higher_is_better", True) else -1.0

    def rank(arm: str) -> float:
        value = values[arm]["value"]
        return -sign * float(value) if is_number(value) else math.inf

    ordered = sorted(values, key=rank)
    scale = values[ordered[0]].get("scale", 1.0)
    digits = decimals_for([values[a]["value"] for a in ordered], scale)
    first = values[ordered[0]]
    text = f"{first['arm']} {fmt(first['value'], scale, decimals=digits)}"
    for better, worse in itertools.pairwise(ordered):
        row = _pair(results, target, better, worse)
        mark = ">" if row is not None and is_significant(row) else "≈"
        text += f" {mark} {worse} {fmt(values[worse]['value'], scale, decimals=digits)}"
    return HeadlineNote("ranking", f"on {target.label} {target.metric}: {text} (>: significant)")


def _pair(
    results: Mapping[str, Any], subject: _Subject, first: str, second: str
) -> Mapping[str, Any] | None:
    return _comparison(results, subject.name, subject.metric, first, second) or _comparison(
        results, subject.name, subject.metric, second, first
    )


def _flags(results: Mapping[str, Any]) -> HeadlineNote | None:
    """Every raised flag, one short phrase each; a group's members counted as one phrase
    ("lora overconfident on 33 of 57 mmlu tasks")."""
    raised: list[tuple[str, str]] = []  # (phrase with TASK where the task goes, task)
    for row in results.get("robustness") or []:
        gap = row.get("vs_base") or {}
        if gap.get("verdict") == "regressed":
            raised.append((f"{row['arm']} more brittle than base under {row['perturbation']} "
                           "on " + TASK, row["task"]))  # fmt: skip
        elif row.get("brittle") and gap:
            raised.append((f"{row['arm']} brittle under {row['perturbation']} on {TASK}",
                           row["task"]))  # fmt: skip
    for row in results.get("calibration") or []:
        if row.get("overconfident") and _fine_tuned(results, row["arm"]):
            raised.append((f"{row['arm']} overconfident on {TASK}", row["task"]))
    for row in results.get("slices") or []:
        if row.get("regressed_while_task_improved"):
            raised.append((f"{row['arm']} regressed on {TASK} {row['field']}={row['slice']}",
                           row["task"]))  # fmt: skip
    for row in results.get("checkpoints") or []:
        if (row.get("last_vs_best") or {}).get("verdict") == "regressed":
            raised.append((f"{row['series']}: last checkpoint worse than {row['best_arm']} "
                           "on " + TASK, row["task"]))  # fmt: skip
    for row in results.get("contamination") or []:
        share = ((row.get("exact") or 0) + (row.get("near") or 0)) / max(1, row.get("n") or 1)
        if share >= 0.05:
            raised.append((f"{TASK}: {share:.0%} of items in {row['source']}", row["task"]))
    for row in results.get("generation") or []:
        finish = row.get("finish_reasons") or {}
        total = sum(finish.values()) or row.get("n") or 0
        if total and finish.get("length", 0) / total > 0.5:
            raised.append((f"{row['arm']} cut off at max_new_tokens on {TASK}", row["task"]))
    found = _grouped_flags(results, raised)
    for row in results.get("training") or []:
        if row.get("overfitting"):
            found.append(f"{row['arm']} overfitting (best step {row.get('best_step')})")
    found = _weights_flags(results) + found
    if not found:
        return None
    return HeadlineNote("flags", _listed(found), "warning", tuple(found), "flag raised")


def _weights_flags(results: Mapping[str, Any]) -> list[str]:
    """Adapters evaluated on other base weights than they were trained on (first: every
    score of the arm is then another model's)."""
    found = []
    for arm in results.get("arms") or []:
        trained = (arm.get("identity") or {}).get("quantization_mismatch")
        if isinstance(trained, Mapping):
            found.append(
                f"{arm['name']} trained on a {trained.get('trained_on')} base, evaluated on "
                f"{trained.get('served_on')}"
            )
    return found


def _grouped_flags(results: Mapping[str, Any], raised: Sequence[tuple[str, str]]) -> list[str]:
    """Phrases with their task filled in; members of one task group counted together."""
    group_of = {t["name"]: t["groups"][0] for t in results.get("tasks", []) if t.get("groups")}
    size: dict[str, int] = {}
    for group in group_of.values():
        size[group] = size.get(group, 0) + 1
    counts: dict[tuple[str, str], int] = {}
    out: dict[str, None] = {}
    for phrase, task in raised:
        group = group_of.get(task)
        if group is None:
            out[phrase.replace(TASK, task)] = None
        else:
            counts[(phrase, group)] = counts.get((phrase, group), 0) + 1
    for (phrase, group), n in counts.items():
        out[phrase.replace(TASK, f"{n} of {size[group]} {group} tasks")] = None
    return list(out)


def _fine_tuned(results: Mapping[str, Any], arm: str) -> bool:
    kinds = {a["name"]: a.get("kind") for a in results.get("arms", [])}
    return kinds.get(arm) != "base"


def _truncation(results: Mapping[str, Any]) -> HeadlineNote | None:
    """Tasks whose prompts the context window cut; a task group as one item (its row
    counts every member's prompts), with how many of its tasks lost their verdicts."""
    members = {t["name"]: t["groups"] for t in results.get("tasks", []) if t.get("groups")}
    nested = {g["name"] for g in results.get("task_groups", []) if g.get("parent")}
    withheld: dict[str, int] = {}
    for row in results.get("truncation") or []:
        for group in members.get(row["task"], ()):
            withheld[group] = withheld.get(group, 0) + bool(row.get("verdicts_withheld"))
    sizes = {g: sum(g in groups for groups in members.values()) for g in withheld}
    found, brief = [], []
    for row in results.get("truncation") or []:
        task = row["task"]
        if not row.get("cut") or task in members or task in nested:
            continue
        label = f"{task} ({sizes[task]} tasks)" if task in sizes else task
        withheld_any = row.get("verdicts_withheld") or withheld.get(task)
        brief.append(
            f"{label}: {row['share_cut']:.0%} cut to {row.get('max_length')} tokens"
            + (", no verdict" if withheld_any else "")
        )
        text = (
            f"{label}: {row['share_cut']:.0%} of prompts cut to {row.get('max_length')} "
            f"tokens (median {row.get('median_tokens_cut'):g} lost), question lost in "
            f"{row['share_question_cut']:.0%}"
        )
        members_lost = f"{withheld[task]} of its {sizes[task]} tasks" if withheld.get(task) else ""
        if row.get("verdicts_withheld"):
            text += f": no verdict, nor on {members_lost}" if members_lost else ": no verdict"
        elif members_lost:
            text += f": no verdict on {members_lost}"
        found.append(text)
    if not found:
        return None
    return HeadlineNote(
        "TRUNCATED", _listed(found), "alert", tuple(found), "task cut", tuple(brief)
    )


def cut_sentence(row: Mapping[str, Any]) -> str:
    """What the context window did to one task's prompts, in one sentence (every report
    says it the same way)."""
    text = (
        f"{row['share_cut']:.0%} of {row['task']}'s prompts are cut to the "
        f"{row.get('max_length')}-token context window (median "
        f"{row.get('median_tokens_cut'):g} tokens lost); the question itself in "
        f"{row['share_question_cut']:.0%}"
    )
    if row.get("verdicts_withheld"):
        text += ": its verdicts are withheld"
    return text + "."


def _advice(results: Mapping[str, Any]) -> HeadlineNote | None:
    """Each piece of advice in short (the full sentence is in the details)."""
    rows = results.get("advice") or []
    brief = [_short_advice(a) for a in rows]
    notes = [f"{text}: raise the LoRA rank (r) or train longer" for text in brief]
    if not notes:
        return None
    return HeadlineNote(
        "advice", _listed(notes), items=tuple(notes), noun="piece of advice", brief=tuple(brief)
    )


def _short_advice(row: Mapping[str, Any]) -> str:
    """``lora trails full by 6.1 pts on task metric``."""
    gap: Any = row.get("gap")
    size = f"{-float(gap):.1f}" if is_number(gap) else "?"
    size += " pts" if row.get("gap_kind") == "points" else "%"
    return (
        f"{row['arm']} trails {row.get('reference_arm', 'full')} by {size} on {row['task']} "
        f"{row['metric']}"
    )


def _cost(results: Mapping[str, Any]) -> HeadlineNote | None:
    """Size per arm; evaluation time per arm, or per group of arms answered in one pass;
    what cached answers cost when they were computed."""
    rows = list(results.get("cost", []))
    sizes = [
        f"{row['arm']} {fmt_bytes(row['size_on_disk_bytes'])}"
        for row in rows
        if is_number(row.get("size_on_disk_bytes"))
    ]
    times: list[str] = []
    shown: set[str] = set()
    for row in rows:
        if row["arm"] in shown or not is_number(row.get("eval_wall_s")):
            continue
        together = [row["arm"], *_shared_with(row, rows)]
        shown.update(together)
        text = f"{'+'.join(together)} {fmt_seconds(row['eval_wall_s'])}"
        if is_number(row.get("cached_compute_s")):
            text += f" (cached answers took {fmt_seconds(row['cached_compute_s'])} once)"
        elif row.get("requests_cached") and not row.get("requests_computed"):
            text += " (all answers cached)"
        times.append(text)
    parts = []
    if sizes:
        parts.append("size " + ", ".join(sizes))
    if times:
        parts.append("eval " + ", ".join(times))
    return HeadlineNote("cost", "; ".join(parts)) if parts else None


def _shared_with(row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The other arms answered in the same passes as ``row``'s (its cost note names them)."""
    note = str(row.get("note") or "")
    if "same passes as" not in note:
        return []
    return [
        r["arm"]
        for r in rows
        if r["arm"] != row["arm"]
        and "same passes as" in str(r.get("note") or "")
        and r.get("eval_wall_s") == row.get("eval_wall_s")
    ]


def _percent(value: Any) -> str:
    return f"{100 * float(value):.0f}%" if is_number(value) else "95%"


def _scope_words(scope: Any) -> str:
    return {"task": "task", "arm-pair": "arm pair", "run": "run"}.get(str(scope), "arm pair")


def headline_section(results: Mapping[str, Any], run_dir: str | None = None) -> Section:
    """The headline as the report's first section (report.html and report.md): the same
    words as the terminal's, in a table and notes."""
    headline = build_headline(results, run_dir=run_dir, max_lines=10**6)
    body: list[tuple[str | Cell, ...]] = []
    for block in headline.blocks:
        for index, line in enumerate(block.lines):
            body.append(
                (
                    block.title if index == 0 else "",
                    line.label,
                    Cell(line.word, line.tone),
                    line.delta,
                    line.interval,
                    line.note,
                )
            )
        if block.folded:
            body.append((block.title if not block.lines else "", block.folded, "", "", "", ""))
    blocks: list[Any] = [Note(headline.conventions)]
    if body:
        table = Table(
            ("arm", "task (primary metric)", "verdict", "Δ", "CI", "note"),
            tuple(body),
            kind="headline",
            align="lllrrl",
        )
        blocks.append(table)
    for note in headline.notes:
        blocks.append(Note(f"{note.label}: {note.text}", note.level))
    return Section("headline", QUESTION, tuple(blocks))

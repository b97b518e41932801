"""Plain-text (terminal) views of what the clean score hides: robustness, slices,
calibration, training health, checkpoints, contamination (the results sections of
docs/records.md). report.md and report.html render the same sections from
``fteval.report.sections``.

Each view shows the task's first metric (the one the task lists first) to stay short;
results.json holds every metric. Numbers are in display units (points for proportions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.report.numbers import fmt


@dataclass(frozen=True)
class Grid:
    """A table of strings: the terminal fits it to its width (column blocks)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = str | Grid  # a line of text (a leading "\n" asks for a blank line before it) or a table


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Grid:
    return Grid(tuple(header), tuple(tuple(str(c) for c in row) for row in rows))


def _first_metric(results: Mapping[str, Any], task: str) -> str | None:
    for info in results.get("tasks", []):
        if info["name"] == task and info.get("metrics"):
            first = info["metrics"][0]
            return first if isinstance(first, str) else first.get("name")
    return None


def _ci(low: Any, high: Any, scale: float) -> str:
    return f"[{fmt(low, scale, signed=True)}, {fmt(high, scale, signed=True)}]"


def robustness_lines(results: Mapping[str, Any]) -> list[Block]:
    """Per task and perturbation: each arm's clean and perturbed score, drop and gap."""
    rows = results.get("robustness") or []
    lines: list[Block] = []
    keys = dict.fromkeys((r["task"], r["perturbation"]) for r in rows)
    for task, perturbation in keys:
        metric = _first_metric(results, task)
        chosen = [r for r in rows if (r["task"], r["perturbation"]) == (task, perturbation)
                  and (metric is None or r["metric"] == metric)]  # fmt: skip
        if not chosen:
            continue
        k = chosen[0]["k"]
        lines.append(
            f"\nrobustness: {task} {chosen[0]['metric']} under {perturbation}"
            + (f" (k={k})" if k > 1 else "")
            + " (drop: clean − perturbed, + = worse; gap: drop − base's drop)"
        )
        header = ["arm", "clean", "perturbed", "ratio", "drop", "drop CI", "gap",
                  "gap CI", "verdict"]  # fmt: skip
        if k > 1:
            header.insert(3, f"worst-of-{k}")
        grid = []
        for r in chosen:
            s = r["scale"]
            flags = [r.get("gap_verdict") or "", "BRITTLE" if r["brittle"] else ""]
            cells = [r["arm"], fmt(r["clean"], s), fmt(r["perturbed"], s),
                     f"{r['ratio']:.2f}" if r["ratio"] is not None else "–",
                     fmt(r["drop"], s, signed=True), _ci(r["drop_ci_low"], r["drop_ci_high"], s),
                     fmt(r["gap_vs_base"], s, signed=True) if r["gap_vs_base"] is not None else "",
                     _ci(r["gap_ci_low"], r["gap_ci_high"], s) if r["gap_vs_base"] is not None
                     else "", " ".join(f for f in flags if f)]  # fmt: skip
            if k > 1:
                cells.insert(3, fmt(r["worst_of_k"], s))
            grid.append(cells)
        lines.append(_grid(header, grid))
    return lines


def slice_lines(results: Mapping[str, Any]) -> list[Block]:
    """Per task and field: each slice's score per arm and delta vs base."""
    rows = results.get("slices") or []
    lines: list[Block] = []
    for task, field in dict.fromkeys((r["task"], r["field"]) for r in rows):
        metric = _first_metric(results, task)
        chosen = [r for r in rows if (r["task"], r["field"]) == (task, field)
                  and (metric is None or r["metric"] == metric)]  # fmt: skip
        if not chosen:
            continue
        arms = list(dict.fromkeys(r["arm"] for r in chosen))
        others = [a for a in arms if any(r["arm"] == a and r["delta_vs_base"] is not None
                                         for r in chosen)]  # fmt: skip
        lines.append(
            f"\nslices: {task} {chosen[0]['metric']} by {field} "
            "(! = regressed while the whole task improved; ^ = the arm's worst slice)"
        )
        header = ["slice", "n", *arms, *(f"Δ {a} vs base" for a in others)]
        grid = []
        by = {(r["slice"], r["arm"]): r for r in chosen}
        for value in dict.fromkeys(r["slice"] for r in chosen):
            cells = [value, str(next(r["n"] for r in chosen if r["slice"] == value))]
            for arm in arms:
                r = by.get((value, arm))
                cells.append(
                    fmt(r["value"], r["scale"]) + ("^" if r["is_worst"] else "") if r else ""
                )
            for arm in others:
                r = by.get((value, arm))
                mark = "!" if r and r["regressed_while_task_improved"] else ""
                cells.append(
                    f"{fmt(r['delta_vs_base'], r['scale'], signed=True)} "
                    f"{_ci(r['delta_ci_low'], r['delta_ci_high'], r['scale'])}{mark}"
                    if r else ""
                )  # fmt: skip
            grid.append(cells)
        lines.append(_grid(header, grid))
    return lines


def calibration_lines(results: Mapping[str, Any]) -> list[Block]:
    """Per choice task: each arm's accuracy, confidence, ECE, Brier, NLL, temperature."""
    rows = results.get("calibration") or []
    lines: list[Block] = []
    for task in dict.fromkeys(r["task"] for r in rows):
        chosen = [r for r in rows if r["task"] == task]
        lines.append(
            f"\ncalibration: {task} (ECE over 15 bins, in points; Brier, NLL in their units)"
        )
        header = ["arm", "acc", "conf", "conf−acc", "ECE", "ECE mass", "Brier", "NLL", "T",
                  "ECE after T", "Δ ECE vs base"]  # fmt: skip
        grid = []
        for r in chosen:
            delta = r["deltas_vs_base"].get("ece")
            change = (
                f"{fmt(delta['delta'], 100, signed=True)} "
                f"{_ci(delta['ci_low'], delta['ci_high'], 100)}"
                if delta
                else ""
            )
            grid.append(
                [r["arm"], fmt(r["accuracy"], 100), fmt(r["mean_confidence"], 100),
                 fmt(r["overconfidence"], 100, signed=True), fmt(r["ece"], 100),
                 fmt(r["ece_equal_mass"], 100), f"{r['brier']:.3f}", f"{r['nll']:.3f}",
                 f"{r['temperature']:.2f}" if r["temperature"] is not None else "–",
                 fmt(r["ece_after_temperature"], 100), change]
            )  # fmt: skip
        lines.append(_grid(header, grid))
        lines += [f"  {r['message']}" for r in chosen if r.get("message")]
    return lines


def guardrail_lines(results: Mapping[str, Any]) -> list[Block]:
    """Guardrail tasks apart from target tasks: each arm's non-inferiority vs base."""
    guards = [t["name"] for t in results.get("tasks", []) if t.get("role") == "guardrail"]
    lines = []
    for row in results.get("comparisons", []):
        if row["task"] not in guards or row.get("reference_kind", "base") != "base":
            continue
        shown = {True: "non-inferior", False: "NON-INFERIORITY NOT SHOWN"}.get(
            row.get("non_inferiority"), "insufficient data"
        )
        lines.append(
            f"  {row['task']} {row['metric']}: {row['arm']} vs {row['reference_arm']} "
            f"{fmt(row['delta'], row['scale'], signed=True)} "
            f"{_ci(row['ci_low'], row['ci_high'], row['scale'])}: {shown}"
        )
    return ["\nguardrails (must not get worse than base):", *lines] if lines else []


def health_lines(results: Mapping[str, Any]) -> list[Block]:
    """Training logs, checkpoint series and contamination, one line each."""
    lines: list[Block] = [f"\ntraining: {r['message']}" for r in results.get("training") or []]
    for r in results.get("checkpoints") or []:
        last = r["last_vs_best"]
        s = r.get("scale", 1.0)
        values = ", ".join(f"{step}: {fmt(v, s)}" for step, v in zip(r["steps"], r["values"]))
        lines.append(
            f"\ncheckpoints {r['series']} {r['task']} {r['metric']}: {values}; best "
            f"{r['best_arm']}; last vs best {fmt(last['delta'], s, signed=True)} "
            f"{_ci(last['ci_low'], last['ci_high'], s)} ({last['verdict']})"
        )
    for r in results.get("contamination") or []:
        lines.append(
            f"\ncontamination {r['task']} vs {r.get('source')}: {r['exact']} exact and {r['near']} "
            f"near (≥{r['threshold']:.0%} {r.get('ngram', 8)}-gram overlap) of {r['n']}; "
            f"{r['duplicates_in_test']} test items duplicated"
        )
    return lines


def section_blocks(results: Mapping[str, Any]) -> list[Block]:
    """Every view above, in order (empty when the run has none of these sections)."""
    return [
        *guardrail_lines(results),
        *robustness_lines(results),
        *slice_lines(results),
        *calibration_lines(results),
        *health_lines(results),
    ]


__all__: Sequence[str] = ["Block", "Grid", "section_blocks"]

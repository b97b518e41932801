"""The ``truncation`` section and what it does to verdicts: loud, never silent.

Built from the samples' ``meta.context_cut`` (prompts the context window cuts from the
left, tagged before any model ran: ``pipeline.truncation``) and ``meta.truncation`` (a
field shortened by design). A task (or task group) where more than
``QUESTION_CUT_SHARE`` of the items lost part of their own question cannot be judged:
every comparison on it — in every section — says "insufficient data" and why, instead of
"improved" or "regressed".
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence

from fteval import stats
from fteval.compare.rows import TruncationRow
from fteval.records import SampleResult
from fteval.records.rows import Comparison
from fteval.scoring import TaskInfo

QUESTION_CUT_SHARE = 0.5
"""Above this share of items that lost their question, a task's verdicts are withheld."""


def truncation_rows(
    tasks: Sequence[TaskInfo], samples: Sequence[SampleResult]
) -> list[TruncationRow]:
    """One row per task with any cut or fitted item, then one per group over its members."""
    first_arm: dict[str, str] = {}
    per_task: dict[str, list[SampleResult]] = {}
    for sample in samples:
        arm = first_arm.setdefault(sample.task, sample.arm)
        if sample.arm == arm:
            per_task.setdefault(sample.task, []).append(sample)
    rows = []
    for task in tasks:
        row = _row(task.name, per_task.get(task.name, []))
        if row is not None:
            rows.append(row)
    members: dict[str, list[SampleResult]] = {}
    for task in tasks:
        for group in task.groups:
            members.setdefault(group, []).extend(per_task.get(task.name, []))
    rows += [r for g, items in members.items() if (r := _row(g, items)) is not None]
    return rows


def _row(task: str, samples: Sequence[SampleResult]) -> TruncationRow | None:
    cuts = [s.meta["context_cut"] for s in samples if s.meta.get("context_cut")]
    fitted = [s.meta["truncation"] for s in samples if (s.meta.get("truncation") or {}).get("cut")]
    if not cuts and not fitted:
        return None
    n = len(samples)
    tokens = [int(c["tokens"]) for c in cuts]
    question = sum(bool(c.get("question")) for c in cuts)
    windows = [int(c["max_length"]) for c in cuts] + [
        int(f["max_length"]) for f in fitted if "max_length" in f
    ]
    return TruncationRow(
        task=task,
        n=n,
        cut=len(cuts),
        share_cut=len(cuts) / n if n else 0.0,
        median_tokens_cut=float(statistics.median(tokens)) if tokens else None,
        max_tokens_cut=max(tokens) if tokens else None,
        question_cut=question,
        share_question_cut=question / n if n else 0.0,
        max_length=min(windows) if windows else None,
        fitted=len(fitted),
        fitted_field=str(fitted[0].get("field")) if fitted else None,
        verdicts_withheld=bool(n and question / n > QUESTION_CUT_SHARE),
    )


def withhold_verdicts(
    decided: Mapping[tuple[object, ...], Comparison], rows: Sequence[TruncationRow]
) -> dict[tuple[object, ...], Comparison]:
    """Every comparison on a task whose verdicts are withheld, turned to "insufficient data"."""
    withheld = {r.task: r for r in rows if r.verdicts_withheld}
    if not withheld:
        return dict(decided)
    out = {}
    for key, row in decided.items():
        cut = withheld.get(row.task)
        out[key] = row if cut is None else _withheld(row, cut)
    return out


def _withheld(row: Comparison, cut: TruncationRow) -> Comparison:
    why = (
        f"{cut.question_cut} of {cut.n} prompts lost part of their question to the "
        f"{cut.max_length}-token context window (median {cut.median_tokens_cut:g} tokens cut): "
        "no verdict on a task the model did not see"
    )
    return dataclasses.replace(
        row,
        verdict=stats.INSUFFICIENT_DATA,
        significant=False,
        non_inferiority=None,
        reason=f"{why}; the numbers: {row.reason}",
    )

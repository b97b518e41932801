"""LoRA-vs-full advice: judged as displayed, never on too few items, never "points" for
metrics with no fixed range, and saying whether the gap is significant."""

from __future__ import annotations

import numpy as np

from fteval.compare import StatsOptions, advice
from fteval.compare.three_way import decide as comparison_rows
from fteval.metrics import Accuracy
from fteval.metrics.lm import Perplexity
from fteval.scoring import ArmStats

ARMS = [
    {"name": "base", "kind": "base"},
    {"name": "lora", "kind": "adapter"},
    {"name": "full", "kind": "full"},
]
OPTIONS = StatsOptions(bootstrap_resamples=200, permutations=200)


def outcome_table(correct: dict[str, int | list[int]], n: int) -> dict:
    """Arm -> the first k items correct, or the list of correct items."""
    ids = tuple(str(i) for i in range(n))
    table = {}
    for arm, right in correct.items():
        hits = np.zeros((n, 1))
        hits[list(range(right)) if isinstance(right, int) else right] = 1.0
        table[("t", arm, "acc")] = ArmStats("t", arm, Accuracy(), ids, hits)
    return table


def test_a_gap_of_exactly_five_points_gives_no_advice():
    # 0.70 - 0.75 is -0.05000000000000004 in floating point: shown as 5.0, not above 5
    rows = comparison_rows(outcome_table({"base": 50, "lora": 70, "full": 75}, 100), ARMS, OPTIONS)
    gap = next(r for r in rows if r.reference_arm == "full")
    assert gap.delta * 100 < -5.0  # the raw number is past the threshold
    assert advice(rows) == []


def test_only_a_significant_gap_above_five_points_is_advised():
    lora = [*range(65), 75, 76, 77, 78]  # 69 right: 10 fewer than full where full is right, 4 more
    rows = comparison_rows(
        outcome_table({"base": 50, "lora": lora, "full": 75}, 100), ARMS, OPTIONS
    )
    gap = next(r for r in rows if r.reference_arm == "full")
    assert round(gap.delta * 100, 1) == -6.0 and not gap.significant  # McNemar 4 vs 10: p 0.18
    assert advice(rows) == []  # a gap that may be noise is no reason to retrain
    nested = comparison_rows(
        outcome_table({"base": 50, "lora": 63, "full": 75}, 100), ARMS, OPTIONS
    )
    (note,) = advice(nested)  # 12 items, all one way: p = 0.0005
    assert note.gap == -12.0 and note.gap_kind == "points" and note.gap_points == -12.0
    assert "trails the full fine-tune by 12.0 percentage points on t acc" in note.message
    assert note.significant is True and "significant after" in note.message


def named(task: str, correct: dict[str, int], n: int = 100) -> dict:
    """``outcome_table`` under another task name."""
    return {
        (task, arm, metric): ArmStats(task, arm, item.metric, item.example_ids, item.stats)
        for (_, arm, metric), item in outcome_table(correct, n).items()
    }


def test_advice_only_on_target_tasks_primary_metric_and_never_against_a_lead():
    from fteval.scoring import TaskInfo

    trails = {"base": 50, "lora": 63, "full": 75}  # lora significantly behind full
    table = {**named("t", trails), **named("guard", trails), **named("mmlu_law", trails)}
    tasks = [
        TaskInfo("t", "multiple_choice", ("acc",), (), 100),
        TaskInfo("guard", "multiple_choice", ("acc",), (), 100, role="guardrail"),
        TaskInfo("mmlu_law", "multiple_choice", ("acc",), (), 100, groups=("mmlu",)),
    ]
    rows = comparison_rows(table, ARMS, OPTIONS)
    behind = {r.task for r in rows if r.significant and r.reference_arm == "full"}
    assert behind == {"t", "guard", "mmlu_law"}
    (note,) = advice(rows, tasks)  # the guardrail and the benchmark subject get none
    assert note.task == "t"
    own = TaskInfo("own", "multiple_choice", ("acc",), (), 100)
    leads = {**table, **named("own", {"base": 50, "lora": 95, "full": 75})}
    assert advice(comparison_rows(leads, ARMS, OPTIONS), [*tasks, own]) == []


def test_no_advice_on_fewer_items_than_a_verdict_needs():
    rows = comparison_rows(outcome_table({"base": 2, "lora": 10, "full": 18}, 20), ARMS, OPTIONS)
    gap = next(r for r in rows if r.reference_arm == "full")
    assert gap.delta == -0.4 and gap.verdict == "insufficient data"
    assert advice(rows) == []


def test_a_metric_with_no_fixed_range_is_advised_relative_to_the_full_fine_tune():
    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 50, 200).astype(float)
    ids = tuple(map(str, range(200)))

    def arm(name: str, nll_per_token: float) -> ArmStats:
        nll = tokens * nll_per_token * rng.uniform(0.9, 1.1, 200)
        return ArmStats("lm", name, Perplexity(), ids, np.column_stack([nll, tokens]))

    table = {
        ("lm", a, "perplexity"): arm(a, x) for a, x in (("base", 3.0), ("lora", 2.5), ("full", 2.3))
    }
    rows = comparison_rows(table, ARMS, OPTIONS)
    (note,) = advice(rows)
    full = next(r for r in rows if r.reference_arm == "full")
    relative = full.delta / full.reference_value * 100  # perplexity: higher is worse
    assert note.gap_kind == "relative" and note.gap_points is None
    assert note.gap == round(-relative, 1) < -5.0
    assert "points" not in note.message
    assert f"{-note.gap:.1f}% of the full fine-tune's value" in note.message
    assert note.significant is True and "significant after" in note.message

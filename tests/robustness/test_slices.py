"""Slices: a subgroup constructed to regress while the task improves is flagged; tags and
length buckets come from the data."""

from __future__ import annotations

import numpy as np
import pytest

from fteval import engine
from fteval.compare import StatsOptions, comparison_rows
from fteval.errors import ConfigError
from fteval.metrics import make_metrics
from fteval.records.rows import comparisons_in, with_decided
from fteval.robustness.slices import slice_rows, tag_slices
from fteval.scoring import ArmStats
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_task

OPTIONS = StatsOptions(bootstrap_resamples=500, permutations=500)
ARMS = [{"name": "base", "kind": "base"}, {"name": "lora", "kind": "adapter"}]


def outcomes(right: int, wrong: int) -> list[float]:
    return [1.0] * right + [0.0] * wrong


def constructed():
    """email: 100 items, lora 100% vs base 30%; chat: 40 items, lora 20% vs base 90%."""
    ids = tuple(f"e{i}" for i in range(100)) + tuple(f"c{i}" for i in range(40))
    (acc,) = make_metrics(["acc"])
    lora = outcomes(100, 0) + outcomes(8, 32)
    base = outcomes(30, 70) + outcomes(36, 4)
    table = {
        ("t", arm, "acc"): ArmStats("t", arm, acc, ids, np.array(values)[:, None])
        for arm, values in (("base", base), ("lora", lora))
    }
    slices_of = {i: {"channel": "email" if i.startswith("e") else "chat"} for i in ids}
    return table, slices_of


def decided(rows, options):
    """Section rows with their comparisons decided, as results.json holds them."""
    found = engine.adjust([c for row in rows for c in comparisons_in(row)], options)
    by_key = {c.key(): c for c in found}
    return [with_decided(row, by_key).to_json() for row in rows]


def test_a_slice_that_regresses_while_the_task_improves_is_flagged():
    table, slices_of = constructed()
    comparisons = comparison_rows(table, ARMS, OPTIONS)
    assert comparisons[0].delta > 0  # the whole task moves the better way
    raw, summary = slice_rows("t", table, slices_of, "base", comparisons, OPTIONS)
    by = {(r["arm"], r["slice"]): r for r in decided(raw, OPTIONS)}
    chat, email = by[("lora", "chat")], by[("lora", "email")]
    assert (chat["n"], chat["value"]) == (40, 0.2)
    assert chat["vs_base"]["delta"] == pytest.approx(-0.7)
    assert chat["vs_base"]["verdict"] == "regressed" and chat["regressed_while_task_improved"]
    assert email["vs_base"]["verdict"] == "improved"
    assert email["regressed_while_task_improved"] is False
    assert chat["is_worst"] and not email["is_worst"]
    assert chat["ci_low"] < 0.2 < chat["ci_high"]
    assert chat["vs_base"]["p_adjusted"] >= chat["vs_base"]["p_value"]
    assert chat["vs_base"]["correction_family"] == "task t: base→lora (slices)"
    assert by[("base", "chat")]["vs_base"] is None  # the reference has no delta
    (lora,) = [s.to_json() for s in summary if s.arm == "lora"]
    assert (lora["best_slice"], lora["worst_slice"]) == ("email", "chat")
    assert lora["best_worst_gap"] == pytest.approx(0.8)
    assert lora["gap_ci_low"] < 0.8 < lora["gap_ci_high"]


def _tied(order: str):
    """Three slices: 'b' and 'a' tie at 50% for lora, 'c' is at 90%; items in ``order``."""
    (acc,) = make_metrics(["acc"])
    blocks = {"b": outcomes(20, 20), "a": outcomes(20, 20), "c": outcomes(36, 4)}
    ids, values = [], []
    for name in order:
        ids += [f"{name}{i}" for i in range(40)]
        values += blocks[name]
    table = {
        ("t", arm, "acc"): ArmStats("t", arm, acc, tuple(ids), np.array(values)[:, None])
        for arm in ("base", "lora")
    }
    return table, {i: {"channel": i[0]} for i in ids}


@pytest.mark.parametrize("order", ["bac", "abc", "cba"])
def test_a_tie_names_the_same_worst_slice_everywhere_whatever_the_item_order(order):
    table, slices_of = _tied(order)
    comparisons = comparison_rows(table, ARMS, OPTIONS)
    raw, summary = slice_rows("t", table, slices_of, "base", comparisons, OPTIONS)
    marked = {r["slice"] for r in decided(raw, OPTIONS) if r["arm"] == "lora" and r["is_worst"]}
    (lora,) = [s.to_json() for s in summary if s.arm == "lora"]
    assert marked == {"a"} and lora["worst_slice"] == "a" and lora["best_slice"] == "c"


def test_when_every_slice_ties_no_slice_is_called_worst_or_best():
    table, slices_of = _tied("ab")
    comparisons = comparison_rows(table, ARMS, OPTIONS)
    raw, summary = slice_rows("t", table, slices_of, "base", comparisons, OPTIONS)
    assert not any(r.is_worst for r in raw)
    assert all(s.worst_slice is None and s.best_slice is None for s in summary)


def test_tags_come_from_data_columns_and_length_terciles(tmp_path):
    rows = intent_rows(9)
    for i, row in enumerate(rows):
        row["channel"] = ["email", "chat", None][i % 3]
        row["text"] = " ".join(["word"] * (i + 1))
    task = tag_slices(load_task(str(write_task(tmp_path, rows))), ["channel", "length"])
    tags = [e.meta["slices"] for e in task.examples]
    assert [t["channel"] for t in tags[:3]] == ["email", "chat", "(missing)"]
    assert [t["length"] for t in tags] == ["short (1-3 words)"] * 3 + ["medium (4-6 words)"] * 3 + [
        "long (7-9 words)"
    ] * 3
    with pytest.raises(ConfigError, match="has no field 'region'"):
        tag_slices(task, ["region"])

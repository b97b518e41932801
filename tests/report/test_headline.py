"""The headline answers first: one screen (at most 25 terminal lines) for any run — a
target task beside all of MMLU, three adapters — with the same words in every renderer."""

from __future__ import annotations

from pathlib import Path

import pytest

from fteval.api import evaluate
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.report import render_markdown, render_terminal
from fteval.report.headline import HEADLINE_LINES, build_headline
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_task

DATA = Path("/work/shared/data")
FAST = {"bootstrap_resamples": 100, "permutations": 100}


def run(tmp_path, name: str, adapters: dict[str, float], tasks: list[str], **extra) -> dict:
    specs = {arm: f"w-{arm}" for arm in adapters}
    config = build_config({"base": "b", "adapters": specs, "tasks": ["x"]})
    knowledge = {}
    for spec in tasks:
        if spec.endswith(".yaml"):
            task = load_task(spec)
            knowledge |= {
                e.prompt: e.continuations[e.choices.index(e.target)] for e in task.examples
            }
    backend = FakeBackend(config.arms(), skill=adapters, knowledge=knowledge)
    return evaluate(
        "b", adapters=specs, tasks=tasks, out=tmp_path / name, backend=backend, progress=False,
        **FAST, **extra,
    ).to_dict()  # fmt: skip


@pytest.fixture(scope="module")
def own_task(tmp_path_factory) -> str:
    return str(write_task(tmp_path_factory.mktemp("own"), intent_rows(60)))


def lines_of(results, run_dir="runs/a-run") -> list[str]:
    text = render_terminal(results, run_dir)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    return lines


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
def test_a_run_with_all_of_mmlu_fits_one_screen_with_mmlu_as_one_row(tmp_path, own_task):
    results = run(
        tmp_path, "mmlu", {"lora": 0.8}, [own_task, "mmlu"], data={"mmlu": str(DATA / "mmlu")},
        limit=2, temperature_scaling=False,
    )  # fmt: skip
    assert len({r["task"] for r in results["scores"]}) > 57  # the subjects are all there
    lines = lines_of(results)
    assert len(lines) <= HEADLINE_LINES
    rows = [line for line in lines if line.startswith("  ")]
    assert any(line.lstrip().startswith("intents acc ") for line in rows)
    assert any(line.lstrip().startswith("mmlu (57 tasks) acc_micro") for line in rows)
    assert not any("mmlu_anatomy" in line for line in lines)


def test_three_adapters_fit_one_screen_and_are_ranked(tmp_path, own_task):
    arms = {"small": 0.3, "medium": 0.6, "large": 0.95}
    results = run(tmp_path, "three", arms, [own_task])
    lines = lines_of(results)
    assert len(lines) <= HEADLINE_LINES
    for arm in arms:
        assert any(line.startswith(f"{arm} (adapter)") for line in lines)
    (ranking,) = [line for line in lines if line.startswith("ranking:")]
    assert ranking.index("large") < ranking.index("medium") < ranking.index("small")
    assert "large" in ranking and ">" in ranking


def test_many_tasks_and_arms_fold_into_counts_and_never_pass_25_lines(tmp_path):
    rows = intent_rows(40)
    tasks = []
    for index in range(12):
        folder = tmp_path / f"t{index}"
        folder.mkdir()
        tasks.append(str(write_task(folder, rows, name=f"task{index}")))
    arms = {f"a{i}": 0.2 * i for i in range(5)}
    results = run(tmp_path, "many", arms, tasks)
    lines = lines_of(results)
    assert len(lines) <= HEADLINE_LINES
    folded = [line for line in lines if "more tasks:" in line]
    assert len(folded) == 5 and "(--details)" in folded[0]
    headline = build_headline(results, max_lines=10**6)  # no budget: every row
    assert sum(len(block.lines) for block in headline.blocks) == 5 * 12


def _cut(task: str, withheld: bool) -> dict:
    return {"task": task, "cut": 2, "n": 2, "fitted": 0, "fitted_field": None,
            "max_length": 256, "max_tokens_cut": 1400, "median_tokens_cut": 900.0,
            "question_cut": 1, "share_cut": 1.0, "share_question_cut": 0.5,
            "verdicts_withheld": withheld}  # fmt: skip


@pytest.mark.skipif(not DATA.exists(), reason="shared benchmark data not present")
@pytest.mark.parametrize("crowded", [False, True])
def test_notes_are_cut_to_fit_the_screen_and_a_cut_group_is_named_once(tmp_path, own_task, crowded):
    arms = {"a": 0.9, "b": 0.8, "c": 0.3, "d": 0.6} | ({"e": 0.5} if crowded else {})
    results = run(
        tmp_path, "crowded", arms, [own_task, "mmlu"], data={"mmlu": str(DATA / "mmlu")},
        limit={"mmlu*": 2}, temperature_scaling=False,
    )  # fmt: skip
    members = [t["name"] for t in results["tasks"] if t.get("groups")]
    nested = [g["name"] for g in results["task_groups"] if g.get("parent")]
    results["truncation"] = [
        *(_cut(task, index % 2 == 0) for index, task in enumerate(members)),
        *(_cut(group, False) for group in nested),
        _cut("mmlu", True),
    ]
    results["advice"] = [
        {"task": "intents", "metric": "acc", "arm": "c", "reference_arm": "full", "gap": -40.0,
         "gap_kind": "points", "gap_points": -40.0, "significant": True, "message": "long"}
    ]  # fmt: skip
    results["calibration"] = [
        {"task": task, "arm": arm, "overconfident": True} for arm in arms for task in members[:3]
    ]
    lines = lines_of(results)
    assert len(lines) <= HEADLINE_LINES
    for arm in arms:
        assert any(line.startswith(f"{arm} (adapter)") for line in lines)
    text = " ".join(line.strip() for line in lines)
    assert not any(task in text for task in [*members, *nested])  # one item for the group
    (flags,) = [line for line in lines if line.startswith("flags:")]
    if not crowded:  # every note fits in full, two lines at most
        assert "TRUNCATED: mmlu (57 tasks): 100% of prompts cut to 256 tokens" in text
        assert f"no verdict, nor on {(len(members) + 1) // 2} of its 57 tasks" in text
        assert "advice: c trails full by 40.0 pts on intents acc: raise the LoRA rank" in text
    else:  # flags cut to one line, then advice and truncation in brief
        assert flags.endswith("; +4 more")
        assert "TRUNCATED: mmlu (57 tasks): 100% cut to 256 tokens, no verdict" in lines
        assert "advice: c trails full by 40.0 pts on intents acc" in lines


def test_markdown_says_what_the_terminal_says(tmp_path, own_task):
    results = run(tmp_path, "md", {"lora": 0.9}, [own_task])
    terminal = render_terminal(results, "runs/x")
    markdown = render_markdown(results)
    top = markdown.split("## Verdicts")[0]
    headline = build_headline(results)
    for block in headline.blocks:
        assert block.title in terminal and block.title in top
        for line in block.lines:
            for text in (line.word, line.delta, line.interval):
                assert text in terminal and text in top


def test_an_adapter_served_on_other_weights_than_it_was_trained_on_is_flagged():
    from tests.report.fixtures import full_results

    results = full_results()
    lora = next(a for a in results["arms"] if a["name"] == "lora")
    lora["identity"]["quantization_mismatch"] = {
        "trained_on": "nf4", "served_on": "full precision", "recorded_in": "README.md",
        "message": "adapter 'lora' was trained on a nf4-quantized base",
    }  # fmt: skip
    flags = next(n for n in build_headline(results).notes if n.label == "flags")
    assert "lora trained on a nf4 base, evaluated on full precision" in flags.text
    assert "trained on" not in " ".join(n.text for n in build_headline(full_results()).notes)

"""The item browser's data: a task's perturbed copies are filed under that task, each with
the index of its clean item, and a perturbation never merges into the clean record."""

from __future__ import annotations

from fteval.records import SampleResult
from fteval.report.items import browser_data
from tests.report.fixtures import full_results

ARMS = ("base", "lora")


def _sample(task: str, item: int, arm: str, prompt: str, right: bool, **meta) -> SampleResult:
    return SampleResult(
        task=task,
        example_id=f"e{item}",
        arm=arm,
        prompt_hash=prompt,
        target="login",
        prediction="login" if right else "billing",
        scores={"acc": float(right)},
        meta=meta,
    )


def _samples(*, same_prompt: bool = False) -> list[SampleResult]:
    """4 clean items of ``intents`` and their typo copies (``intents~typo``), 2 arms."""
    out = []
    for i in range(4):
        for arm in ARMS:
            out.append(_sample("intents", i, arm, f"h{i}", True))
            perturbed = f"h{i}" if same_prompt else f"p{i}"
            out.append(
                _sample(
                    "intents~typo",
                    i,
                    arm,
                    perturbed,
                    i % 2 == 0,
                    perturbation="typo",
                    parent_task="intents",
                    parent_id=f"e{i}",
                )
            )
    return out


def test_perturbed_copies_are_filed_under_their_task_with_their_clean_item():
    items = [
        {"task": "intents~typo", "example_id": "e1", "prompt_hash": "p1", "prompt": "lgoin?"},
        {"task": "intents", "example_id": "e1", "prompt_hash": "h1", "prompt": "login?"},
    ]
    data = browser_data(full_results(), _samples(), items)
    assert [t["name"] for t in data["tasks"]] == ["intents"]
    assert data["perturbations"] == ["typo"]
    records = data["items"]
    assert len(records) == 8 and all(r[0] == 0 for r in records)
    clean = {r[1]: i for i, r in enumerate(records) if r[6] == ""}
    perturbed = [r for r in records if r[6] == "typo"]
    assert len(perturbed) == 4 and all(r[8] == clean[r[1]] for r in perturbed)
    assert all(records[i][8] is None for i in clean.values())
    one = next(r for r in perturbed if r[1] == "e1")
    assert one[2] == "lgoin?" and records[one[8]][2] == "login?"  # each from its own task
    lora = data["arms"].index("lora")
    assert one[7][lora][:2] == ["billing", 0] and records[one[8]][7][lora][:2] == ["login", 1]


def test_a_perturbation_that_left_the_prompt_unchanged_stays_its_own_record():
    data = browser_data(full_results(), _samples(same_prompt=True))
    records = data["items"]
    assert sum(1 for r in records if r[6] == "typo") == 4
    assert sum(1 for r in records if r[6] == "") == 4
    clean = next(r for r in records if r[6] == "" and r[1] == "e1")
    shown = [clean[7][data["arms"].index(arm)][1] for arm in ARMS]
    assert shown == [1, 1]  # the clean answers, not the perturbed ones

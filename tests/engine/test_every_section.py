"""Every section's comparisons go through the one engine: one family rule, one correction
step, and a task's rows that never depend on which other tasks share the run.

The run below holds every results section that compares arms (robustness, slices,
calibration, contamination, checkpoints, the main table); ``RESULTS_SECTIONS`` is the
registry of results.json's sections, so a section added later that holds comparisons is
covered here, or the coverage test fails.
"""

from __future__ import annotations

import json
import typing

import pytest
import yaml

from fteval.api import evaluate
from fteval.backends.fake import FakeBackend
from fteval.config import build_config
from fteval.records import dumps
from fteval.records.rows import Comparison, comparisons_in
from fteval.results import RESULTS_SECTIONS
from fteval.tasks import load_task
from tests.conftest import INTENTS, write_jsonl

FAST = {"bootstrap_resamples": 200, "permutations": 200}
ADAPTERS = {"step100": "a1", "step200": "a2", "step300": "a3"}
FORMS = {"deployed": "step200:merged-int8"}  # a deployment form: the deployment section
SKILL = {"base": 0.2, "step100": 0.5, "step200": 0.8, "step300": 0.6, "deployed": 0.75}


def rows(prefix: str, n: int) -> list[dict]:
    words = {"login": "sign in", "billing": "card charged", "refund": "money back"}
    return [
        {
            "id": f"{prefix}{i}",
            "text": f"customer {i} says the {words[INTENTS[i % 3]]} part is broken again today",
            "label": INTENTS[i % 3],
            "channel": "email" if i % 2 else "chat",
        }
        for i in range(n)
    ]


def write_split_task(folder, name: str, prefix: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, n in (("test", 60), ("validation", 45), ("train", 30)):
        items = rows(f"{prefix}{split}", n)
        if split == "train":  # ten test items also appear in training
            items = rows(f"{prefix}test", 10) + items[10:]
        write_jsonl(folder / f"{split}.jsonl", items)
        data[split] = f"{split}.jsonl"
    spec = {"name": name, "data": data, "id_field": "id", "template": "Message: {text}\nIntent:",
            "choices": INTENTS, "label_field": "label", "metrics": ["acc", "f1_macro"]}  # fmt: skip
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return str(path)


def run(tmp_path, name: str, tasks: list[str], **extra) -> dict:
    config = build_config({"base": "b", "adapters": ADAPTERS, "tasks": tasks, "forms": FORMS})
    knowledge = {}
    for spec in tasks:
        task = load_task(spec)
        assert task.loader is not None
        for e in (*task.examples, *task.loader.load_split("validation")):
            knowledge[e.prompt] = e.continuations[e.choices.index(e.target)]
    backend = FakeBackend(config.arms(), skill=SKILL, knowledge=knowledge)
    log = tmp_path / "log.csv"
    log.write_text("step,train_loss,eval_loss\n100,2.0,1.9\n200,1.0,1.2\n300,0.5,1.5\n")
    return evaluate(
        "b", adapters=ADAPTERS, tasks=tasks, out=tmp_path / name, backend=backend, forms=FORMS,
        progress=False, perturbations=["typo:rate=0.3"], slices=["channel"],
        temperature_scaling=True, training_logs={"step300": str(log)}, **FAST, **extra,
    ).to_dict()  # fmt: skip


def every_comparison(results: dict) -> list[tuple[str, Comparison]]:
    """(section, comparison) for every comparison results.json holds, through the registry."""
    found = []
    for section, row_type in RESULTS_SECTIONS.items():
        for row in results.get(section) or []:
            found += [(section, c) for c in comparisons_in(row_type.from_json(row))]
    return found


def holds_comparisons(row_type: type) -> bool:
    text = " ".join(str(hint) for hint in typing.get_type_hints(row_type).values())
    return row_type is Comparison or "Comparison" in text or "ContaminationArm" in text


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("every")
    support = write_split_task(root / "support", "support", "s")
    other = write_split_task(root / "other", "other", "o")
    return {
        "run": run(root, "scope-run", [support], correction_scope="run", ci_method="bca"),
        "alone": run(root, "alone", [support]),
        "together": run(root, "together", [support, other]),
    }


def test_every_section_that_can_hold_comparisons_holds_some_in_this_run(runs):
    sections = {section for section, _ in every_comparison(runs["run"])}
    expected = {name for name, row in RESULTS_SECTIONS.items() if holds_comparisons(row)}
    assert expected == sections
    assert {"comparisons", "robustness", "slices", "calibration", "contamination"} <= sections
    assert "deployment" in sections
    assert "checkpoints" in sections


def test_run_scope_gives_every_comparison_of_every_section_one_family(runs):
    found = every_comparison(runs["run"])
    assert {c.correction_family for _, c in found} == {"run: every comparison of every section"}
    sizes = {c.family_size for _, c in found}
    assert len(sizes) == 1
    (size,) = sizes
    main = [c for section, c in found if section == "comparisons"]
    assert size > len(main)  # the sections' comparisons count in the one family
    assert all(c.p_adjusted >= c.p_value for _, c in found)


def test_one_interval_method_reaches_every_section(runs):
    found = every_comparison(runs["run"])
    for section, row in found:
        if row.test == "max_permutation":
            continue  # re-selects the best per resample: percentile by construction
        assert "-ci:bca" in row.signature or "BCa fell back" in row.reason, (section, row)


def test_the_default_scope_corrects_each_task_and_section_per_arm_pair(runs):
    for _section, row in every_comparison(runs["alone"]):
        assert row.correction_family.startswith(f"task {row.task}: ")
        assert row.correction_family.endswith(f"({row.section})")
        assert row.verdict in (
            "improved",
            "regressed",
            "no significant difference",
            "insufficient data",
        )


def test_adding_an_unrelated_task_leaves_every_other_tasks_rows_byte_identical(runs):
    alone, together = runs["alone"], runs["together"]
    assert any(r["task"] == "other" for r in together["comparisons"])
    for section in RESULTS_SECTIONS:
        if section in ("arms", "tasks", "cost", "task_groups"):
            continue
        mine = [dumps(r) for r in alone.get(section) or [] if r.get("task", "support") == "support"]
        theirs = [
            dumps(r) for r in together.get(section) or [] if r.get("task", "support") == "support"
        ]
        assert mine == theirs, section


def test_every_written_row_reads_back_as_its_type_unchanged(runs):
    results = runs["together"]
    for section, row_type in RESULTS_SECTIONS.items():
        for row in results.get(section) or []:
            again = json.loads(dumps(row_type.from_json(row).to_json()))
            assert again == json.loads(dumps(row)), section

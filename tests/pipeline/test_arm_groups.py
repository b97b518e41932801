"""Arms that share a base answered in one pass: one backend call per chunk for the group,
the same samples in the same order as arm by arm, resumption, and a real per-row run."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fteval.api import evaluate
from fteval.backends.fake import FakeBackend
from fteval.records import ArmSpec
from tests.conftest import intent_rows, write_task

ARMS = [
    ArmSpec("base", "base", "b", "base"),
    ArmSpec("lora", "adapter", "a", "lora"),
    ArmSpec("lora2", "adapter", "a2", "lora2"),
    ArmSpec("full", "full", "f", "full"),
]


class GroupedFake(FakeBackend):
    """The fake backend, answering base and adapters together (as per-row LoRA does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.together: list[tuple[str, ...]] = []

    def arm_groups(self) -> list[tuple[str, ...]]:
        return [("base", "lora", "lora2"), ("full",)]

    def answer_arms(self, kind: str, work: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        self.together.append(tuple(work))
        return super().answer_arms(kind, work)


def run(tmp_path, name: str, backend, **options) -> tuple[dict, bytes]:
    task = write_task(tmp_path, intent_rows(30))
    results = evaluate(
        "b", adapters={"lora": "a", "lora2": "a2"}, full="f", tasks=[str(task)],
        backend=backend, out=tmp_path / name, progress=False, flush_every=8, **options,
    )  # fmt: skip
    return results.to_dict(), (tmp_path / name / "samples.jsonl").read_bytes()


def test_a_group_answers_each_chunk_in_one_call_with_the_samples_of_arm_by_arm(tmp_path):
    skill = {"lora": 0.4, "lora2": 0.2, "full": 0.5}
    grouped = GroupedFake(ARMS, skill=skill)
    together, lines = run(tmp_path, "together", grouped)
    assert grouped.together == [("base", "lora", "lora2")] * 4 + [("full",)] * 4  # 30 / 8
    alone, alone_lines = run(tmp_path, "alone", FakeBackend(ARMS, skill=skill))
    assert together["scores"] == alone["scores"]
    assert together["comparisons"] == alone["comparisons"]
    # same lines; a group's chunk is written arm by arm, after each chunk
    assert sorted(lines.splitlines()) == sorted(alone_lines.splitlines())
    order = [json.loads(line)["arm"] for line in lines.splitlines()[:24]]
    assert order == ["base"] * 8 + ["lora"] * 8 + ["lora2"] * 8
    manifest = json.loads((tmp_path / "together" / "manifest.json").read_text())
    cost = {arm["name"]: arm["cost"] for arm in manifest["arms"]}
    assert "answered in the same passes as lora, lora2" in cost["base"]["note"]
    assert cost["base"]["eval_wall_s"] == cost["lora"]["eval_wall_s"]
    assert "same passes" not in cost["full"].get("note", "")


def test_an_interrupted_group_resumes_to_the_lines_of_an_uninterrupted_run(tmp_path):
    import dataclasses

    from fteval.pipeline.run import remaining_group_chunks

    _, lines = run(tmp_path, "reference", GroupedFake(ARMS))
    ids = [f"r{i}" for i in range(30)]
    # killed after the base's second chunk was written, before the adapters' were
    done = {("intents", "base"): set(ids[:16]), ("intents", "lora"): set(ids[:8]),
            ("intents", "lora2"): set(ids[:8])}  # fmt: skip
    task = dataclasses.make_dataclass("T", ["name", "examples", "loader"])(
        "intents", tuple(dataclasses.make_dataclass("E", ["example_id"])(i) for i in ids), None
    )
    plan = remaining_group_chunks(task, ["base", "lora", "lora2"], done, 8)
    assert [(arms, [ex.example_id for ex in chunk.examples]) for arms, chunk in plan] == [
        (("lora", "lora2"), ids[8:16]),
        (("base", "lora", "lora2"), ids[16:24]),
        (("base", "lora", "lora2"), ids[24:30]),
    ]
    # the same, through a real resume: the lines of the reference up to the kill, then go
    kept = lines.splitlines(keepends=True)[:32]  # every arm's chunk 0, then base's chunk 1
    assert [json.loads(line)["arm"] for line in kept[24:]] == ["base"] * 8
    partial = tmp_path / "partial"
    run(tmp_path, "partial", GroupedFake(ARMS))
    manifest = json.loads((partial / "manifest.json").read_text())
    manifest["status"] = "running"
    (partial / "manifest.json").write_text(json.dumps(manifest))
    (partial / "samples.jsonl").write_bytes(b"".join(kept))
    (partial / "results.json").unlink()
    resumed = GroupedFake(ARMS)
    _, again = run(tmp_path, "partial", resumed)
    assert resumed.together[:2] == [("lora", "lora2"), ("base", "lora", "lora2")]
    assert again == lines


@pytest.mark.real_model
def test_a_real_run_serves_base_and_two_adapters_per_row_with_the_merged_numbers(
    tiny_models, tmp_path
):
    pytest.importorskip("torch")
    from tests.backends.test_hf_serving import backend as hf_backend

    task = write_task(tmp_path, intent_rows(12))
    adapters = {**tiny_models, "lora2": tiny_models["lora"]}

    def run_with(serving: str) -> dict[str, list[list[float]]]:
        served = hf_backend(adapters, adapter_serving=serving)
        evaluate(
            str(tiny_models["base"]), adapters={"lora": str(tiny_models["lora"]),
            "lora2": str(tiny_models["lora"])}, tasks=[str(task)], backend=served,
            out=tmp_path / serving, progress=False, cache_dir="off",
        )  # fmt: skip
        out: dict[str, list[list[float]]] = {}
        for line in (tmp_path / serving / "samples.jsonl").read_text().splitlines():
            sample = json.loads(line)
            out.setdefault(sample["arm"], []).append(sample["choice_logprobs"])
        return out

    per_row, merged = run_with("per_row"), run_with("merge_restore")
    assert set(per_row) == {"base", "lora", "lora2"}
    for arm, items in per_row.items():
        for got, expected in zip(items, merged[arm], strict=True):
            assert max(abs(a - b) for a, b in zip(got, expected)) <= 1e-4
    manifest = json.loads((tmp_path / "per_row" / "manifest.json").read_text())
    lora = next(a for a in manifest["arms"] if a["name"] == "lora")
    assert lora["identity"]["adapter_serving"] == "per_row"
    assert lora["identity"]["adapters_together"] == "always"

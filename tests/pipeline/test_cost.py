"""What each arm cost: parameters from safetensors headers, size, time, tokens, memory."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from fteval.pipeline.cost import (
    PeakMemory,
    safetensors_parameters,
    tokens_of,
    weight_facts,
)
from tests.pipeline.test_end_to_end import run_fake


def test_parameter_count_equals_the_safetensors_librarys_shapes(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    tensors = {
        "a": np.zeros((3, 7), np.float32),
        "b": np.zeros((5,), np.float16),
        "c": np.zeros((2, 0, 4), np.float32),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "np"})
    with safe_open(str(path), framework="np") as handle:
        expected = sum(int(np.prod(handle.get_slice(k).get_shape())) for k in handle.keys())  # noqa: SIM118
    assert safetensors_parameters(path) == expected == 26


def test_a_damaged_header_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes((12).to_bytes(8, "little") + b"not json at")
    with pytest.raises(ValueError, match=r"broken\.safetensors"):
        safetensors_parameters(path)


def test_pickled_weights_are_sized_but_not_counted(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * 1000)
    facts = weight_facts(tmp_path)
    assert facts.parameters is None and facts.size_bytes == 1000
    assert weight_facts("org/hub-model") == weight_facts(None)


def test_cuda_peak_is_reset_before_and_read_after_the_arm(monkeypatch):
    calls = []
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: True,
        reset_peak_memory_stats=lambda device: calls.append(("reset", device)),
        max_memory_allocated=lambda device: calls.append(("peak", device)) or 123,
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    memory = PeakMemory("cuda:1")
    memory.reset()
    assert (memory.kind, memory.read()) == ("cuda", 123)
    assert calls == [("reset", "cuda:1"), ("peak", "cuda:1")]
    assert PeakMemory("cpu").kind == "rss"


def test_rss_peak_is_per_arm_where_linux_allows_it():
    memory = PeakMemory("cpu")
    memory.reset()
    if not memory.per_arm:
        pytest.skip("this kernel does not let a process reset its peak RSS")
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    high = memory.read()
    del block
    memory.reset()
    assert memory.read() < high - 32 * 1024 * 1024


def test_a_run_records_each_arms_cost_in_manifest_and_results(tmp_path, task_file):
    results = run_fake(tmp_path, task_file, {"lora": 0.5}, cache_dir="off")
    run = Path(results["run_dir"])
    manifest = json.loads((run / "manifest.json").read_text())
    rows = {row["arm"]: row for row in results["cost"]}
    assert list(rows) == ["base", "lora", "full"]
    for arm in manifest["arms"]:
        row = rows[arm["name"]]
        assert {k: row[k] for k in arm["cost"] if k in row} == {
            k: v for k, v in arm["cost"].items() if k in row
        }
        assert row["kind"] == arm["kind"]
        assert row["eval_wall_s"] >= 0 and row["peak_memory_bytes"] > 0
        assert row["memory_kind"] == "rss"
        assert row["total_params"] is None  # the fake backend's arms have no weight files
    from fteval.api import load_run

    lora_samples = [s for s in load_run(run).samples if s.arm == "lora"]
    assert rows["lora"]["tokens"] == tokens_of(lora_samples) > 0
    assert rows["lora"]["items"] == len(lora_samples)


@pytest.mark.real_model
def test_cost_is_honest_about_the_cache_and_counts_processed_tokens(
    tmp_path, task_file, tiny_models
):
    from fteval.api import evaluate

    def run(name: str) -> dict:
        return evaluate(
            str(tiny_models["base"]), adapters={"lora": str(tiny_models["lora"])},
            tasks=[str(task_file)], out=tmp_path / name, progress=False, device="cpu",
            cache_dir=str(tmp_path / "cache"), bootstrap_resamples=100, permutations=100,
            adapter_serving="merge_restore",  # one arm at a time: a rate per arm
        ).to_dict()  # fmt: skip

    first = {row["arm"]: row for row in run("first")["cost"]}
    lora = first["lora"]
    assert lora["requests_cached"] == 0 and lora["requests_computed"] > 0
    assert lora["tokens_processed"] > lora["tokens"] > 0  # prompts are fed, not scored
    assert lora["tokens_per_s"] == pytest.approx(
        lora["tokens_processed"] / lora["eval_wall_s"], rel=0.01
    )
    assert lora["cached_compute_s"] is None
    again = {row["arm"]: row for row in run("again")["cost"]}["lora"]
    assert again["requests_computed"] == 0 and again["requests_cached"] > 0
    assert again["tokens_per_s"] is None  # nothing computed now: no rate to claim
    assert "every answer from the response cache" in again["note"]
    recorded = lora["eval_wall_s"] / lora["requests_computed"]
    assert again["cached_compute_s"] == pytest.approx(again["requests_cached"] * recorded, rel=1e-3)
    assert again["cached_cost_measured_at"]

"""The response cache inside real runs: a new adapter reuses the base arm's answers."""

from __future__ import annotations

import json
import shutil

import pytest

from fteval.api import evaluate

pytestmark = pytest.mark.real_model


def run(tmp_path, name, models, adapters, cache):
    return evaluate(
        str(models["base"]), adapters=adapters, tasks=[str(tmp_path / "task.yaml")],
        out=tmp_path / name, device="cpu", cache_dir=str(cache), progress=False,
    )  # fmt: skip


def test_second_run_with_a_new_adapter_reuses_base_responses(tmp_path, task_file, tiny_models):
    cache = tmp_path / "cache"
    first = run(tmp_path, "first", tiny_models, {"a": str(tiny_models["lora"])}, cache)
    copy = tmp_path / "lora_copy"
    shutil.copytree(tiny_models["lora"], copy)
    second = run(
        tmp_path, "second", tiny_models, {"a": str(tiny_models["lora"]), "b": str(copy)}, cache
    )
    stats = json.loads((tmp_path / "second" / "manifest.json").read_text())["response_cache"]
    requests = 24 * 3
    assert stats["base"] == {"hits": requests, "misses": 0, "cached": True}
    assert stats["a"]["hits"] == requests
    # the copy has the same content: served from cache although its path is new
    assert stats["b"]["hits"] == requests
    assert first["scores"] == [s for s in second["scores"] if s["arm"] != "b"]


def test_adapter_rewritten_at_the_same_path_is_not_served_from_cache(
    tmp_path, task_file, tiny_models
):
    import torch
    from safetensors.torch import load_file, save_file

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_models["lora"], adapter)
    cache = tmp_path / "cache"
    first = run(tmp_path, "first", tiny_models, {"a": str(adapter)}, cache)
    weights = load_file(adapter / "adapter_model.safetensors")
    save_file({k: v * 3 + 0.01 * torch.ones_like(v) for k, v in weights.items()},
              adapter / "adapter_model.safetensors")  # fmt: skip
    second = run(tmp_path, "second", tiny_models, {"a": str(adapter)}, cache)
    stats = json.loads((tmp_path / "second" / "manifest.json").read_text())["response_cache"]
    assert stats["a"]["misses"] == 24 * 3 and stats["a"]["hits"] == 0
    assert stats["base"]["misses"] == 0
    before = [s["choice_logprobs"] for s in _samples(tmp_path / "first") if s["arm"] == "a"]
    after = [s["choice_logprobs"] for s in _samples(tmp_path / "second") if s["arm"] == "a"]
    assert before != after
    assert (
        first["arms"][1]["identity"]["weights_sha256"]
        != second["arms"][1]["identity"]["weights_sha256"]
    )


def _samples(run_dir):
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_same_seed_and_config_give_byte_identical_samples(tmp_path, task_file, tiny_models):
    for name in ("a", "b"):
        evaluate(
            str(tiny_models["base"]), adapters={"lora": str(tiny_models["lora"])},
            full=str(tiny_models["full"]), tasks=[str(task_file)], out=tmp_path / name,
            device="cpu", cache_dir="off", progress=False,
        )  # fmt: skip
    first = (tmp_path / "a" / "samples.jsonl").read_bytes()
    assert first == (tmp_path / "b" / "samples.jsonl").read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["seeds"] == {"run": 1234, "statistics": 1234}
    assert {"torch", "transformers", "peft"} <= set(manifest["environment"]["packages"])
    assert all(t["data_sha256"] for t in manifest["tasks"])
    assert manifest["arms"][0]["identity"]["tokenizer"]["chat_template_sha256"] is None


CACHED_RUN = """
import json, sys
from fteval.api import evaluate
results = evaluate(sys.argv[1], adapters={"lora": sys.argv[2]}, full=sys.argv[3],
                   tasks=[sys.argv[4]], out=sys.argv[5], cache_dir=sys.argv[6], progress=False)
heavy = sorted(m for m in ("torch", "transformers", "peft", "scipy.stats") if m in sys.modules)
print(json.dumps({"heavy": heavy, "scores": results["scores"]}))
"""


def test_a_run_answered_wholly_from_the_cache_loads_no_model_and_no_model_library(
    tmp_path, task_file, tiny_models
):
    import subprocess
    import sys

    cache = tmp_path / "cache"
    models = [str(tiny_models[name]) for name in ("base", "lora", "full")]
    first = evaluate(
        models[0], adapters={"lora": models[1]}, full=models[2], tasks=[str(task_file)],
        out=tmp_path / "first", cache_dir=str(cache), progress=False,
    )  # fmt: skip
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())
    counts = manifest["token_counts"]
    for arm in ("base", "lora", "full"):  # each shared context once, little padding
        assert 1.0 <= counts[arm]["loglikelihood"]["executed_per_minimum"] <= 1.10
    assert manifest["arms"][1]["identity"]["probe_max_abs_logit_change"] > 0
    out = subprocess.run(
        [sys.executable, "-c", CACHED_RUN, *models, str(task_file), str(tmp_path / "second"),
         str(cache)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    second = json.loads(out.stdout.splitlines()[-1])
    assert second["heavy"] == []
    assert second["scores"] == json.loads(json.dumps(first["scores"]))
    again = json.loads((tmp_path / "second" / "manifest.json").read_text())
    assert all(s["misses"] == 0 for s in again["response_cache"].values())
    assert [a["identity"]["tokenizer"] for a in again["arms"]] == [
        a["identity"]["tokenizer"] for a in manifest["arms"]
    ]

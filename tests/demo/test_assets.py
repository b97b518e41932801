"""Tests of the demo asset build: tiny step budgets, real transformers/peft models."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from fteval.demo.assets import (
    BUILD_VERSION,
    DemoAssets,
    build_demo_assets,
    default_cache_dir,
)
from fteval.demo.dataset import INTENTS

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def tiny_settings():
    from fteval.demo.train import TrainSettings

    return TrainSettings.tiny(steps=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_settings) -> DemoAssets:
    cache = tmp_path_factory.mktemp("cache")
    return build_demo_assets(cache, progress=False, settings=tiny_settings)


def test_first_call_builds_into_a_versioned_folder(built):
    assert not built.cached
    assert built.build_seconds > 0
    assert built.root.parent.name == "demo"
    assert built.root.name.startswith(f"v{BUILD_VERSION}")
    # No temporary build folder is left behind.
    assert [p.name for p in built.root.parent.iterdir()] == [built.root.name]


def test_second_call_is_served_from_cache(built, tiny_settings):
    again = build_demo_assets(built.root.parent.parent, progress=False, settings=tiny_settings)
    assert again.cached
    assert again.root == built.root
    assert again.build_seconds == pytest.approx(built.build_seconds)


def test_saved_models_load_with_transformers_and_peft(built):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(built.base_dir)
    ids = tokenizer("Message: hi\nIntent:", add_special_tokens=False, return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(built.base_dir)
    full = AutoModelForCausalLM.from_pretrained(built.full_dir)
    with torch.no_grad():
        base_logits = base(**ids).logits
        full_logits = full(**ids).logits
        adapted = PeftModel.from_pretrained(base, built.adapter_dir)
        lora_logits = adapted(**ids).logits
    assert base_logits.shape[-1] == len(tokenizer)
    assert not torch.allclose(base_logits, full_logits)
    assert not torch.allclose(base_logits, lora_logits)
    for folder in (built.adapter_dir, built.full_dir):
        assert (
            AutoTokenizer.from_pretrained(folder)("ab", add_special_tokens=False)["input_ids"]
            == tokenizer("ab", add_special_tokens=False)["input_ids"]
        )


def test_weights_are_safetensors(built):
    assert (built.base_dir / "model.safetensors").is_file()
    assert (built.full_dir / "model.safetensors").is_file()
    assert (built.adapter_dir / "adapter_model.safetensors").is_file()
    assert not list(built.root.rglob("*.bin"))


def test_adapter_points_at_the_final_base_folder(built):
    config = json.loads((built.adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(built.base_dir)
    assert config["task_type"] == "CAUSAL_LM"
    assert config["fan_in_fan_out"] is True


def test_task_file_has_the_task_shape_and_its_data(built):
    task = yaml.safe_load(built.task_file.read_text(encoding="utf-8"))
    assert task == {
        "name": "support_intents",
        "type": "multiple_choice",
        "data": {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"},
        "split": "test",
        "id_field": "id",
        "template": "Message: {text}\nIntent:",
        "choices": list(INTENTS),
        "label_field": "label",
        "target_delimiter": " ",
        "metrics": ["acc", "acc_norm", "f1_macro"],
    }
    for name in task["data"].values():
        rows = (built.task_file.parent / name).read_text(encoding="utf-8").splitlines()
        assert rows and all(json.loads(r)["label"] in INTENTS for r in rows)


def test_incomplete_folder_is_rebuilt_identically(built, tmp_path, tiny_settings):
    root = tmp_path / "demo" / built.root.name
    shutil.copytree(built.root, root)
    (root / "build.json").unlink()  # as if the build had been interrupted
    again = build_demo_assets(tmp_path, progress=False, settings=tiny_settings)
    assert not again.cached
    assert again.root == root
    assert (again.root / "build.json").is_file()
    assert [p.name for p in again.root.parent.iterdir()] == [again.root.name]
    # Same settings, same seeds: byte-identical data and weights.
    for relative in (
        "base/model.safetensors",
        "full/model.safetensors",
        "lora/adapter_model.safetensors",
        "data/train.jsonl",
        "data/test.jsonl",
    ):
        assert (again.root / relative).read_bytes() == (built.root / relative).read_bytes()


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FTEVAL_CACHE_DIR", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FTEVAL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "fteval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "fteval"

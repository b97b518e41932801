"""Quantized bases: an NF4 base with a LoRA adapter scores what bitsandbytes + PEFT compute
directly, adapters are never merged into quantized weights, the settings key the cache,
and an adapter trained on a quantized base is flagged when the run serves other weights."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from fteval.backends import make_backend
from fteval.backends.cache_keys import arm_cache_key
from fteval.backends.hf_quant import (
    README_PREFIX,
    Quantization,
    method_of,
    mismatch,
    recorded_quantization,
)
from fteval.errors import BackendError
from fteval.records import ArmSpec, LoglikelihoodRequest

PAIRS = [
    ("Message: I cannot sign in\nIntent:", " login"),
    ("Message: my card was charged twice\nIntent:", " billing"),
    ("The quick brown fox", " jumps over the lazy dog"),
    ("", "hello world"),
]


def arms(paths) -> list[ArmSpec]:
    return [
        ArmSpec("base", "base", str(paths["base"]), "base"),
        ArmSpec("lora", "adapter", str(paths["lora"]), "lora"),
    ]


def hf(paths, **settings):
    return make_backend(
        "hf", arms(paths), device="cpu", dtype="float32", progress=False, **settings
    )


def direct_loglikelihoods(paths, *, adapter: bool, dequantized: bool = False) -> list[float]:
    """log P(continuation | context) by hand: bitsandbytes loads the base in NF4 (QLoRA's
    settings), PEFT attaches the adapter, one forward pass per pair. ``dequantized``: the
    same NF4 weights dequantized into a float32 model (no bitsandbytes kernel at all)."""
    import torch
    from bitsandbytes.functional import dequantize_4bit
    from bitsandbytes.nn import Linear4bit
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(
        paths["base"], quantization_config=config, device_map={"": "cpu"}, dtype=torch.float32
    )
    for module in model.modules():  # the bfloat16 CPU kernel (see hf_quant) off, as fteval
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False
    if dequantized:
        plain = AutoModelForCausalLM.from_pretrained(paths["base"], dtype=torch.float32)
        quantized = dict(model.named_modules())
        for name, module in plain.named_modules():
            if isinstance(quantized.get(name), Linear4bit):
                weight = quantized[name].weight
                module.weight.data = dequantize_4bit(weight.data, weight.quant_state).float()
        model = plain
    if adapter:
        model = PeftModel.from_pretrained(model, paths["lora"])
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(paths["base"])
    out = []
    for context, continuation in PAIRS:
        head = tokenizer(context, add_special_tokens=False)["input_ids"]
        whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
        ids = whole if head else [tokenizer.eos_token_id, *whole]  # empty context: EOS first
        start = max(1, len(head))
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        logprobs = logits.log_softmax(-1)
        out.append(sum(float(logprobs[i - 1, ids[i]]) for i in range(start, len(ids))))
    return out


@pytest.mark.real_model
def test_an_nf4_base_with_lora_scores_what_bitsandbytes_and_peft_compute_directly(tiny_llama):
    pytest.importorskip("bitsandbytes")
    backend = hf(tiny_llama, base_quantization="nf4")
    backend.prepare()
    requests = [LoglikelihoodRequest(*pair) for pair in PAIRS]
    for arm, adapter in (("base", False), ("lora", True)):
        ours = [r.logprob for r in backend.loglikelihood(arm, requests)]
        assert ours == pytest.approx(direct_loglikelihoods(tiny_llama, adapter=adapter), abs=1e-5)
        dequantized = direct_loglikelihoods(tiny_llama, adapter=adapter, dequantized=True)
        assert ours == pytest.approx(dequantized, abs=1e-4)
    full_precision = hf(tiny_llama)
    plain = [r.logprob for r in full_precision.loglikelihood("lora", requests)]
    quantized = [r.logprob for r in backend.loglikelihood("lora", requests)]
    assert max(abs(a - b) for a, b in zip(plain, quantized)) > 1e-3  # other weights indeed
    identity = backend.identity("lora").to_json()
    assert identity["quantization"]["method"] == "nf4"
    assert identity["quantization"]["compute_dtype"] == "float32"
    assert identity["quantization"]["double_quant"] is True
    assert identity["adapter_serving"] == "switch"  # never merged into quantized weights
    backend.close()


@pytest.mark.real_model
def test_the_nf4_scores_do_not_depend_on_the_order_of_first_passes(tiny_llama):
    """bitsandbytes' packed CPU kernel gave other numbers depending on whether the first
    pass ran before PEFT wrapped the layers; with it off, a form loaded alone (adapter
    active at its first pass) equals the group's arm (base pass first)."""
    pytest.importorskip("bitsandbytes")
    specs = [*arms(tiny_llama), ArmSpec("q4", "form", str(tiny_llama["lora"]), "q4",
                                        form="base-nf4", source="lora")]  # fmt: skip
    backend = make_backend("hf", specs, device="cpu", dtype="float32", progress=False,
                           base_quantization="nf4")  # fmt: skip
    backend.prepare()
    requests = [LoglikelihoodRequest(*pair) for pair in PAIRS]
    grouped = [r.logprob for r in backend.loglikelihood("lora", requests)]
    alone = [r.logprob for r in backend.loglikelihood("q4", requests)]
    assert alone == pytest.approx(grouped, abs=1e-6)
    backend.close()


def test_merging_adapters_into_a_quantized_base_is_refused(tiny_models):
    with pytest.raises(BackendError, match=r"merge_restore.*quantized.*merged-nf4"):
        hf(tiny_models, base_quantization="nf4", adapter_serving="merge_restore")


def test_quantization_settings_are_part_of_each_arms_cache_key(tiny_models):
    keys = {}
    for setting in (None, "nf4", "fp4", "int8"):
        backend = hf(tiny_models, base_quantization=setting)
        keys[setting] = {
            arm: arm_cache_key(backend.identity(arm).to_json()) for arm in ("base", "lora")
        }
    assert all(key is not None for by_arm in keys.values() for key in by_arm.values())
    for arm in ("base", "lora"):
        assert len({keys[s][arm] for s in keys}) == 4
    assert hf(tiny_models).identity("lora").facts.get("quantization") is None


def test_a_quantized_run_without_bitsandbytes_names_the_extra_before_any_model_loads(
    tiny_models, monkeypatch
):
    import importlib.util

    from fteval.errors import MissingDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "bitsandbytes" else real(name, *a),
    )
    backend = hf(tiny_models, base_quantization="nf4")
    with pytest.raises(MissingDependencyError, match=r"fteval\[quant\]"):
        backend.check_inputs()


def _qlora_copy(tmp_path, tiny_models, where: str):
    """The adapter, with its training's quantization recorded ``where``."""
    folder = tmp_path / f"qlora-{where}"
    shutil.copytree(tiny_models["lora"], folder)
    config = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "quant_method": "bitsandbytes"}
    if where == "readme":
        lines = [f"- {k}: {v}" for k, v in {**config, "load_in_8bit": False}.items()]
        text = "# adapter\n\n## Training procedure\n\n" + README_PREFIX + "\n" + "\n".join(lines)
        (folder / "README.md").write_text(text + "\n\n### Framework versions\n")
    else:
        (folder / "config.json").write_text(json.dumps({"quantization_config": config}))
    return folder


@pytest.mark.parametrize("where", ["readme", "config"])
def test_an_adapter_trained_on_nf4_is_flagged_when_served_on_other_weights(
    tmp_path, tiny_llama, caplog, where
):
    folder = _qlora_copy(tmp_path, tiny_llama, where)
    specs = [ArmSpec("base", "base", str(tiny_llama["base"]), "base"),
             ArmSpec("qlora", "adapter", str(folder), "qlora")]  # fmt: skip
    caplog.set_level(logging.WARNING)
    for served, flagged in ((None, True), ("int8", True), ("nf4", False)):
        backend = make_backend("hf", specs, device="cpu", dtype="float32", progress=False,
                               base_quantization=served)  # fmt: skip
        backend.check_inputs()
        found = backend.identity("qlora").facts.get("quantization_mismatch")
        assert (found is not None) == flagged, served
        if flagged:
            assert found["trained_on"] == "nf4"
            assert found["served_on"] == (served or "full precision")
            assert "--base-quantization nf4" in found["message"]
            assert found["message"] in caplog.text


def test_recorded_quantization_reads_every_place_training_leaves_it(tmp_path, tiny_models):
    assert recorded_quantization(str(tiny_models["lora"]), str(tiny_models["base"])) is None
    readme = _qlora_copy(tmp_path, tiny_models, "readme")
    assert recorded_quantization(str(readme), str(tiny_models["base"])) == (
        "nf4", str(readme / "README.md"),
    )  # fmt: skip
    base = tmp_path / "prequantized"
    base.mkdir()
    (base / "config.json").write_text(
        json.dumps({"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}})
    )
    assert recorded_quantization(str(tiny_models["lora"]), str(base))[0] == "int8"
    assert method_of({"quant_method": "gptq", "bits": 4}) is None
    assert method_of({"_load_in_4bit": "True", "bnb_4bit_quant_type": "fp4"}) == "fp4"
    assert mismatch("a", ("nf4", "x"), "nf4") is None


def test_quantization_settings_follow_qlora_and_record_the_library():
    nf4 = Quantization("nf4", compute_dtype="bfloat16").facts()
    assert nf4["compute_dtype"] == "bfloat16" and nf4["double_quant"] is True
    assert Quantization("int8").facts()["compute_dtype"] == "float16"  # LLM.int8() casts
    assert "bitsandbytes" in nf4
    with pytest.raises(ValueError, match="nf8"):
        Quantization("nf8")


@pytest.mark.parametrize(("setting", "form"), [("nf4", None), (None, "base-fp4")])
def test_a_conv1d_lora_on_4bit_weights_is_refused_before_any_model_loads(
    tiny_models, setting, form
):
    """PEFT attaches a fan_in_fan_out LoRA (GPT-2's Conv1D) to 4-bit layers, and the first
    forward pass then fails: refused with the way out named, before loading anything."""
    specs = arms(tiny_models)
    if form:
        specs.append(ArmSpec("q", "form", str(tiny_models["lora"]), "q", form=form, source="lora"))
    backend = make_backend("hf", specs, device="cpu", dtype="float32", progress=False,
                           base_quantization=setting)  # fmt: skip
    with pytest.raises(BackendError, match=r"fan_in_fan_out.*use int8, or a merged form"):
        backend.check_inputs()
    assert backend._group is None and not backend._own

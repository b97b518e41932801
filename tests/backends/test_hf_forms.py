"""Deployment forms on the HF backend: merged and unmerged forms of an adapter score what
the adapter scores within float tolerance; a quantized form is served by quantized layers,
holds less memory and scores differently; a form is its own arm (group, identity, key)."""

from __future__ import annotations

import pytest

from fteval.backends import make_backend
from fteval.backends.cache_keys import arm_cache_key
from fteval.records import ArmSpec, GenerateRequest, LoglikelihoodRequest, SamplingParams

pytestmark = pytest.mark.real_model

PAIRS = [
    ("Message: I cannot sign in\nIntent:", " login"),
    ("Message: my card was charged twice\nIntent:", " billing"),
    ("The quick brown fox", " jumps over the lazy dog"),
]


def form(name: str, kind: str, path, source: str = "lora") -> ArmSpec:
    return ArmSpec(name, "form", str(path), name, form=kind, source=source)


def specs(paths, *forms: ArmSpec) -> list[ArmSpec]:
    return [
        ArmSpec("base", "base", str(paths["base"]), "base"),
        ArmSpec("lora", "adapter", str(paths["lora"]), "lora"),
        *forms,
    ]


def hf(arms, **settings):
    return make_backend("hf", arms, device="cpu", dtype="float32", progress=False, **settings)


def scores(backend, arm: str) -> list[float]:
    return [
        r.logprob for r in backend.loglikelihood(arm, [LoglikelihoodRequest(*p) for p in PAIRS])
    ]


@pytest.mark.parametrize("serving", ["merge_restore", "switch"])
def test_merged_and_unmerged_forms_score_what_the_adapter_scores_within_float_tolerance(
    tiny_models, serving
):
    arms = specs(tiny_models, form("merged", "merged", tiny_models["lora"]),
                 form("unmerged", "unmerged", tiny_models["lora"]))  # fmt: skip
    backend = hf(arms, adapter_serving=serving)
    backend.prepare()
    adapter, base = scores(backend, "lora"), scores(backend, "base")
    for name in ("merged", "unmerged"):
        assert scores(backend, name) == pytest.approx(adapter, abs=1e-4)
        backend.release(name)
    assert max(abs(a - b) for a, b in zip(adapter, base)) > 1e-3  # the adapter matters
    greedy = [GenerateRequest("Message: refund please\nIntent:", (), 8, SamplingParams())]
    texts = {arm: backend.generate(arm, greedy)[0].texts for arm in ("lora", "merged", "unmerged")}
    assert texts["merged"] == texts["lora"] == texts["unmerged"]
    backend.close()


def test_a_merged_int8_form_is_served_by_int8_layers_and_holds_less_memory(tiny_models):
    pytest.importorskip("bitsandbytes")
    arms = specs(tiny_models, form("merged", "merged", tiny_models["lora"]),
                 form("int8", "merged-int8", tiny_models["lora"]))  # fmt: skip
    backend = hf(arms)
    backend.prepare()
    merged = scores(backend, "merged")
    quantized = scores(backend, "int8")
    layers = {type(m).__name__ for m in backend._own["int8"].model.modules()}
    assert "Linear8bitLt" in layers and "Linear8bitLt" not in {
        type(m).__name__ for m in backend._own["merged"].model.modules()
    }
    assert quantized != pytest.approx(merged, abs=1e-6)  # rounded weights: other numbers
    assert quantized == pytest.approx(merged, abs=0.5)  # ... of the same model
    sizes = backend.weight_bytes()
    assert sizes["int8"]["memory"] < sizes["merged"]["memory"]
    assert sizes["int8"]["serialized"] < sizes["merged"]["serialized"]
    identity = backend.identity("int8").to_json()
    assert identity["form"] == "merged-int8" and identity["source_arm"] == "lora"
    assert identity["adapter_serving"] == "merged"
    assert identity["quantization"]["method"] == "int8"
    assert identity["base_weights_sha256"] == backend.identity("base").weights_sha256
    backend.close()


def test_a_quantized_form_of_the_full_fine_tune_loads_its_checkpoint_quantized(tiny_models):
    pytest.importorskip("bitsandbytes")
    arms = [
        ArmSpec("base", "base", str(tiny_models["base"]), "base"),
        ArmSpec("full", "full", str(tiny_models["full"]), "full"),
        form("full-int8", "int8", tiny_models["full"], source="full"),
    ]
    backend = hf(arms)
    full, quantized = scores(backend, "full"), scores(backend, "full-int8")
    assert quantized == pytest.approx(full, abs=0.5) and quantized != pytest.approx(full, abs=1e-6)
    assert "adapter_config" not in backend.identity("full-int8").facts
    backend.close()


def test_each_form_is_an_arm_of_its_own_keyed_apart_from_its_source(tiny_models):
    arms = specs(tiny_models, form("merged", "merged", tiny_models["lora"]),
                 form("int8", "merged-int8", tiny_models["lora"]))  # fmt: skip
    backend = hf(arms, adapter_serving="switch")
    assert backend.arm_groups() == [("base",), ("lora",), ("merged",), ("int8",)]
    keys = {arm.name: arm_cache_key(backend.identity(arm.name).to_json()) for arm in arms}
    assert None not in keys.values() and len(set(keys.values())) == len(arms)
    grouped = hf(arms)
    assert grouped.arm_groups() == [("base", "lora"), ("merged",), ("int8",)]
    # nothing loads for identities and tokenizer facts
    assert grouped.tokenizer_facts("int8") == grouped.tokenizer_facts("base")
    assert not grouped._own and grouped._group is None

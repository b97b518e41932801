"""Adapter serving: the base and two adapters in one pass with per-row adapters give the
merged path's numbers, at any batch size, for every arm; the measured rule is recorded."""

from __future__ import annotations

import json

import pytest

from fteval.backends.base import GENERATE, LOGLIKELIHOOD, ROLLING
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    LoglikelihoodRequest,
    RollingLoglikelihoodRequest,
)

pytestmark = pytest.mark.real_model
torch = pytest.importorskip("torch")

MERGED_TOLERANCE = 1e-4  # x·W + s·(x·A)·B against x·(W + s·BA): rounding only
ARMS = ("base", "lora", "lora2")
HEADER = "Answer with a letter.\nQ: red or blue?\nA: A\nQ: up or down?\nA: B\n"
REQUESTS = [
    LoglikelihoodRequest(f"{HEADER}Q: item {i}?\nA:", choice)
    for i in range(4)
    for choice in (" A", " B", " none of these")
] + [LoglikelihoodRequest("", "from nothing"), LoglikelihoodRequest("Intent: ", "billing")]
PROMPTS = [f"{HEADER}Q: item {i} {'y' * i}?\nA:" for i in range(5)] + ["Hi", "Tell me"]


@pytest.fixture(scope="module")
def adapters(tiny_models, tmp_path_factory):
    """The fixture models plus a second non-zero adapter on other modules."""
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("lora2")
    torch.manual_seed(5)
    model = GPT2LMHeadModel.from_pretrained(tiny_models["base"])
    config = LoraConfig(
        r=2,
        lora_alpha=4,
        target_modules=["c_attn", "c_fc"],
        fan_in_fan_out=True,
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, config).save_pretrained(folder)
    saved = json.loads((folder / "adapter_config.json").read_text())
    saved["base_model_name_or_path"] = str(tiny_models["base"])
    (folder / "adapter_config.json").write_text(json.dumps(saved))
    return {**tiny_models, "lora2": folder}


def backend(paths, **kwargs):
    from fteval.backends.hf import HFBackend

    arms = [ArmSpec("base", "base", str(paths["base"]), "base")]
    arms += [ArmSpec(name, "adapter", str(paths[name]), name) for name in ("lora", "lora2")]
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("progress", False)
    return HFBackend(arms, **kwargs)


def worst(got, expected) -> float:
    from fteval.backends.closeness import max_difference

    return max_difference([r.logprob for r in got], [r.logprob for r in expected])


@pytest.mark.parametrize("batch_size", [1, 16])
def test_per_row_adapters_equal_the_merged_path_for_every_arm(adapters, batch_size):
    merged = backend(adapters, adapter_serving="merge_restore")
    together = backend(adapters, adapter_serving="per_row", batch_size=batch_size)
    answers = together.answer_arms(LOGLIKELIHOOD, dict.fromkeys(ARMS, REQUESTS))
    texts = [RollingLoglikelihoodRequest("a text rolled over windows. " * 5, stride=32)]
    rolled = together.answer_arms(ROLLING, dict.fromkeys(ARMS, texts))
    for arm in ARMS:
        assert worst(answers[arm], merged.loglikelihood(arm, REQUESTS)) <= MERGED_TOLERANCE
        assert worst(rolled[arm], merged.loglikelihood_rolling(arm, texts)) <= MERGED_TOLERANCE
    # the three arms really differ (each row ran with its own adapter)
    for a, b in (("base", "lora"), ("base", "lora2"), ("lora", "lora2")):
        assert worst(answers[a], answers[b]) > 1e-3
    assert together._load_group().merged is None  # nothing was merged


@pytest.mark.parametrize("batch_size", [1, 16])
def test_per_row_greedy_generation_equals_the_merged_path_for_every_arm(adapters, batch_size):
    requests = [GenerateRequest(p, ("\n\n",), 12) for p in PROMPTS]
    merged = backend(adapters, adapter_serving="merge_restore", batch_size=batch_size)
    together = backend(adapters, adapter_serving="per_row", batch_size=batch_size)
    answers = together.answer_arms(GENERATE, dict.fromkeys(ARMS, requests))
    for arm in ARMS:
        assert [r.texts for r in answers[arm]] == [r.texts for r in merged.generate(arm, requests)]
    assert [r.texts for r in answers["base"]] != [r.texts for r in answers["lora"]]


def test_one_decode_pass_serves_every_arm(adapters):
    """Base + two adapters decode in as many passes as one arm alone: one weight read."""
    requests = [GenerateRequest(p, (), 10) for p in PROMPTS]
    alone = backend(adapters, adapter_serving="merge_restore")
    passes = []
    for arm in ARMS:
        before = alone.decode_counters.decode_passes
        alone.generate(arm, requests)
        passes.append(alone.decode_counters.decode_passes - before)
    together = backend(adapters, adapter_serving="per_row")
    together.answer_arms(GENERATE, dict.fromkeys(ARMS, requests))
    assert together.decode_counters.decode_passes <= max(passes) < sum(passes)


def test_the_measured_rule_is_recorded_and_recalled(adapters, tmp_path, monkeypatch):
    from fteval.backends import hf_serving
    from fteval.backends.hf_rules import RuleBook

    original = hf_serving._timed
    durations = iter([0.1] + [1.0] * 3)  # the mixed pass first: faster than the three alone
    monkeypatch.setattr(
        hf_serving, "_timed", lambda m, i, s, e: (next(durations), original(m, i, s, e)[1])
    )
    book = RuleBook(tmp_path)
    served = backend(adapters, rulebook=book)
    answers = served.answer_arms(LOGLIKELIHOOD, dict.fromkeys(ARMS, REQUESTS))
    rule = served.identity("lora").facts["adapter_serving_rule"]["prefill"]
    assert rule["together"] is True and rule["recalled"] is False
    assert rule["why"].startswith("per_row: one mixed pass")
    assert rule["max_abs_logprob_difference"] <= MERGED_TOLERANCE
    assert served.identity("base").facts["adapter_serving_rule"] == {"prefill": rule}
    monkeypatch.setattr(hf_serving, "_timed", lambda *a: pytest.fail("timed again"))
    again = backend(adapters, rulebook=book)
    repeated = again.answer_arms(LOGLIKELIHOOD, dict.fromkeys(ARMS, REQUESTS))
    assert again.identity("lora").facts["adapter_serving_rule"]["prefill"]["recalled"] is True
    assert {arm: [r.logprob for r in repeated[arm]] for arm in ARMS} == {
        arm: [r.logprob for r in answers[arm]] for arm in ARMS
    }


def test_a_rule_that_says_alone_serves_one_arm_after_another(adapters, tmp_path, monkeypatch):
    from fteval.backends import hf_serving
    from fteval.backends.hf_rules import RuleBook

    original = hf_serving._timed
    durations = iter([5.0] + [0.1] * 3)  # the mixed pass first: slower than the three alone
    monkeypatch.setattr(
        hf_serving, "_timed", lambda m, i, s, e: (next(durations), original(m, i, s, e)[1])
    )
    served = backend(adapters, rulebook=RuleBook(tmp_path))
    answers = served.answer_arms(LOGLIKELIHOOD, dict.fromkeys(ARMS, REQUESTS))
    rule = served.identity("lora").facts["adapter_serving_rule"]["prefill"]
    assert rule["together"] is False and rule["why"].startswith("merge_restore:")
    merged = backend(adapters, adapter_serving="merge_restore")
    for arm in ARMS:
        assert [r.logprob for r in answers[arm]] == [
            r.logprob for r in merged.loglikelihood(arm, REQUESTS)
        ]


def test_cached_arms_skip_and_the_uncached_ones_are_computed_together(adapters, tmp_path):
    from fteval.backends.cache import ResponseCache
    from fteval.backends.caching import CachingBackend

    def cached():
        inner = backend(adapters, adapter_serving="per_row")
        calls = []
        compute = inner.answer_arms

        def spy(kind, work):
            calls.append(sorted(work))
            return compute(kind, work)

        inner.answer_arms = spy
        return CachingBackend(inner, ResponseCache(tmp_path / "cache.sqlite")), calls

    first, calls = cached()
    first.answer_arms(LOGLIKELIHOOD, {"base": REQUESTS})
    assert calls == [["base"]]
    first.close()
    second, calls = cached()
    answers = second.answer_arms(LOGLIKELIHOOD, dict.fromkeys(ARMS, REQUESTS))
    assert calls == [["lora", "lora2"]]  # base from the cache; the others in one call
    assert second.hits["base"] == len(REQUESTS) and second.misses["lora"] == len(REQUESTS)
    merged = backend(adapters, adapter_serving="merge_restore")
    for arm in ARMS:
        assert worst(answers[arm], merged.loglikelihood(arm, REQUESTS)) <= MERGED_TOLERANCE
    second.close()

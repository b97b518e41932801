"""The HF backend on tiny real models the tests build (GPT-2 + PEFT LoRA)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fteval.errors import AdapterError, BackendError
from fteval.records import ArmSpec, LoglikelihoodRequest, RollingLoglikelihoodRequest

pytestmark = pytest.mark.real_model

torch = pytest.importorskip("torch")


def arms(paths: dict[str, Path], adapter: str = "lora") -> list[ArmSpec]:
    return [
        ArmSpec("base", "base", str(paths["base"]), "base"),
        ArmSpec(adapter, "adapter", str(paths[adapter]), adapter),
        ArmSpec("full", "full", str(paths["full"]), "full"),
    ]


def backend(paths, **kwargs):
    from fteval.backends.hf import HFBackend

    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("progress", False)
    return HFBackend(arms(paths, kwargs.pop("adapter", "lora")), **kwargs)


REQUESTS = [
    LoglikelihoodRequest("Message: I cannot log in\nIntent:", " login"),
    LoglikelihoodRequest("Message: I cannot log in\nIntent:", " billing"),
    LoglikelihoodRequest("Message: charged twice\nIntent: ", "billing"),  # trailing space moves
    LoglikelihoodRequest("short", " x"),
    LoglikelihoodRequest("", "starts from nothing"),
    LoglikelihoodRequest("a much longer context " * 3, " with a longer continuation here"),
]


def direct_logprob(model, context: str, continuation: str, prefix: int = 1) -> float:
    """log P(continuation | context) straight from the model's logits (bytes + 3 ids)."""
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    ctx = [b + 3 for b in stripped.encode()] or [prefix]
    cont = [b + 3 for b in continuation.encode()]
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logits = model(input_ids=ids[:, :-1]).logits.float().log_softmax(-1)
    targets = ids[0, len(ctx) :]
    return logits[0, len(ctx) - 1 :].gather(-1, targets[:, None]).sum().item()


def test_loglikelihood_equals_direct_computation_for_every_arm(tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    served = backend(tiny_models)
    served.prepare()
    references = {
        "base": AutoModelForCausalLM.from_pretrained(tiny_models["base"]).eval(),
        "lora": PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_models["base"]), tiny_models["lora"]
        ).eval(),
        "full": AutoModelForCausalLM.from_pretrained(tiny_models["full"]).eval(),
    }
    for arm, model in references.items():
        got = served.loglikelihood(arm, REQUESTS)
        for request, result in zip(REQUESTS, got):
            expected = direct_logprob(model, request.context, request.continuation)
            assert result.logprob == pytest.approx(expected, abs=1e-4), (arm, request)
            assert result.n_tokens == len(
                (request.context[len(request.context.rstrip()) :] + request.continuation).encode()
            )
    base = served.loglikelihood("base", REQUESTS)
    lora = served.loglikelihood("lora", REQUESTS)
    assert any(abs(a.logprob - b.logprob) > 1e-3 for a, b in zip(base, lora))


@pytest.mark.parametrize("serving", ["merge_restore", "switch"])
def test_base_arm_is_exact_after_serving_adapters(tiny_models, serving):
    served = backend(tiny_models, adapter_serving=serving)
    before = served.loglikelihood("base", REQUESTS)
    adapted = served.loglikelihood("lora", REQUESTS)
    after = served.loglikelihood("base", REQUESTS)
    assert [r.logprob for r in before] == [r.logprob for r in after]
    assert any(abs(a.logprob - b.logprob) > 1e-3 for a, b in zip(before, adapted))


def test_both_serving_modes_agree_on_adapter_scores(tiny_models):
    merged = backend(tiny_models, adapter_serving="merge_restore").loglikelihood("lora", REQUESTS)
    switched = backend(tiny_models, adapter_serving="switch").loglikelihood("lora", REQUESTS)
    for a, b in zip(merged, switched):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_scores_do_not_depend_on_batch_size(tiny_models):
    requests = REQUESTS * 3
    one = backend(tiny_models, batch_size=1).loglikelihood("lora", requests)
    sixteen = backend(tiny_models, batch_size=16).loglikelihood("lora", requests)
    for a, b in zip(one, sixteen):
        assert abs(a.logprob - b.logprob) < 1e-5
        assert a.is_greedy == b.is_greedy


def test_is_greedy_matches_argmax(tiny_models):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["base"]).eval()
    context = "Message: hello"
    ids = torch.tensor([[b + 3 for b in context.encode()]])
    with torch.no_grad():
        best = int(model(input_ids=ids).logits[0, -1].argmax())
    greedy_text = bytes([best - 3]).decode("latin-1") if 3 <= best < 259 else None
    served = backend(tiny_models)
    if greedy_text is not None and greedy_text.strip():
        result = served.loglikelihood("base", [LoglikelihoodRequest(context, greedy_text)])[0]
        assert result.is_greedy
    other = chr(((best - 3 + 1) % 90) + 33)
    result = served.loglikelihood("base", [LoglikelihoodRequest(context, other)])[0]
    assert result.is_greedy is False


def test_overlong_input_is_truncated_from_the_left_and_recorded(tiny_models):
    served = backend(tiny_models, max_length=32)
    long_context = "x" * 100
    result = served.loglikelihood("base", [LoglikelihoodRequest(long_context, " end")])[0]
    # 100 context + 4 continuation tokens, 103 fed; window 32 -> 71 dropped on the left
    assert result.truncated_tokens == 103 - 32
    assert result.truncation_side == "left"
    with pytest.raises(BackendError, match="exceeds the context window"):
        served.loglikelihood("base", [LoglikelihoodRequest("a", "y" * 40)])


def test_adapter_that_changes_nothing_is_an_error(tiny_models):
    served = backend(tiny_models, adapter="zero_lora")
    with pytest.raises(AdapterError, match="does not change the model's outputs"):
        served.prepare()


def test_adapter_recorded_against_another_base_is_an_error(tiny_models, tmp_path):
    moved = tmp_path / "lora"
    shutil.copytree(tiny_models["lora"], moved)
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "meta-llama/Llama-2-7b-hf"
    (moved / "adapter_config.json").write_text(json.dumps(config))
    paths = {**tiny_models, "lora": moved}
    with pytest.raises(AdapterError, match="Llama-2-7b-hf"):
        backend(paths).check_inputs()
    allowed = backend(paths, allow_base_mismatch=True)
    allowed.prepare()
    assert "base_mismatch" in allowed.identity("lora").facts


def test_pickled_weights_are_refused_without_opt_in(tiny_models, tmp_path):
    from transformers import AutoModelForCausalLM

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    model = AutoModelForCausalLM.from_pretrained(tiny_models["full"])
    model.config.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    paths = {**tiny_models, "full": pickled}
    with pytest.raises(BackendError, match="allow-pickle"):
        backend(paths).check_inputs()


def test_identity_records_hashes_adapter_config_and_tokenizer_policy(tiny_models):
    served = backend(tiny_models)
    served.prepare()
    lora = served.identity("lora").to_json()
    assert lora["adapter_serving"] == "merge_restore" and lora["adapters_together"] == "measured"
    assert lora["adapter_config"]["r"] == 4
    assert all(len(h) == 64 for h in lora["weights_sha256"].values())
    assert lora["probe_max_abs_logit_change"] > 0
    facts = served.tokenizer_facts("base")
    assert facts["padding_side_loglikelihood"] == "right"
    assert "pad token" in facts["pad_policy"]


def test_rolling_loglikelihood_covers_every_token_once(tiny_models):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["base"]).eval()
    text = "rolling windows score each token exactly once, " * 2
    served = backend(tiny_models)
    full_window = served.loglikelihood_rolling("base", [RollingLoglikelihoodRequest(text)])[0]
    assert full_window.n_tokens == len(text.encode())
    expected = direct_logprob(model, "", text)
    assert full_window.logprob == pytest.approx(expected, abs=1e-3)
    strided = backend(tiny_models, max_length=64).loglikelihood_rolling(
        "base", [RollingLoglikelihoodRequest(text, stride=16)]
    )[0]
    assert strided.n_tokens == full_window.n_tokens


def test_auto_serving_merges_in_float32_and_switches_in_bfloat16(tiny_models):
    def serving(**kwargs):
        facts = backend(tiny_models, **kwargs).identity("lora").facts
        return facts["adapter_serving"], facts["adapters_together"]

    assert serving(dtype="float32") == ("merge_restore", "measured")
    assert serving(dtype="bfloat16") == ("switch", "measured")
    assert serving(dtype="bfloat16", adapter_serving="merge_restore") == ("merge_restore", "never")
    assert serving(adapter_serving="per_row") == ("per_row", "always")


def test_manifest_facts_do_not_load_the_full_fine_tune(tiny_models):
    served = backend(tiny_models)
    served.prepare()
    facts = served.tokenizer_facts("full")
    assert "full" not in served._own
    assert facts == served.tokenizer_facts("base")


def test_tokenizer_without_pad_token_pads_with_eos_and_says_so(tiny_models):
    from types import SimpleNamespace

    from fteval.backends.hf_models import describe_loaded

    class NoPad:
        bos_token_id, eos_token_id, pad_token_id, pad_token, chat_template = (
            None,
            1,
            None,
            None,
            None,
        )
        model_max_length = 10**30

        def __len__(self) -> int:
            return 384

    model = SimpleNamespace(config=SimpleNamespace(n_positions=64))
    loaded = describe_loaded(model, NoPad(), None)
    assert loaded.pad_id == 1 and loaded.prefix_token == 1 and loaded.max_length == 64
    assert "no pad token: padded with EOS id 1" in loaded.notes["pad_policy"]

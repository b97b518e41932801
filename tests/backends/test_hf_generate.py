"""Generation in the HF backend on tiny real models."""

from __future__ import annotations

import pytest

from fteval.errors import BackendError
from fteval.records import ArmSpec, GenerateRequest, SamplingParams

pytestmark = pytest.mark.real_model
torch = pytest.importorskip("torch")

PROMPTS = [
    "Message: I cannot log in\nIntent:",
    "Hi",
    "Message: my card was charged twice and I want the money back\nIntent:",
    "Summarise: the parcel arrived late and damaged.",
    "Q: 2+2?\nA:",
    "x",
    "A somewhat longer prompt that makes the batch ragged on the left side",
    "Tell me",
    "Another",
]


def backend(paths, **kwargs):
    from fteval.backends.hf import HFBackend

    arms = [
        ArmSpec("base", "base", str(paths["base"]), "base"),
        ArmSpec("lora", "adapter", str(paths["lora"]), "lora"),
    ]
    return HFBackend(arms, device="cpu", progress=False, **kwargs)


def test_greedy_matches_transformers_generate(tiny_models):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["base"]).eval()
    served = backend(tiny_models)
    for prompt in PROMPTS[:4]:
        ids = torch.tensor([[b + 3 for b in prompt.encode()]])
        reference = model.generate(
            ids, max_new_tokens=12, do_sample=False, eos_token_id=1, pad_token_id=0
        )[0, ids.shape[1] :].tolist()
        reference = [t for t in reference if t not in (0, 1)]
        got = served.generate("base", [GenerateRequest(prompt, (), 12)])[0]
        expected_text = served._load_group().loaded.tokenizer.decode(
            reference, skip_special_tokens=True
        )
        assert got.texts[0] == expected_text
        assert not got.texts[0].startswith(prompt)


def test_greedy_is_identical_at_batch_size_1_and_8(tiny_models):
    requests = [GenerateRequest(p, (), 16) for p in PROMPTS]
    one = backend(tiny_models, batch_size=1).generate("lora", requests)
    eight = backend(tiny_models, batch_size=8).generate("lora", requests)
    assert [r.texts for r in one] == [r.texts for r in eight]


def test_stop_sequence_ends_and_is_trimmed(tiny_models):
    served = backend(tiny_models)
    free = served.generate("base", [GenerateRequest(PROMPTS[0], (), 20)])[0].texts[0]
    assert len(free) >= 4
    stop = free[2:4]
    cut = served.generate("base", [GenerateRequest(PROMPTS[0], (stop,), 20)])[0]
    assert cut.texts[0] == free[: free.find(stop)]
    assert cut.finish_reasons[0] == "stop"


def test_finished_rows_stop_costing_decode_steps(tiny_models):
    served = backend(tiny_models, batch_size=16)
    free = [served.generate("base", [GenerateRequest(p, (), 24)])[0].texts[0] for p in PROMPTS]
    served.decode_counters.__init__()
    # each prompt stops at its own second character: rows finish at different steps
    requests = [
        GenerateRequest(p, (f[1:2],) if len(f) > 2 else (), 24) for p, f in zip(PROMPTS, free)
    ]
    served.generate("base", requests)
    counters = served.decode_counters
    assert counters.row_steps < len(PROMPTS) * 24
    assert counters.row_steps <= counters.generated_tokens


def test_sampling_is_seeded_and_batch_independent(tiny_models):
    sampling = SamplingParams(temperature=1.0, top_p=0.9, n=3, seed=7)
    requests = [GenerateRequest(p, (), 10, sampling) for p in PROMPTS[:5]]
    a = backend(tiny_models, batch_size=1).generate("base", requests)
    b = backend(tiny_models, batch_size=8).generate("base", requests)
    assert [r.texts for r in a] == [r.texts for r in b]
    assert all(len(r.texts) == 3 for r in a)
    assert any(len(set(r.texts)) > 1 for r in a)
    other_seed = [GenerateRequest(p, (), 10, SamplingParams(1.0, 0.9, 3, 8)) for p in PROMPTS[:5]]
    c = backend(tiny_models).generate("base", other_seed)
    assert [r.texts for r in a] != [r.texts for r in c]


def test_long_prompt_is_cut_from_the_left_and_recorded(tiny_models):
    served = backend(tiny_models, max_length=64)
    result = served.generate("base", [GenerateRequest("y" * 100, (), 8)])[0]
    assert result.truncated_tokens == 100 - (64 - 8)


def test_chat_template_wraps_the_prompt_when_asked(tiny_models, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    base = tmp_path / "chat_base"
    shutil.copytree(tiny_models["base"], base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    tokenizer.save_pretrained(base)
    served = backend({"base": base, "lora": tiny_models["lora"]}, allow_base_mismatch=True)
    chat = served.generate("base", [GenerateRequest("Hi there", (), 10, chat=True)])[0]
    manual = served.generate("base", [GenerateRequest("<user>Hi there\n<assistant>", (), 10)])[0]
    assert chat.texts == manual.texts
    plain = backend(tiny_models)
    with pytest.raises(
        BackendError, match="the task asks for the chat template, but the tokenizer has none"
    ):
        plain.generate("base", [GenerateRequest("Hi", (), 4, chat=True)])


HEADER = "Answer briefly.\nQ: what is red?\nA: a colour\nQ: what is two?\nA: a number\n"


@pytest.mark.parametrize("batch_size", [1, 8])
def test_generation_from_a_shared_prefix_equals_generation_from_scratch(
    tiny_models, monkeypatch, batch_size
):
    from fteval.backends import hf_generate

    greedy = [GenerateRequest(f"{HEADER}Q: {p[:20]}?\nA:", ("\n",), 10) for p in PROMPTS]
    sampled = [GenerateRequest(r.prompt, (), 8, SamplingParams(1.0, 0.9, 2, 3)) for r in greedy]
    shared = backend(tiny_models, batch_size=batch_size)
    got = {arm: shared.generate(arm, greedy + sampled) for arm in ("base", "lora")}
    monkeypatch.setattr(hf_generate, "MIN_SHARED_PREFIX", 10**6)  # never share
    alone = backend(tiny_models, batch_size=batch_size)
    for arm in ("base", "lora"):
        assert [r.texts for r in got[arm]] == [
            r.texts for r in alone.generate(arm, greedy + sampled)
        ]
    with_prefix = shared.token_counts()["lora"]["generate"]
    without = alone.token_counts()["lora"]["generate"]
    # the header is fed once per settings group instead of once per row
    assert (
        with_prefix["executed_tokens"] + len(HEADER) * (len(PROMPTS) - 2)
        < without["executed_tokens"]
    )
    assert with_prefix["minimum_tokens"] == without["minimum_tokens"]

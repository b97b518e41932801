"""The HF backend's fast scoring paths give the plain path's numbers, and count their work.

Plain path: one row per request, logits at every position (``hf_scoring.score_batch``).
Fast path: LM head only at scored positions, each shared context once (choices continue
on its KV cache), batches by token budget (``hf_fast``).
"""

from __future__ import annotations

import pytest

from fteval.records import ArmSpec, LoglikelihoodRequest, RollingLoglikelihoodRequest

pytestmark = pytest.mark.real_model
torch = pytest.importorskip("torch")

TOLERANCE = 1e-5

SHARED = "Question: which intent is this message about?\nMessage: my card was charged twice\n"
REQUESTS = [
    # one shared context, choices of 1, 2, 7 and 24 tokens (ByT5: one token per byte)
    *(
        LoglikelihoodRequest(SHARED + "Answer:", c)
        for c in (" ", " a", " refund", " a much longer answer")
    ),
    # contexts that share no prefix with anything, one choice each
    LoglikelihoodRequest("Completely different start", " here"),
    LoglikelihoodRequest("x", "y"),
    # a second shared context, shorter than the first
    *(LoglikelihoodRequest("Q: 2+2?\nA:", c) for c in (" 4", " four", " 5")),
    # trailing whitespace moves to the continuation; an empty context
    LoglikelihoodRequest("Intent: ", "billing"),
    LoglikelihoodRequest("", "from nothing at all"),
]


def arms(paths) -> list[ArmSpec]:
    return [
        ArmSpec("base", "base", str(paths["base"]), "base"),
        ArmSpec("lora", "adapter", str(paths["lora"]), "lora"),
        ArmSpec("full", "full", str(paths["full"]), "full"),
    ]


def backend(paths, **kwargs):
    from fteval.backends.hf import HFBackend

    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("progress", False)
    return HFBackend(arms(paths), **kwargs)


def logprobs(served, arm, requests) -> list[float]:
    return [r.logprob for r in served.loglikelihood(arm, requests)]


def assert_close(got, expected) -> None:
    worst = max(abs(a - b) for a, b in zip(got, expected))
    assert worst <= TOLERANCE, worst


@pytest.mark.parametrize("batch_size", [1, 16])
def test_fast_path_equals_plain_path_for_every_arm(tiny_models, batch_size):
    plain = backend(tiny_models, scoring="plain", batch_size=16)
    fast = backend(tiny_models, batch_size=batch_size)
    for arm in ("base", "lora", "full"):
        expected = plain.loglikelihood(arm, REQUESTS)
        got = fast.loglikelihood(arm, REQUESTS)
        assert_close([r.logprob for r in got], [r.logprob for r in expected])
        assert [r.is_greedy for r in got] == [r.is_greedy for r in expected]
        assert [r.n_tokens for r in got] == [r.n_tokens for r in expected]
    # the adapter arm really differs from the base arm (so "with adapters" is tested)
    assert max(abs(a - b) for a, b in zip(logprobs(fast, "lora", REQUESTS),
                                          logprobs(fast, "base", REQUESTS))) > 1e-3  # fmt: skip
    assert fast.token_counts()["lora"]["loglikelihood"]["scoring_path"] == "fast"


@pytest.mark.parametrize("batch_size", [1, 16])
def test_truncated_contexts_score_as_on_the_plain_path(tiny_models, batch_size):
    long = "an old context that will not fit in the window " * 3
    requests = [LoglikelihoodRequest(long, c) for c in (" x", " yes", " a longer choice")]
    requests += [LoglikelihoodRequest("short " + long, " x")]
    plain = backend(tiny_models, scoring="plain", max_length=40)
    fast = backend(tiny_models, max_length=40, batch_size=batch_size)
    expected = plain.loglikelihood("lora", requests)
    got = fast.loglikelihood("lora", requests)
    assert all(r.truncated_tokens > 0 for r in got)
    assert [r.truncated_tokens for r in got] == [r.truncated_tokens for r in expected]
    assert_close([r.logprob for r in got], [r.logprob for r in expected])


def test_scores_do_not_depend_on_batch_size_or_token_budget(tiny_models):
    requests = REQUESTS * 2
    reference = logprobs(backend(tiny_models, batch_size=1), "base", requests)
    for settings in ({"batch_size": 16}, {"batch_size": 64, "batch_tokens": 16},
                     {"batch_size": 3, "batch_tokens": 100000}):  # fmt: skip
        assert_close(logprobs(backend(tiny_models, **settings), "base", requests), reference)


@pytest.mark.parametrize("settings", [{"batch_size": 1}, {"batch_size": 16, "batch_tokens": 16}])
def test_long_rows_run_in_chunks_on_their_own_cache_with_the_same_scores(
    tiny_models, monkeypatch, settings
):
    from fteval.backends import hf

    monkeypatch.setitem(hf.DEFAULT_CHUNK_TOKENS, "cpu", 7)
    texts = [RollingLoglikelihoodRequest("a text rolled over several windows. " * 4, stride=16)]
    plain = backend(tiny_models, scoring="plain", max_length=48)
    chunked = backend(tiny_models, max_length=48, **settings)
    assert_close(logprobs(chunked, "lora", REQUESTS), logprobs(plain, "lora", REQUESTS))
    rolled = [b.loglikelihood_rolling("full", texts)[0].logprob for b in (chunked, plain)]
    assert_close(rolled[:1], rolled[1:])
    counts = chunked.token_counts()["lora"]["loglikelihood"]
    assert counts["forward_passes"] > len(REQUESTS)  # long rows took several passes
    assert counts["executed_tokens"] <= 1.1 * counts["minimum_tokens"]


def test_rolling_loglikelihood_fast_equals_plain(tiny_models):
    texts = [RollingLoglikelihoodRequest("a text rolled over several windows. " * 4, stride=16),
             RollingLoglikelihoodRequest("short")]  # fmt: skip
    plain = backend(tiny_models, scoring="plain", max_length=48).loglikelihood_rolling(
        "full", texts
    )
    fast = backend(tiny_models, max_length=48).loglikelihood_rolling("full", texts)
    assert_close([r.logprob for r in fast], [r.logprob for r in plain])
    assert [r.n_tokens for r in fast] == [r.n_tokens for r in plain]


def test_shared_context_runs_once_and_the_head_projects_only_scored_positions(tiny_models):
    context = "0123456789"  # ten tokens
    requests = [LoglikelihoodRequest(context, c) for c in ("abc", "d")]
    served = backend(tiny_models)
    served.loglikelihood("base", requests)
    counts = served.token_counts()["base"]["loglikelihood"]
    # minimum: the context once (10) + each continuation but its last token (2 + 0)
    assert counts["minimum_tokens"] == 12
    assert counts["executed_tokens"] == 12  # context pass (10) + one continuation row (2)
    assert counts["projected_positions"] == 3  # the context's last position + 2
    plain = backend(tiny_models, scoring="plain")
    plain.loglikelihood("base", requests)
    assert plain.token_counts()["base"]["loglikelihood"]["executed_tokens"] == 2 * 12


@pytest.mark.parametrize("breakage", ["drift", "error"])
def test_a_model_failing_the_self_check_is_scored_by_the_plain_path(
    tiny_models, monkeypatch, breakage
):
    from fteval.backends import hf_fast

    def skewed(model, positions, **inputs):  # a model whose cached continuation drifts
        out, logits = forward_at(model, positions, **inputs)
        if inputs.get("cache") is not None or inputs.get("past_key_values") is not None:
            logits = logits + torch.linspace(0, 1, logits.shape[-1])
        return out, logits

    def unselectable(cache, rows):  # a cache layout the fast path cannot handle
        raise TypeError(f"cannot select rows of {type(cache).__name__}")

    forward_at = hf_fast.forward_at
    if breakage == "drift":
        monkeypatch.setattr(hf_fast, "forward_at", skewed)
    else:
        monkeypatch.setattr(hf_fast, "select_cache_rows", unselectable)
    served = backend(tiny_models)
    got = logprobs(served, "base", REQUESTS)
    path = served.token_counts()["base"]["loglikelihood"]["scoring_path"]
    assert path.startswith("plain (the fast path " + ("differed" if breakage == "drift" else
                                                      "failed on a probe: TypeError"))  # fmt: skip
    assert_close(got, logprobs(backend(tiny_models, scoring="plain"), "base", REQUESTS))


# ---- the token boundary and the BOS policy ----


@pytest.fixture(scope="module")
def merging_model(tmp_path_factory):
    """A tiny GPT-2 whose BPE tokenizer merges "a" + "b" into one token, with a BOS."""
    from tokenizers import Tokenizer, models
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<s>": 0, "</s>": 1, "<pad>": 2, "a": 3, "b": 4, "c": 5, " ": 6, "ab": 7}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[("a", "b")]))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    folder = tmp_path_factory.mktemp("merging")
    torch.manual_seed(1)
    config = GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=1)  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def direct(folder, ids: list[int], start: int) -> float:
    """log P(ids[start:] | ids[:start]) straight from the model's logits."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids[:-1]])).logits[0].log_softmax(-1)
    return sum(logits[i - 1, ids[i]].item() for i in range(start, len(ids)))


def merging_backend(folder, **kwargs):
    from fteval.backends.hf import HFBackend

    return HFBackend([ArmSpec("base", "base", str(folder), "base")], device="cpu",
                     progress=False, **kwargs)  # fmt: skip


def test_context_merged_whole_into_the_continuation_falls_back_to_the_prefix_token(
    merging_model,
):
    from fteval.backends.hf_scoring import encode_pair

    encode = {"a": [3], "b": [4], "c": [5], "ab": [7], "cab": [5, 7], "ca": [5, 3]}.__getitem__
    assert encode_pair(encode, "a", "b", 0).context == (0,)  # nothing of "a" survives
    assert encode_pair(encode, "a", "b", 0).continuation == (7,)
    assert encode_pair(encode, "ca", "b", 0) == encode_pair(encode, "c", "ab", 0)
    served = merging_backend(merging_model, add_bos_token="false")
    result = served.loglikelihood("base", [LoglikelihoodRequest("a", "b")])[0]
    assert result.n_tokens == 1
    assert result.logprob == pytest.approx(direct(merging_model, [0, 7], 1), abs=TOLERANCE)


def test_bos_policy_true_puts_bos_before_every_input_once(merging_model):
    from fteval.backends.hf_scoring import encode_pair

    encode = {"c": [5], "cab": [5, 7], "ab": [7]}.__getitem__
    assert encode_pair(encode, "c", "ab", 1, bos_token=0).context == (0, 5)
    assert encode_pair(encode, "", "ab", 1, bos_token=0).context == (0,)
    with_bos = merging_backend(merging_model, add_bos_token="true")
    without = merging_backend(merging_model, add_bos_token="false")
    request = [LoglikelihoodRequest("c", "ab")]
    assert with_bos.loglikelihood("base", request)[0].logprob == pytest.approx(
        direct(merging_model, [0, 5, 7], 2), abs=TOLERANCE
    )
    assert without.loglikelihood("base", request)[0].logprob == pytest.approx(
        direct(merging_model, [5, 7], 1), abs=TOLERANCE
    )
    facts = with_bos.tokenizer_facts("base")
    assert facts["add_bos_token"] is True and "add_bos_token=true" in facts["bos_policy"]
    assert with_bos.identity("base").facts["add_bos_token"] == "true"


def test_bos_policy_auto_gives_bos_to_gemma_only_and_true_needs_a_bos(tiny_models, tmp_path):
    import json

    served = backend(tiny_models)
    assert served._bos_policy(str(tiny_models["base"]))[0] is False  # gpt2
    gemma = tmp_path / "gemma"
    gemma.mkdir()
    (gemma / "config.json").write_text(json.dumps({"model_type": "gemma2"}))
    assert served._bos_policy(str(gemma)) == (
        True, "auto: gemma2 models get BOS, as in lm-evaluation-harness"
    )  # fmt: skip
    from fteval.errors import BackendError

    with pytest.raises(BackendError, match="needs a BOS token; the tokenizer has none"):
        backend(tiny_models, add_bos_token="true").loglikelihood("base", REQUESTS[:1])


def test_merge_restore_reads_exact_base_weights_back_from_the_checkpoint(tiny_models):
    from fteval.backends import hf_restore

    served = backend(tiny_models, adapter_serving="merge_restore")
    before = logprobs(served, "base", REQUESTS)
    logprobs(served, "lora", REQUESTS)  # merged: the targeted base weights are saved
    assert served._saved_base and hf_restore.kept_in_memory(served._saved_base) == 0
    assert logprobs(served, "base", REQUESTS) == before  # restored bit for bit

"""The OpenAI-compatible HTTP backend against a stub server on loopback that misbehaves."""

from __future__ import annotations

import logging
import math

import pytest

from fteval.backends.http import HttpError, RetryPolicy, check_base_url, map_bounded
from fteval.backends.openai import OpenAIBackend, parse_endpoint, read_api_key
from fteval.errors import AdapterError, BackendError, ConfigError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    LoglikelihoodRequest,
    RollingLoglikelihoodRequest,
    SamplingParams,
)
from tests.backends.openai_stub import (
    BigramModel,
    Fault,
    StubServer,
    expected_loglikelihood,
    to_ids,
)

PAIRS = [
    ("Message: I cannot sign in\nIntent:", " login"),
    ("Message: I cannot sign in\nIntent: ", "billing"),  # trailing space moves over
    ("Q: 2+2=", "4"),
    ("Q: 2+2=", "four and more"),
]


def arms(**paths: str) -> list[ArmSpec]:
    kinds = {"base": "base", "full": "full"}
    return [ArmSpec(n, kinds.get(n, "adapter"), p, n) for n, p in paths.items()]


def make(server: StubServer, *, paths=None, **options) -> OpenAIBackend:
    options = {"api_key_env": None, "backoff_s": 0.001, "timeout_s": 5.0, **options}
    backend = OpenAIBackend(
        arms(**(paths or {"base": "openai:base"})),
        base_url=server.url,
        progress=False,
        **options,
    )
    backend.prepare()
    return backend


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    from transformers import ByT5Tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    ByT5Tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("add_bos", [False, True])
def test_text_mode_sums_the_continuation_tokens_after_the_servers_context_tokens(add_bos):
    with StubServer(["base"], add_bos=add_bos) as server:
        backend = make(server)
        results = backend.loglikelihood("base", [LoglikelihoodRequest(*p) for p in PAIRS])
        model = server.state.models["base"]
    for (context, continuation), result in zip(PAIRS, results):
        logprob, greedy = expected_loglikelihood(model, context, continuation)
        assert result.logprob == pytest.approx(logprob, abs=1e-9)
        assert result.is_greedy == greedy
        assert result.n_tokens == len(continuation) + len(context) - len(context.rstrip())


def test_token_mode_sends_token_ids_and_cuts_long_contexts_from_the_left(byte_tokenizer):
    long_context = "x" * 60 + " the end:"
    pairs = [*PAIRS, (long_context, " yes")]
    with StubServer(["base"], max_model_len=40) as server:
        backend = make(server, tokenizer=byte_tokenizer)
        probed = len(server.completions())
        results = backend.loglikelihood("base", [LoglikelihoodRequest(*p) for p in pairs])
        model = server.state.models["base"]
        prompts = [r["prompt"] for r in server.completions()[probed:]]
    assert all(isinstance(p, list) for p in prompts)
    for (context, continuation), result in zip(pairs, results):
        # a bigram model: cutting old context does not change the continuation's terms
        logprob, _ = expected_loglikelihood(model, context, continuation)
        assert result.logprob == pytest.approx(logprob, abs=1e-9)
    sent = len(to_ids(long_context + " yes"))
    assert results[-1].truncated_tokens == sent - 39  # max_length - 1 tokens are sent
    assert results[-1].truncation_side == "left"
    assert max(len(p) for p in prompts) == 39


def test_rolling_loglikelihood_in_windows_scores_every_token_once(byte_tokenizer):
    text = "abcdefghij" * 9
    with StubServer(["base"], max_model_len=32) as server:
        backend = make(server, tokenizer=byte_tokenizer)
        probed = len(server.completions())
        [windowed] = backend.loglikelihood_rolling("base", [RollingLoglikelihoodRequest(text)])
        model = server.state.models["base"]
        windows = len(server.completions()) - probed
    ids = [1, *to_ids(text)]  # EOS as the prefix token
    reference = sum(model.next_logprobs(ids[:i])[ids[i]] for i in range(1, len(ids)))
    assert windowed.n_tokens == len(text)
    assert windowed.logprob == pytest.approx(reference, abs=1e-9)
    assert windows == math.ceil(len(text) / 30)


def test_generation_seeds_each_sample_and_applies_every_stop_string_locally():
    sampled = SamplingParams(temperature=1.0, n=3, seed=7)
    stops = ("\n", "a", "e", "i", "o")  # five: one more than the API takes
    requests = [GenerateRequest("Hello", stops, 12, sampled), GenerateRequest("Hi", (), 5)]
    with StubServer(["base"]) as server:
        backend = make(server)
        probed = len(server.completions())
        first = backend.generate("base", requests)
        again = backend.generate("base", requests)
        sent = server.completions()[probed:]
    assert first == again
    seeds = [r["seed"] for r in sent[:3]]
    assert len(set(seeds)) == 3
    assert all(len(r.get("stop", [])) <= 4 for r in sent)
    assert len(sent) == 8  # 3 samples + 1 greedy, twice
    for text in first[0].texts:
        assert not any(s in text for s in stops)
    assert first[1].finish_reasons[0] in ("length", "eos", "stop")
    assert first[1].n_tokens[0] <= 5


def test_chat_requests_go_to_chat_completions():
    with StubServer(["base"]) as server:
        backend = make(server)
        [result] = backend.generate("base", [GenerateRequest("Hi", (), 4, chat=True)])
        paths = [r["path"] for r in server.state.requests]
    assert "/v1/chat/completions" in paths
    assert result.finish_reasons[0] in ("length", "eos")


def test_429_500_and_a_truncated_reply_are_retried_to_the_same_answer():
    request = [LoglikelihoodRequest(*PAIRS[0])]
    with StubServer(["base"]) as server:
        backend = make(server)
        clean = backend.loglikelihood("base", request)
        server.state.faults.extend(
            [Fault("status", 429, retry_after="0"), Fault("status", 500), Fault("truncate")]
        )
        retried = backend.loglikelihood("base", request)
    assert retried == clean
    assert backend.counters()["http_retries"] == 3


def test_a_server_that_keeps_failing_is_named_with_its_reply():
    with StubServer(["base"]) as server:
        backend = make(server, max_retries=2)
        server.state.faults.extend(Fault("status", 503) for _ in range(5))
        with pytest.raises(HttpError, match=r"after 3 attempts: HTTP 503: .*stub fault 503"):
            backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])


def test_a_slow_reply_times_out_and_is_retried():
    with StubServer(["base"]) as server:
        backend = make(server, timeout_s=0.2, max_retries=1)
        server.state.faults.append(Fault("slow", delay_s=0.5))
        [result] = backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
        assert result.n_tokens == len(" login")
        server.state.faults.extend(Fault("slow", delay_s=0.5) for _ in range(4))
        with pytest.raises(HttpError, match="timeout"):
            backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[2])])


def test_wrong_logprob_lengths_are_an_error_quoting_the_reply():
    with StubServer(["base"]) as server:
        backend = make(server)
        server.state.faults.append(Fault("short_logprobs"))
        with pytest.raises(BackendError, match=r"wrong lengths\)\. Reply: \{"):
            backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])


def test_a_server_without_echo_logprobs_still_generates_but_names_its_refusal(caplog):
    with StubServer(["base"], echo_supported=False) as server:
        backend = make(server)
        [generated] = backend.generate("base", [GenerateRequest("Hi", (), 3)])
        with pytest.raises(BackendError, match="echo is not supported with logprobs"):
            backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
    assert generated.texts[0] is not None
    assert backend.identity("base").facts["endpoint"]["fingerprint"] is None


def test_an_unknown_served_model_lists_what_the_server_serves():
    with StubServer(["base", "lora"]) as server, pytest.raises(ConfigError, match=r"'lora'\]"):
        make(server, paths={"base": "openai:base", "x": "openai:missing"})


def test_an_arm_answering_exactly_like_the_base_is_an_error():
    same = BigramModel("base")
    paths = {"base": "openai:base", "support": "openai:support-lora"}
    with (
        StubServer({"base": same, "support-lora": same}) as server,
        pytest.raises(AdapterError, match="ignore the model name"),
    ):
        make(server, paths=paths)


def test_requests_in_flight_never_exceed_the_concurrency():
    requests = [LoglikelihoodRequest(f"ctx {i}:", " a") for i in range(4)]
    with StubServer(["base"], delay_s=0.03) as server:
        backend = make(server, concurrency=3)
        backend.loglikelihood("base", requests)
    assert 2 <= server.state.max_in_flight <= 3


def test_arm_paths_name_a_model_and_optionally_its_own_server():
    assert (
        parse_endpoint("full", "openai:ft@http://h:9/v1", "http://a/v1").base_url == "http://h:9/v1"
    )
    endpoint = parse_endpoint("base", "openai:org/model", "http://a/v1/")
    assert (endpoint.base_url, endpoint.model) == ("http://a/v1", "org/model")
    with pytest.raises(ConfigError, match="--base-url"):
        parse_endpoint("base", "openai:m", None)
    with pytest.raises(ConfigError, match="credentials"):
        check_base_url("http://user:sk-secret@host/v1")
    with pytest.raises(ConfigError, match="query string") as error:
        check_base_url("https://host/v1?api-version=2024&api_key=sk-secret")
    assert "sk-secret" not in str(error.value)
    assert check_base_url("https://host/v1?api-version=2024") == "https://host/v1?api-version=2024"


def test_an_api_key_variable_name_that_looks_like_a_key_is_refused_without_echoing_it(
    monkeypatch,
):
    with pytest.raises(ConfigError) as error:
        read_api_key("sk-abc-123")
    assert "sk-abc-123" not in str(error.value)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR is not set"):
        read_api_key("NO_SUCH_KEY_VAR")


def test_a_rejected_key_echoed_back_by_the_server_is_redacted(monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-wrong-key-123")
    with StubServer(["base"], api_key="sk-right") as server, pytest.raises(HttpError) as error:
        make(server, api_key_env="STUB_KEY")
    assert "HTTP 401" in str(error.value)
    assert "sk-wrong-key-123" not in str(error.value) + error.value.reply


def test_map_bounded_keeps_order_and_raises_the_first_error():
    assert map_bounded(lambda x: x * 2, range(20), concurrency=4) == [2 * x for x in range(20)]

    def boom(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        map_bounded(boom, range(10), concurrency=3)


def test_backoff_honours_retry_after_and_grows_otherwise():
    import random

    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0)
    rng = random.Random(0)
    assert policy.delay(1, 2.5, rng) == 2.5
    assert policy.delay(1, 99.0, rng) == 10.0
    assert 0.5 <= policy.delay(1, None, rng) <= 1.0
    assert 4.0 <= policy.delay(4, None, rng) <= 8.0


def test_retries_are_logged_without_the_key(monkeypatch, caplog):
    monkeypatch.setenv("STUB_KEY", "sk-live-777")
    with StubServer(["base"], api_key="sk-live-777") as server:
        backend = make(server, api_key_env="STUB_KEY")
        server.state.faults.append(Fault("status", 500))
        with caplog.at_level(logging.DEBUG):
            backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
    assert "retry 1" in caplog.text
    assert "sk-live-777" not in caplog.text


class _TorchModel:
    """A real model behind the stub: one forward pass per prompt."""

    def __init__(self, model) -> None:
        self.model = model

    def _logprobs(self, ids):
        import torch

        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([list(ids)])).logits[0]
        return logits.float().log_softmax(-1)

    def next_logprobs(self, ids):
        return self._logprobs(ids)[-1].tolist()

    def prompt_logprobs(self, ids):
        rows = self._logprobs(ids)
        out = [None]
        for i in range(1, len(ids)):
            row = rows[i - 1]
            best = int(row.argmax())
            out.append((float(row[ids[i]]), best, float(row[best])))
        return out


@pytest.mark.real_model
def test_token_mode_equals_the_hf_backend_per_item_on_a_real_model(tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from fteval.backends import make_backend

    base = AutoModelForCausalLM.from_pretrained(tiny_models["base"]).eval()
    lora = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_models["base"]), tiny_models["lora"]
    ).eval()
    requests = [LoglikelihoodRequest(*p) for p in [*PAIRS, ("", "hello"), ("über ", "naïve")]]
    # within the window both feed the same context (past it, the server gets 2 tokens less)
    rolling = [RollingLoglikelihoodRequest("The quick brown fox " * 5, stride=40)]
    models = {"base": _TorchModel(base), "lora": _TorchModel(lora)}
    with StubServer(models, max_model_len=128) as server:
        ours = make(
            server, paths={"base": "openai:base", "lora": "openai:lora"},
            tokenizer=str(tiny_models["base"]),
        )  # fmt: skip
        specs = [
            ArmSpec("base", "base", str(tiny_models["base"]), "base"),
            ArmSpec("lora", "adapter", str(tiny_models["lora"]), "lora"),
        ]
        hf = make_backend("hf", specs, device="cpu", dtype="float32", progress=False)
        hf.prepare()
        for arm in ("base", "lora"):
            for a, b in zip(ours.loglikelihood(arm, requests), hf.loglikelihood(arm, requests)):
                assert a.logprob == pytest.approx(b.logprob, abs=1e-5)
                assert (a.is_greedy, a.n_tokens) == (b.is_greedy, b.n_tokens)
            [a], [b] = (
                ours.loglikelihood_rolling(arm, rolling),
                hf.loglikelihood_rolling(arm, rolling),
            )
            assert a.n_tokens == b.n_tokens
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_endpoint_arms_are_cached_only_with_a_fingerprint_and_keyed_by_all_of_it():
    from fteval.backends.cache import arm_cache_key, uncacheable_reason

    endpoint = {"base_url": "http://h/v1", "model": "m", "server_model": {"root": "/a"}}
    unprinted = {"backend": "openai", "path": "openai:m", "endpoint": {**endpoint}}
    assert "fingerprint" in uncacheable_reason(
        {**unprinted, "endpoint": {**endpoint, "fingerprint": None}}
    )
    printed = {**unprinted, "endpoint": {**endpoint, "fingerprint": "ab" * 32}}
    key = arm_cache_key(printed)
    assert key is not None
    for change in ({"fingerprint": "cd" * 32}, {"server_model": {"root": "/b"}}, {"model": "n"},
                   {"base_url": "http://other/v1"}):  # fmt: skip
        assert arm_cache_key({**printed, "endpoint": {**printed["endpoint"], **change}}) != key
    assert arm_cache_key({**printed, "path": "openai:elsewhere"}) == key

"""The OpenAI-compatible HTTP backend against a stub server on loopback that misbehaves."""

from __future__ import annotations

import logging
import math
import time

import pytest

from fteval.backends.base import GENERATE, LOGLIKELIHOOD, ROLLING
from fteval.backends.http import HttpError, JsonClient, RetryPolicy, check_base_url, map_bounded
from fteval.backends.openai import OpenAIBackend, parse_endpoint, read_api_key
from fteval.backends.openai_probe import PROBE_NEW_TOKENS
from fteval.backends.openai_protocol import parse_request_options
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
    TorchModel,
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


def test_text_mode_reads_an_echo_that_lists_no_generated_token():
    """llama-cpp-python lists the prompt's tokens only, while counting a generated one."""
    with StubServer(["base"], echo_prompt_only=True) as server:
        backend = make(server)
        backend.check_servers([LOGLIKELIHOOD])
        results = backend.loglikelihood("base", [LoglikelihoodRequest(*p) for p in PAIRS])
        model = server.state.models["base"]
    for (context, continuation), result in zip(PAIRS, results):
        logprob, _ = expected_loglikelihood(model, context, continuation)
        assert result.logprob == pytest.approx(logprob, abs=1e-9)
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


# ---- the probe: echoed log-probabilities ----


@pytest.mark.parametrize("tokenizer", [False, True])
def test_the_probe_refuses_shifted_echo_logprobs_for_loglikelihood_but_lets_generation_run(
    byte_tokenizer, tokenizer
):
    options = {"tokenizer": byte_tokenizer} if tokenizer else {}
    with StubServer(["base", "lora"], shift_echo=True) as server:
        backend = make(server, paths={"base": "openai:base", "lora": "openai:lora"}, **options)
        for kinds in ([LOGLIKELIHOOD], [GENERATE, ROLLING]):
            with pytest.raises(BackendError, match="shifted by one token") as refused:
                backend.check_servers(kinds)
        backend.check_servers([GENERATE])
        [generated] = backend.generate("base", [GenerateRequest("Hi", (), 3)])
        with pytest.raises(BackendError, match="shifted by one token"):
            backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
    message = str(refused.value)
    assert "'base'" in message and "'lora'" in message
    assert "when generated and" in message and "Generation tasks can still run" in message
    assert generated.texts[0] is not None
    check = backend.identity("base").facts["endpoint"]["echo_check"]
    assert check["status"] == "failed" and check["compared_tokens"] >= 1


@pytest.mark.parametrize("tokenizer", [False, True])
def test_the_probe_accepts_a_correct_server_after_comparing_every_generated_token(
    byte_tokenizer, tokenizer
):
    options = {"tokenizer": byte_tokenizer} if tokenizer else {}
    with StubServer(["base"]) as server:
        backend = make(server, **options)
        backend.check_servers([LOGLIKELIHOOD, ROLLING, GENERATE])
        sent = server.completions()
    facts = backend.identity("base").facts["endpoint"]
    assert facts["echo_check"]["status"] == "ok"
    assert facts["echo_check"]["compared_tokens"] == PROBE_NEW_TOKENS
    assert facts["echo_logprobs"] is True and facts["fingerprint"]
    greedy, echo = [r for r in sent if not r.get("echo")][-1], sent[-1]
    assert greedy["temperature"] == 0 and greedy["logprobs"] == 5  # the API's most
    assert echo["echo"] is True
    if tokenizer:  # the echo is the probe's token ids followed by the generated ones
        assert echo["prompt"][: len(greedy["prompt"])] == greedy["prompt"]
        assert len(echo["prompt"]) == len(greedy["prompt"]) + PROBE_NEW_TOKENS
    else:
        assert echo["prompt"].startswith(greedy["prompt"])


class PartialCharacters(BigramModel):
    """Greedy decoding yields byte 0xC3 (the first half of a UTF-8 character, shown as
    U+FFFD) after every token; ASCII letters come next."""

    def row(self, previous: int) -> list[float]:
        logits = [v + 10.0 * (t == 0xC3 + 3) for t, v in enumerate(super().row(previous))]
        norm = math.log(sum(math.exp(x) for x in logits))
        return [x - norm for x in logits]


@pytest.mark.parametrize("tokenizer", [False, True])
@pytest.mark.parametrize("shift", [False, True])
def test_the_probe_compares_a_whole_alternative_when_greedy_tokens_are_parts_of_characters(
    byte_tokenizer, tokenizer, shift
):
    options = {"tokenizer": byte_tokenizer} if tokenizer else {}
    with StubServer({"base": PartialCharacters("base")}, shift_echo=shift) as server:
        backend = make(server, **options)
        echo = server.completions()[-1]
        greedy = next(  # the first probe in the echo's form (text or token ids)
            r for r in server.completions()
            if not r.get("echo") and type(r["prompt"]) is type(echo["prompt"])
        )  # fmt: skip
        if shift:
            with pytest.raises(BackendError, match="disagree with the generated ones"):
                backend.check_servers([LOGLIKELIHOOD])
        else:
            backend.check_servers([LOGLIKELIHOOD])
    check = backend.identity("base").facts["endpoint"]["echo_check"]
    # whole alternatives, the server asked again after each: more than one position
    assert check["compared_tokens"] >= 2
    appended = echo["prompt"][len(greedy["prompt"]) :]
    assert len(appended) == check["compared_tokens"]
    assert (0xC3 + 3 not in appended) if tokenizer else ("\ufffd" not in appended)


def test_a_server_that_ignores_echo_is_refused_for_loglikelihood_at_the_probe():
    with StubServer(["base"], logprobs_ignored=True) as server:
        backend = make(server)
        with pytest.raises(BackendError, match="returns no echoed log-probabilities"):
            backend.check_servers([LOGLIKELIHOOD])
        backend.check_servers([GENERATE])
    facts = backend.identity("base").facts["endpoint"]
    assert facts["echo_check"]["status"] == "unsupported"
    assert facts["echo_logprobs"] is False and facts["fingerprint"] is None


def test_an_echo_listing_only_the_generated_tokens_is_refused_as_not_one_per_token():
    with StubServer(["base"], echo_generated_only=True) as server:
        backend = make(server)
        with pytest.raises(BackendError, match="not one per token"):
            backend.check_servers([LOGLIKELIHOOD])


@pytest.mark.parametrize("status", [400, 500])
def test_a_server_refusing_echo_even_with_a_5xx_is_refused_for_loglikelihood_only(status):
    with StubServer(["base"], echo_supported=False, echo_refusal_status=status) as server:
        backend = make(server)
        with pytest.raises(BackendError, match="echo is not supported with logprobs"):
            backend.check_servers([LOGLIKELIHOOD])
        backend.check_servers([GENERATE])
        [generated] = backend.generate("base", [GenerateRequest("Hi", (), 3)])
        echoes = [r for r in server.completions() if r.get("echo")]
    assert generated.texts[0] is not None
    assert len(echoes) == (2 if status == 500 else 1)  # a 5xx is retried once, no more
    assert backend.identity("base").facts["endpoint"]["echo_check"]["status"] == "unsupported"


def test_a_chat_only_server_runs_chat_tasks_and_is_refused_for_loglikelihood():
    with StubServer(["base"], completions_route=False) as server:
        backend = make(server)
        backend.check_servers([GENERATE])
        [chat] = backend.generate("base", [GenerateRequest("Hi", (), 4, chat=True)])
        with pytest.raises(BackendError, match="does not serve /v1/completions"):
            backend.check_servers([LOGLIKELIHOOD])
    assert chat.texts[0] is not None


def test_check_servers_probes_once_and_prepare_after_it_sends_nothing():
    with StubServer(["base"]) as server:
        backend = make(server)  # prepare: the probe
        probed = len(server.state.requests)
        backend.check_servers([LOGLIKELIHOOD])
        backend.prepare()
        assert len(server.state.requests) == probed


# ---- the probe: tokenization parity ----


def test_a_server_that_appends_eos_to_text_prompts_is_refused_before_any_scoring(byte_tokenizer):
    with (
        StubServer(["base"], append_eos=True, token_id_status=400) as server,
        pytest.raises(BackendError, match=r"puts \['</s>'\] after every text prompt") as error,
    ):
        make(server, tokenizer=byte_tokenizer)
    assert "generations continue after it" in str(error.value)
    assert all(not r.get("max_tokens", 0) > PROBE_NEW_TOKENS for r in server.completions())


def test_a_server_that_adds_tokens_to_token_id_prompts_is_refused(byte_tokenizer):
    with (
        StubServer(["base"], append_eos=True, append_eos_to_ids=True) as server,
        pytest.raises(BackendError, match=r"counts \d+ prompt tokens for the \d+ token ids sent"),
    ):
        make(server, tokenizer=byte_tokenizer)


@pytest.mark.parametrize("status", [400, 500])
def test_a_server_refusing_token_ids_is_sent_text_and_scores_as_without_a_tokenizer(
    byte_tokenizer, status
):
    with StubServer(["base"], token_id_status=status, add_bos=True) as server:
        backend = make(server, tokenizer=byte_tokenizer)
        probed = len(server.completions())
        results = backend.loglikelihood("base", [LoglikelihoodRequest(*p) for p in PAIRS])
        [generated] = backend.generate("base", [GenerateRequest("Hi", (), 3)])
        model = server.state.models["base"]
        sent = server.completions()[probed:]
    assert all(isinstance(r["prompt"], str) for r in sent)
    for (context, continuation), result in zip(PAIRS, results):
        assert result.logprob == pytest.approx(
            expected_loglikelihood(model, context, continuation)[0]
        )
    assert generated.texts[0] is not None
    facts = backend.identity("base").facts
    assert facts["endpoint"]["token_ids"] is False and facts["scoring_tokens"] == "server"
    # the server puts the EOS before the text, which its echo shows (the tokenizer's own
    # policy would put it after): noted, not refused
    assert facts["tokenization"]["verdict"] == "adds_bos"
    assert facts["tokenization"]["server_adds"] == ["</s>"]


def test_without_a_tokenizer_the_run_facts_say_the_servers_tokenization_applies():
    with StubServer(["base"]) as server:
        backend = make(server)
    tokenization = backend.identity("base").facts["tokenization"]
    assert tokenization["applies"] == "server" and tokenization["checked"] is False
    assert "server's tokenization applies" in tokenization["detail"]


def test_with_a_matching_tokenizer_the_counts_agree_and_ids_are_sent(byte_tokenizer):
    with StubServer(["base"]) as server:
        backend = make(server, tokenizer=byte_tokenizer)
    facts = backend.identity("base").facts
    assert facts["tokenization"]["verdict"] == "same"
    assert (
        facts["tokenization"]["probe_tokens_server"] == facts["tokenization"]["probe_tokens_local"]
    )
    assert facts["endpoint"]["token_ids"] is True and facts["scoring_tokens"] == "local tokenizer"


# ---- request options ----


def test_request_options_go_into_every_request_and_the_arm_identity():
    options = {"repeat_penalty": 1.0, "top_k": 1, "mirostat": "off"}
    with StubServer(["base"]) as server:
        backend = make(server, request_options=options)
        backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
        backend.generate(
            "base", [GenerateRequest("Hi", (), 3), GenerateRequest("Yo", (), 2, chat=True)]
        )
        sent = [r for r in server.state.requests]
    assert {r["path"] for r in sent} == {"/v1/completions", "/v1/chat/completions"}
    assert all({k: r.get(k) for k in options} == options for r in sent)
    assert backend.identity("base").facts["endpoint"]["request_options"] == options


def test_request_options_key_the_response_cache():
    from fteval.backends.cache import arm_cache_key

    keys = []
    for options in ({}, {"repeat_penalty": 1.0}, {"repeat_penalty": 1.1}):
        with StubServer(["base"]) as server:
            backend = make(server, request_options=options)
            identity = backend.identity("base").to_json()
            identity["endpoint"]["base_url"] = "http://same/v1"  # only the options differ
            keys.append(arm_cache_key(identity))
    assert None not in keys and len(set(keys)) == 3


def test_request_options_a_server_refuses_fail_at_the_probe_naming_them():
    fields = frozenset({"model", "prompt", "max_tokens", "temperature", "logprobs", "echo"})
    with (
        StubServer(["base"], known_fields=fields) as server,
        pytest.raises(ConfigError, match=r"request options \{\"repeat_penalty\":1\.0\}.*HTTP 422"),
    ):
        make(server, request_options={"repeat_penalty": 1.0})
    # asked with logprobs, then without (a server may refuse those): neither is retried
    payloads = [{k: v for k, v in r.items() if k != "logprobs"} for r in server.state.requests]
    assert len(payloads) == 2 and payloads[0] == payloads[1]


def test_request_option_flags_are_read_as_json_and_checked():
    parsed = parse_request_options(
        ["repeat_penalty=1.0", "top_k=40", "ignore_eos=false", "mirostat=off",
         'grammar="root ::= x"', "logit_bias={\"50256\": -100}", "min_p=null"]
    )  # fmt: skip
    assert parsed == {
        "repeat_penalty": 1.0, "top_k": 40, "ignore_eos": False, "mirostat": "off",
        "grammar": "root ::= x", "logit_bias": {"50256": -100}, "min_p": None,
    }  # fmt: skip
    assert isinstance(parsed["top_k"], int)
    for bad, message in [
        ("repeat_penalty", "KEY=VALUE"),
        ("temperature=0.5", "set by fteval itself"),
        ("echo=true", "set by fteval itself"),
        ("top_k={1", "not a JSON value"),
        ("a b=1", "not a request field name"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_request_options([bad])
    with pytest.raises(ConfigError, match="given twice"):
        parse_request_options(["top_k=1", "top_k=2"])


# ---- connections and errors ----


def test_a_keep_alive_connection_the_server_closed_while_idle_is_reopened_without_a_retry():
    with StubServer(["base"], idle_timeout_s=0.2) as server:
        # one thread, one connection, reused (any counted failure would fail the request)
        backend = make(server, max_retries=0, concurrency=1)
        time.sleep(0.5)  # the server closes the idle connection
        [first] = backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
        time.sleep(0.5)
        [again] = backend.loglikelihood("base", [LoglikelihoodRequest(*PAIRS[0])])
    counters = backend.counters()
    assert first == again
    assert counters["http_retries"] == 0
    assert counters["http_reconnects"] == 2


def test_a_connection_dropped_without_a_reply_on_a_new_connection_counts_as_a_failure():
    with StubServer(["base"]) as server:
        client = JsonClient(server.url, policy=RetryPolicy(max_retries=0))
        client.get("/models")
        # the reused connection fails, then the new one too: one failed attempt
        server.state.faults.extend([Fault("drop", path="/completions")] * 2)
        with pytest.raises(HttpError, match="connection failed"):
            client.post("/completions", {"model": "base", "prompt": "x", "max_tokens": 1})
    assert (client.attempts, client.retries, client.reconnects) == (2, 0, 1)


@pytest.mark.parametrize("status", [400, 404, 422, 501])
def test_a_4xx_or_501_reply_is_not_retried_and_is_quoted(status):
    with StubServer(["base"]) as server:
        backend = make(server, max_retries=5)
        before = backend.counters()["http_attempts"]
        server.state.faults.append(Fault("status", status, message=f"no such thing {status}"))
        with pytest.raises(HttpError, match=rf"HTTP {status}: .*no such thing {status}") as error:
            backend.generate("base", [GenerateRequest("Hi", (), 3)])  # one request
    assert error.value.status == status
    assert backend.counters()["http_attempts"] == before + 1


def test_after_retries_the_error_quotes_the_servers_last_reply_with_the_key_redacted(monkeypatch):
    key = "sk-live-4242"
    monkeypatch.setenv("STUB_KEY", key)
    with StubServer(["base"], api_key=key) as server:
        backend = make(server, api_key_env="STUB_KEY", max_retries=1)
        # a 500 quoting the key, then the connection hangs up (twice: reused, then new)
        server.state.faults.extend(
            [Fault("status", 500, message=f"validation failed for {key}: prompt must be a string"),
             Fault("drop"), Fault("drop")]
        )  # fmt: skip
        with pytest.raises(HttpError) as error:
            backend.generate("base", [GenerateRequest("Hi", (), 3)])  # one request
    message = str(error.value)
    assert "after 2 attempts: connection failed" in message
    assert "the server's last reply was HTTP 500" in message
    assert "prompt must be a string" in message
    assert key not in message + error.value.reply and "***" in message
    assert error.value.status == 500


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
    models = {"base": TorchModel(base), "lora": TorchModel(lora)}
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


@pytest.mark.real_model
@pytest.mark.parametrize("tokenizer", [False, True])
def test_the_probe_tells_a_shifted_echo_of_a_near_uniform_tiny_model(tiny_models, tokenizer):
    """A random tiny GPT-2 gives nearly the same distribution everywhere and repeats
    itself greedily; shifted values differ from the right ones by tenths of a nat only
    where a token differs from the one before it. The probe must still tell them apart."""
    from transformers import AutoModelForCausalLM

    model = TorchModel(AutoModelForCausalLM.from_pretrained(tiny_models["base"]).eval())
    options = {"tokenizer": str(tiny_models["base"])} if tokenizer else {}
    verdicts = {}
    for shift in (False, True):
        with StubServer({"base": model}, max_model_len=128, shift_echo=shift) as server:
            backend = make(server, **options)
        verdicts[shift] = backend.identity("base").facts["endpoint"]["echo_check"]
    assert verdicts[False]["status"] == "ok" and verdicts[False]["compared_tokens"] >= 2
    assert verdicts[True]["status"] == "failed"


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

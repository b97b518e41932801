"""An OpenAI-compatible HTTP backend.

It serves vLLM, llama.cpp, TGI, SGLang or any server that speaks ``/v1/completions``,
``/v1/chat/completions`` and ``/v1/models``.

**Arms.** Each arm names a served model: ``openai:NAME`` (on ``--base-url``) or
``openai:NAME@http(s)://host/v1`` (its own server, e.g. the full fine-tune on a second
server). A vLLM server started with ``--enable-lora --lora-modules support=./adapter``
serves the base and the adapter as two names.

**Requests.**

* Generation: ``/v1/completions``; a task that asks for the chat template goes to
  ``/v1/chat/completions`` (the server applies its template). Each sample is its own
  request with its own seed, derived from (run seed, prompt, sample index) as in the HF
  backend; greedy decoding sends one request. Stop strings are sent (at most 4, the API's
  limit) and applied again locally, all of them.
* Log-likelihood: ``/v1/completions`` with ``echo`` and ``logprobs`` (see
  ``openai_protocol``), on servers whose echo the probe accepts (below).

**The token boundary.** With a local tokenizer (``tokenizer=``, the model's own), requests
are encoded here with the HF backend's rule (``hf_scoring.encode_pair``) and sent as token
ids, so the server scores exactly the tokens the HF backend would: no BOS is added, the
context's trailing space moves to the continuation. Without one, the server's tokenizer
is the only one there is: the context and the whole text are each echoed and the
continuation is what follows the longest common prefix of their token lists (the same
rule, computed with the server's tokens; it costs one extra request per distinct
context). Then the server's own BOS policy applies, an empty context cannot be scored,
and rolling log-likelihood cannot be split into windows.

A server that does not take token-id prompts is sent text even with a tokenizer, and the
rule without one applies (generation prompts are then not cut to the window).

**Truncation** (token ids only): at most ``max_length - 1`` tokens are sent, since the
server must also fit the one generated token; contexts are cut from the left and the
tokens dropped are reported per request, as in the HF backend.

**Checks before any work** (``check_servers``, called by the run loop before it writes
the run directory; ``prepare`` runs them too): each arm's model is looked up in
``/v1/models`` (a server that loads models on demand, as ``transformers serve``, may not
list it yet: then the probe's reply decides), then probed (``openai_probe``: a greedy
generation with log-probabilities, the same as token ids, an echo of both; judged by
``openai_checks``). A server whose echoed log-probabilities disagree with its generated
ones (shifted by one token, as llama-cpp-python's) or that echoes none is refused for
log-likelihood tasks, saying what was seen, while its generation tasks still run; a
server that puts an end-of-text token after every text prompt is refused for everything.

**Request options** (``request_options``, ``--request-option KEY=VALUE``): extra fields
sent in every request body, probes included (``repeat_penalty: 1.0`` makes llama.cpp's
greedy decoding plain); recorded in each arm's identity, so part of the cache key.

**Identity and cache.** Each arm's identity carries the base URL, the served name, its
``/v1/models`` entry (without its volatile fields), the request options, what the checks
found and a fingerprint of the probe text's echoed log-probabilities. The response cache
keys endpoint arms on these (``backends/cache.py`` says why and what it cannot rule out).
An arm whose probe equals the base arm's on every token is an error: the server ignores
the model name, or the adapter is not applied.

**Secrets.** The API key comes from an environment variable (``api_key_env``), is sent
only in the ``Authorization`` header, and is removed from every error message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval._util.progress import progress_bar
from fteval.backends.base import GENERATE, LOGLIKELIHOOD, ROLLING, ArmIdentity, Backend
from fteval.backends.hf_generate import (
    cut_at_stop,
    fit_prompt,
    repeat_greedy,
    results_from_groups,
    row_seed,
)
from fteval.backends.hf_scoring import encode_pair, rolling_windows, split_trailing_space
from fteval.backends.http import HttpError, JsonClient, RetryPolicy, map_bounded
from fteval.backends.openai_checks import EchoCheck
from fteval.backends.openai_probe import ProbeResult, ServerProbe
from fteval.backends.openai_protocol import (
    Echo,
    chat_payload,
    check_request_options,
    completion_payload,
    echo_payload,
    model_entries,
    read_echo,
    read_generation,
    summed,
)
from fteval.errors import AdapterError, BackendError, ConfigError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
    base_arm_name,
)

logger = logging.getLogger(__name__)

PREFIX = "openai:"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PROBE_MIN_CHANGE = 1e-6  # max |Δlogprob| at or below this: the arm answers like the base
VOLATILE_MODEL_FIELDS = frozenset({"created", "permission", "object"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ARM_PATH = re.compile(r"^(?P<model>.+?)@(?P<url>https?://\S+)$")
_SEED_MODULUS = 2**31  # some servers (llama.cpp) take 32-bit seeds


@dataclass(frozen=True)
class Endpoint:
    """Where an arm is served: the server's base URL and the served model's name."""

    base_url: str
    model: str


def is_endpoint_path(path: str) -> bool:
    """Whether an arm path names a served model (``openai:NAME``)."""
    return path.startswith(PREFIX)


def parse_endpoint(arm: str, path: str, default_base_url: str | None) -> Endpoint:
    """``openai:NAME`` or ``openai:NAME@URL`` (a bare NAME is accepted too).

    Raises:
        ConfigError: no model name, or no base URL for it.
    """
    name = path.removeprefix(PREFIX)
    match = _ARM_PATH.match(name)
    url = match.group("url") if match else default_base_url
    model = match.group("model") if match else name
    if not model:
        raise ConfigError(f"arm {arm!r}: {path!r} names no served model (openai:NAME)")
    if not url:
        raise ConfigError(
            f"arm {arm!r} ({path}): no server address; give --base-url "
            "(e.g. http://localhost:8000/v1) or write openai:NAME@http://host:port/v1"
        )
    from fteval.backends.http import check_base_url

    return Endpoint(check_base_url(url), model)


def read_api_key(env_name: str | None) -> str | None:
    """The API key from environment variable ``env_name`` (None: no key is sent).

    Raises:
        ConfigError: ``env_name`` is not a variable name (it is never echoed, in case it
            is the key itself), or a variable other than the default is named but unset.
    """
    if not env_name:
        return None
    if not _ENV_NAME.match(env_name):
        raise ConfigError(
            "api_key_env must name an environment variable (letters, digits, '_'); the "
            "value given is not shown, in case it is the key itself"
        )
    key = os.environ.get(env_name)
    if key is None and env_name != DEFAULT_KEY_ENV:
        raise ConfigError(f"the API key variable {env_name} is not set in the environment")
    return key or None


class OpenAIBackend(Backend):
    """OpenAI-compatible HTTP backend; see the module docstring.

    Args:
        arms: the arms; each path is ``openai:NAME`` or ``openai:NAME@URL``.
        base_url: the server of arms without their own URL (``http://host:8000/v1``).
        api_key_env: the environment variable holding the API key (None: send none).
        tokenizer: the served model's tokenizer (local folder or hub id) for the exact
            token boundary; None scores through the server's tokens (see above).
        concurrency: requests in flight at once (1..256).
        timeout_s: seconds for connecting and for each read.
        max_retries: retries of a failed request (429, 5xx, timeouts, cut replies).
        backoff_s: first retry's wait in seconds, doubled per retry.
        max_length: context window in tokens (default: the server's ``max_model_len``).
        request_options: extra fields sent in every request body (JSON values; none of
            the fields fteval sets itself).
        progress: show progress bars.
    """

    name = "openai"
    supports = frozenset({LOGLIKELIHOOD, ROLLING, GENERATE})

    def __init__(
        self,
        arms: Sequence[ArmSpec],
        *,
        base_url: str | None = None,
        api_key_env: str | None = DEFAULT_KEY_ENV,
        tokenizer: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_length: int | None = None,
        request_options: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(arms)
        if not 1 <= concurrency <= 256:
            raise ConfigError(f"concurrency must be in 1..256, got {concurrency}")
        self.endpoints = {a.name: parse_endpoint(a.name, a.path, base_url) for a in self.arms}
        self.request_options = check_request_options(request_options or {})
        self._api_key = read_api_key(api_key_env)
        policy = RetryPolicy(timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s)
        self._clients = {
            url: JsonClient(url, api_key=self._api_key, policy=policy)
            for url in dict.fromkeys(e.base_url for e in self.endpoints.values())
        }
        self.concurrency = concurrency
        self.tokenizer_source = tokenizer
        self.max_length_override = max_length
        self.progress = progress
        self._tokenizer: Any = None
        self._prefix_token: int | None = None
        self._entries: dict[str, dict[str, Any] | None] = {}
        self._checks: dict[str, ProbeResult] = {}
        self._prepared = False
        self._counts = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._lock = threading.Lock()

    # ---- set-up ----

    def check_inputs(self) -> None:
        """A local tokenizer folder, if given, must exist (no network here)."""
        source = self.tokenizer_source
        if source and (
            source.startswith((".", "/", "~")) and not Path(source).expanduser().is_dir()
        ):
            raise ConfigError(f"tokenizer {source!r}: no such folder")

    def check_servers(self, kinds: Sequence[str]) -> None:
        """Probe every arm's server (``prepare``); refuse log-likelihood ``kinds`` where
        its echoed log-probabilities are missing or wrong.

        Raises:
            BackendError: a server that cannot answer ``kinds`` correctly, saying what
                the probe saw; ConfigError: a model the server does not serve, or request
                options it refuses.
        """
        self.prepare()
        scoring = [kind for kind in dict.fromkeys(kinds) if kind in (LOGLIKELIHOOD, ROLLING)]
        refused = [arm for arm, check in self._checks.items() if check.echo.refused]
        if scoring and refused:
            reasons = "; ".join(
                f"{self._where(arm)}: {self._checks[arm].echo.detail}" for arm in refused
            )
            raise BackendError(
                f"the run has {', '.join(scoring)} tasks, which need correct echoed "
                f"log-probabilities (/v1/completions with echo and logprobs), and the probe "
                f"refuses {', '.join(repr(a) for a in refused)}: {reasons}. Generation tasks "
                "can still run against this server (run them without the log-likelihood tasks)"
            )

    def prepare(self) -> None:
        """Find each arm's model, load the tokenizer, check every arm (once)."""
        if self._prepared:
            return
        self.check_inputs()
        listed = {url: self._list_models(url) for url in self._clients}
        if self.tokenizer_source:
            self._load_tokenizer(self.tokenizer_source)
        for arm, endpoint in self.endpoints.items():
            entries = listed[endpoint.base_url]
            entry = entries.get(endpoint.model) if entries is not None else None
            self._entries[arm] = (
                {k: v for k, v in entry.items() if k not in VOLATILE_MODEL_FIELDS}
                if entry is not None
                else None
            )
            self._checks[arm] = self._check_arm(arm, entries)
        self._check_arms_differ()
        self._prepared = True

    def _where(self, arm: str) -> str:
        endpoint = self.endpoints[arm]
        return f"arm {arm!r} ({endpoint.model} at {endpoint.base_url})"

    def _list_models(self, url: str) -> dict[str, dict[str, Any]] | None:
        try:
            reply = self._clients[url].get("/models")
        except HttpError as error:
            if error.status in (404, 405, 501):
                hint = "" if url.endswith("/v1") else " (does the base URL need /v1?)"
                logger.warning("%s/models is not served%s: %s", url, hint, error)
                return None
            raise
        return model_entries(reply, what=f"GET {url}/models")

    def _load_tokenizer(self, source: str) -> None:
        from fteval.backends.hf_loading import load_tokenizer

        self._tokenizer = load_tokenizer(source, trust_remote_code=False)
        t = self._tokenizer
        self._prefix_token = t.bos_token_id if t.bos_token_id is not None else t.eos_token_id

    def _check_arm(self, arm: str, listed: Mapping[str, Any] | None) -> ProbeResult:
        """The probe of one arm (``openai_probe``)."""
        return ServerProbe(
            where=self._where(arm),
            model=self._model(arm),
            post=lambda path, payload, retries: self._post(arm, path, payload, max_retries=retries),
            listed=listed,
            options=self.request_options,
            tokenizer=self._tokenizer,
            prefix_token=self._prefix_token,
            max_length=self._max_length(arm),
        ).run()

    def _check_arms_differ(self) -> None:
        base = base_arm_name(self.arms)
        reference = self._checks[base].echoed if base is not None else None
        if base is None or reference is None or reference.unsupported is not None:
            return
        for arm in self.arms:
            probe = self._checks[arm.name].echoed
            if arm.name == base or probe.unsupported is not None:
                continue
            if probe.tokens != reference.tokens:
                continue
            change = max(
                (
                    abs(a - b)
                    for a, b in zip(probe.logprobs, reference.logprobs)
                    if a is not None and b is not None
                ),
                default=0.0,
            )
            if change <= PROBE_MIN_CHANGE:
                raise AdapterError(
                    f"arm {arm.name!r} ({self.endpoints[arm.name].model}) answers exactly like "
                    f"the base ({self.endpoints[base].model}) on a probe (max |Δlogprob| = "
                    f"{change:.3g}): the server may ignore the model name (llama.cpp serves "
                    "one model whatever is asked), or the adapter is not applied"
                )

    # ---- identity ----

    def identity(self, arm: str) -> ArmIdentity:
        endpoint = self.endpoints[arm]
        check = self._checks.get(arm)
        probe = check.echoed if check is not None else None
        facts: dict[str, Any] = {
            "endpoint": {
                "base_url": endpoint.base_url,
                "model": endpoint.model,
                "server_model": self._entries.get(arm),
                "fingerprint": probe.fingerprint() if probe else None,
                "probe_tokens": len(probe.tokens) if probe else None,
                "echo_logprobs": None if check is None else not check.echo.refused,
                "echo_check": None if check is None else _echo_facts(check.echo),
                "token_ids": None if check is None else check.token_ids,
                "request_options": dict(self.request_options),
            },
            "scoring_tokens": self._scoring_tokens(check),
            "tokenization": self._tokenization_facts(check),
            "local_tokenizer": self._tokenizer_facts(),
            "max_length_override": self.max_length_override,
        }
        return ArmIdentity(self.name, f"{PREFIX}{endpoint.model}", {}, facts)

    def _scoring_tokens(self, check: ProbeResult | None) -> str:
        if check is not None and check.token_ids:
            return "local tokenizer"
        return "server"

    def _tokenization_facts(self, check: ProbeResult | None) -> dict[str, Any] | None:
        """How prompts are tokenized: the server's way, and what parity showed."""
        if check is None:
            return None
        if check.tokenization is None:
            return {
                "applies": "server",
                "checked": False,
                "detail": "the server's tokenization applies (its BOS/EOS policy is not "
                "checked without --tokenizer)",
            }
        parity = check.tokenization
        return {
            "applies": "local tokenizer (token ids)" if check.token_ids else "server",
            "checked": parity.verdict != "unknown",
            "verdict": parity.verdict,
            "probe_tokens_local": parity.local,
            "probe_tokens_server": parity.server,
            "server_adds": list(parity.added),
            "detail": parity.detail,
        }

    def _tokenizer_facts(self) -> dict[str, Any] | None:
        if not self.tokenizer_source:
            return None
        from fteval.backends.cache import support_file_hashes

        return {
            "source": self.tokenizer_source,
            "files_sha256": support_file_hashes(Path(self.tokenizer_source).expanduser()),
        }

    def counters(self) -> dict[str, int]:
        """Requests sent (retries included), retries, and the servers' token counts."""
        with self._lock:
            counts = dict(self._counts)
        counts["http_attempts"] = sum(c.attempts for c in self._clients.values())
        counts["http_retries"] = sum(c.retries for c in self._clients.values())
        counts["http_reconnects"] = sum(c.reconnects for c in self._clients.values())
        return counts

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    # ---- plumbing ----

    def _model(self, arm: str) -> str:
        return self.endpoints[arm].model

    def _post(
        self, arm: str, path: str, payload: dict[str, Any], *, max_retries: int | None = None
    ) -> Any:
        client = self._clients[self.endpoints[arm].base_url]
        reply = client.post(path, payload, max_retries=max_retries)
        usage = reply.get("usage") if isinstance(reply, Mapping) else None
        with self._lock:
            self._counts["requests"] += 1
            if isinstance(usage, Mapping):
                for key in ("prompt_tokens", "completion_tokens"):
                    if isinstance(usage.get(key), int):
                        self._counts[key] += usage[key]
        return reply

    def _map(self, function: Callable[[Any], Any], jobs: Sequence[Any], label: str) -> list[Any]:
        with progress_bar(total=len(jobs), desc=label, enabled=self.progress) as bar:
            lock = threading.Lock()

            def one(job: Any) -> Any:
                result = function(job)
                with lock:
                    bar.update(1)
                return result

            return map_bounded(one, jobs, concurrency=self.concurrency)

    def _encode(self, text: str) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def _max_length(self, arm: str) -> int | None:
        if self.max_length_override:
            return self.max_length_override
        entry = self._entries.get(arm) or {}
        value = entry.get("max_model_len")
        if isinstance(value, int) and value > 1:
            return value
        limit = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 1 < limit < 1_000_000:
            return limit
        return None

    def _echo(self, arm: str, prompt: str | Sequence[int]) -> dict[str, Any]:
        return echo_payload(self._model(arm), prompt, self.request_options)

    def _ids(self, arm: str) -> bool:
        """Whether the arm's prompts go as token ids (see the module docstring)."""
        check = self._checks.get(arm)
        return self._tokenizer is not None and (check is None or check.token_ids)

    def _require_echo(self, arm: str) -> None:
        check = self._checks.get(arm)
        if check is not None and check.echo.refused:
            raise BackendError(
                f"{self._where(arm)}: log-likelihood needs correct echoed log-probabilities "
                f"(/v1/completions with echo and logprobs), and the probe refused this "
                f"server: {check.echo.detail}"
            )

    # ---- log-likelihood ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        self._require_echo(arm)
        unique = list(dict.fromkeys((r.context, r.continuation) for r in requests))
        if self._ids(arm):
            scored = self._map(
                lambda p: self._score_tokens(arm, *p), unique, f"{arm}: loglikelihood"
            )
        else:
            scored = self._score_text(arm, unique)
        by_pair = dict(zip(unique, scored))
        return [by_pair[(r.context, r.continuation)] for r in requests]

    def _score_tokens(self, arm: str, context: str, continuation: str) -> LoglikelihoodResult:
        pair = encode_pair(self._encode, context, continuation, self._prefix_token)
        sequence = pair.context + pair.continuation
        limit = self._max_length(arm)
        cut = 0
        if limit is not None:
            fed = limit - 1  # room for the one generated token
            if len(pair.continuation) >= fed:
                raise BackendError(
                    f"a continuation of {len(pair.continuation)} tokens does not fit the "
                    f"context window of {limit} tokens (with one context token and one "
                    "generated token)"
                )
            cut = max(0, len(sequence) - fed)
        prompt = sequence[cut:]
        what = f"arm {arm!r}: loglikelihood"
        echo = read_echo(
            self._post(arm, "/completions", self._echo(arm, prompt)),
            len(prompt),
            what=what,
        )
        logprob, greedy = summed(echo, len(prompt) - len(pair.continuation), len(prompt), what=what)
        return LoglikelihoodResult(
            logprob, greedy, len(pair.continuation), cut, "left" if cut else None
        )

    def _score_text(self, arm: str, pairs: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        split = [split_trailing_space(c, x) for c, x in pairs]
        for context, continuation in split:
            if not continuation:
                raise BackendError("a loglikelihood request has an empty continuation")
            if not context:
                raise BackendError(
                    f"arm {arm!r}: the continuation {continuation!r} has an empty context; "
                    "without a local tokenizer there is no BOS token to score it after. Give "
                    "the model's tokenizer (--tokenizer)"
                )
        contexts = list(dict.fromkeys(c for c, _ in split))
        label = f"{arm}: loglikelihood"
        echoed = self._map(
            lambda text: self._echo_text(arm, text), [*contexts, *(c + x for c, x in split)], label
        )
        context_tokens = dict(zip(contexts, echoed[: len(contexts)]))
        results = []
        for (context, _), whole in zip(split, echoed[len(contexts) :]):
            own = context_tokens[context].tokens
            cut = _common_prefix(whole.tokens, own)
            if cut >= len(whole.tokens):
                raise BackendError(
                    f"arm {arm!r}: the continuation after {context[-40:]!r} adds no token in the "
                    "server's tokenization"
                )
            logprob, greedy = summed(
                whole, cut, len(whole.tokens), what=f"arm {arm!r}: loglikelihood"
            )
            results.append(LoglikelihoodResult(logprob, greedy, len(whole.tokens) - cut))
        return results

    def _echo_text(self, arm: str, text: str) -> Echo:
        reply = self._post(arm, "/completions", self._echo(arm, text))
        return read_echo(reply, None, what=f"arm {arm!r}: echo", text=text)

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        self._require_echo(arm)
        label = f"{arm}: rolling loglikelihood"
        if not self._ids(arm):
            echoes = self._map(lambda r: self._echo_text(arm, r.text), requests, label)
            return [_rolling_from_text(echo) for echo in echoes]
        if self._prefix_token is None:
            raise BackendError("rolling loglikelihood needs a BOS or EOS token as prefix")
        jobs, owners = [], []
        for index, request in enumerate(requests):
            for job in self._rolling_jobs(arm, request):
                jobs.append(job)
                owners.append(index)
        scored = self._map(lambda job: self._score_window(arm, *job), jobs, label)
        totals, counts = [0.0] * len(requests), [0] * len(requests)
        for owner, (logprob, n) in zip(owners, scored):
            totals[owner] += logprob
            counts[owner] += n
        return [RollingLoglikelihoodResult(t, c) for t, c in zip(totals, counts)]

    def _rolling_jobs(
        self, arm: str, request: RollingLoglikelihoodRequest
    ) -> list[tuple[tuple[int, ...], int]]:
        """(token ids sent, targets at their end) per window; at most max_length - 1 sent."""
        if self._prefix_token is None:
            raise BackendError("rolling loglikelihood needs a BOS or EOS token as prefix")
        tokens = (self._prefix_token, *self._encode(request.text))
        limit = self._max_length(arm)
        window = (limit - 2) if limit is not None else len(tokens)
        if window < 1:
            raise BackendError(f"a context window of {limit} tokens cannot score in windows")
        step = min(request.stride or window, window)
        return [
            (tuple(tokens[start:end]), end - predict)
            for start, predict, end in rolling_windows(len(tokens) - 1, window, step)
        ]

    def _score_window(self, arm: str, prompt: tuple[int, ...], n_targets: int) -> tuple[float, int]:
        what = f"arm {arm!r}: rolling loglikelihood"
        reply = self._post(arm, "/completions", self._echo(arm, prompt))
        echo = read_echo(reply, len(prompt), what=what)
        logprob, _ = summed(echo, len(prompt) - n_targets, len(prompt), what=what)
        return logprob, n_targets

    # ---- generation ----

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        """Each request's samples, each sample its own request with its own seed."""
        jobs: list[tuple[int, int, Any, int]] = []
        for index, request in enumerate(requests):
            n_samples = request.sampling.n if request.sampling.temperature > 0 else 1
            prompt, cut = self._generation_prompt(arm, request)
            jobs.extend((index, sample, prompt, cut) for sample in range(n_samples))
        done = self._map(
            lambda job: self._generate_one(arm, requests[job[0]], *job[1:]),
            jobs,
            f"{arm}: generate",
        )
        grouped: list[list[tuple[str, int, str]]] = [[] for _ in requests]
        cuts = [0] * len(requests)
        for (index, _, _, cut), sample in zip(jobs, done):
            grouped[index].append(sample)
            cuts[index] = cut
        return results_from_groups([repeat_greedy(g, r) for g, r in zip(grouped, requests)], cuts)

    def _generation_prompt(self, arm: str, request: GenerateRequest) -> tuple[Any, int]:
        """The prompt to send (text, or ids cut from the left to leave room) and tokens cut."""
        if request.chat or not self._ids(arm):
            return request.prompt, 0
        return fit_prompt(
            self._encode(request.prompt),
            prefix_token=self._prefix_token,
            max_length=self._max_length(arm),
            max_new_tokens=request.max_new_tokens,
        )

    def _generate_one(
        self, arm: str, request: GenerateRequest, sample: int, prompt: Any, cut: int
    ) -> tuple[str, int, str]:
        sampling = request.sampling
        options: dict[str, Any] = {
            "max_tokens": request.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": row_seed(sampling.seed, request.prompt, sample) % _SEED_MODULUS,
            "stop": request.stop,
        }
        model, extra = self._model(arm), self.request_options
        if request.chat:
            path, payload = (
                "/chat/completions",
                chat_payload(model, prompt, **options, options=extra),
            )
        else:
            path, payload = (
                "/completions",
                completion_payload(model, prompt, **options, options=extra),
            )
        generated = read_generation(
            self._post(arm, path, payload), chat=request.chat, what=f"arm {arm!r}: generate"
        )
        text, stopped = cut_at_stop(generated.text, request.stop)
        reason = "stop" if stopped else generated.finish_reason
        n_tokens = generated.n_tokens  # tokens generated (the cost), as the HF backend counts
        if n_tokens is None:  # the server reports no usage
            n_tokens = len(self._encode(text)) if self._tokenizer is not None else 0
        return text, n_tokens, reason


def _echo_facts(check: EchoCheck) -> dict[str, Any]:
    """The echo verdict for the manifest; no measured numbers (they are in the detail of a
    refusal only), so a passing check keys the cache the same from run to run."""
    return {"status": check.status, "detail": check.detail, "compared_tokens": check.compared}


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """Tokens ``a`` and ``b`` share at their start: lm-evaluation-harness's boundary rule.

    The continuation is what follows the context's own tokens in the whole text's.
    """
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _rolling_from_text(echo: Echo) -> RollingLoglikelihoodResult:
    """Every echoed token with a log-probability (the first has none without a BOS)."""
    values = [v for v in echo.logprobs if v is not None]
    return RollingLoglikelihoodResult(float(sum(values)), len(values))


__all__ = ["OpenAIBackend", "is_endpoint_path", "parse_endpoint", "read_api_key"]

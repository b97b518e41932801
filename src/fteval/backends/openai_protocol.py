"""The OpenAI-compatible wire format: request payloads and checked reading of replies.

Pure functions, no I/O. Every reply is checked before use; a reply that does not have the
shape asked for raises ``BackendError`` quoting the server's reply, so a user can see what
their server said (never a ``KeyError`` deep in a run).

Log-likelihoods come from ``/v1/completions`` with ``echo: true`` and ``logprobs: 1``:
the server returns the prompt's own tokens with the log-probability of each given what
precedes it (the first token has none), followed by ``max_tokens`` generated tokens (one
is asked for: some servers refuse zero). The number of echoed prompt tokens is the length
of the prompt sent (token ids); for text, those whose text spells the prompt (servers
list the generated tokens after them, or not: llama-cpp-python does not), or else the
echoed tokens less the generated ones (``usage.completion_tokens``), or
``usage.prompt_tokens`` (which also counts a BOS that llama.cpp adds but does not echo).

**Request options** (``--request-option KEY=VALUE``) are extra fields sent in every
request body, e.g. ``repeat_penalty: 1.0`` for llama.cpp, whose default penalises repeats
even at temperature 0. They may not set a field fteval itself controls
(``RESERVED_FIELDS``): a run's prompts, decoding and scoring stay what its tasks say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.errors import BackendError, ConfigError

REPLY_SHOWN = 300  # characters of a reply quoted in an error
GREEDY_TOLERANCE = 1e-9  # a token whose logprob equals the top one's is the argmax
RESERVED_FIELDS = frozenset(
    {
        "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature",
        "top_p", "n", "best_of", "seed", "stop", "echo", "logprobs", "top_logprobs", "stream",
        "stream_options", "suffix",
    }
)  # fmt: skip
_OPTION_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def parse_request_options(values: Sequence[str]) -> dict[str, Any]:
    """``["repeat_penalty=1.0", "top_k=1"]`` -> ``{"repeat_penalty": 1.0, "top_k": 1}``.

    Each VALUE is read as JSON (``1.0``, ``true``, ``null``, ``[1, 2]``, ``{"a": 1}``,
    ``"text"``); a bare word that is not JSON (``mirostat``) is taken as a string.

    Raises:
        ConfigError: not KEY=VALUE, a key given twice, a value that starts like JSON but
            is not, or a key fteval sets itself (see ``check_request_options``).
    """
    options: dict[str, Any] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"--request-option expects KEY=VALUE, got {value!r}")
        if key in options:
            raise ConfigError(f"--request-option {key!r} is given twice")
        try:
            options[key] = json.loads(text)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:/-]*", text):
                raise ConfigError(
                    f"--request-option {key}: {text!r} is not a JSON value (write strings as "
                    "bare words or in double quotes, e.g. KEY='\"text\"')"
                ) from None
            options[key] = text
    return check_request_options(options)


def check_request_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Extra request fields, checked: names that are fields, JSON values, none reserved.

    Raises:
        ConfigError: a key that is not a field name, one fteval sets itself
            (``RESERVED_FIELDS``), or a value that cannot be written as JSON.
    """
    for key, value in options.items():
        if not isinstance(key, str) or not _OPTION_KEY.match(key):
            raise ConfigError(f"request option {key!r} is not a request field name")
        if key in RESERVED_FIELDS:
            raise ConfigError(
                f"request option {key!r} is set by fteval itself (from the task and the run "
                f"seed); request options may not replace {sorted(RESERVED_FIELDS)}"
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ConfigError(f"request option {key!r}: {value!r} cannot be sent as JSON") from None
    return dict(options)


def with_options(payload: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with the request options added (they never replace its fields)."""
    return {**options, **payload} if options else payload


def shown(reply: Any) -> str:
    """A reply as compact JSON, cut to ``REPLY_SHOWN`` characters, for error messages."""
    try:
        text = json.dumps(reply, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(reply)
    return text if len(text) <= REPLY_SHOWN else text[: REPLY_SHOWN - 3] + "..."


def echo_payload(
    model: str, prompt: str | Sequence[int], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A completions request that echoes ``prompt`` with each token's log-probability."""
    payload = {
        "model": model,
        "prompt": prompt if isinstance(prompt, str) else list(prompt),
        "max_tokens": 1,
        "temperature": 0,
        "echo": True,
        "logprobs": 1,
    }
    return with_options(payload, options or {})


def greedy_logprobs_payload(
    model: str,
    prompt: str | Sequence[int],
    max_tokens: int,
    options: Mapping[str, Any],
    *,
    alternatives: int = 5,
) -> dict[str, Any]:
    """A completions request that decodes ``max_tokens`` greedily and returns each
    generated token's log-probability and its ``alternatives`` most likely alternatives
    (no echo; 5 is the most the OpenAI API allows): the probe's plain generation."""
    payload = {
        "model": model,
        "prompt": prompt if isinstance(prompt, str) else list(prompt),
        "max_tokens": max_tokens,
        "temperature": 0,
        "logprobs": alternatives,
    }
    return with_options(payload, options)


@dataclass(frozen=True)
class Echo:
    """The prompt part of an echoed completion.

    Attributes:
        tokens: the prompt's tokens as the server wrote them.
        logprobs: natural-log probability of each token given the ones before it;
            None where the server gives none (the first token).
        top: per token, the server's top-1 alternative as (token, logprob), or None.
    """

    tokens: tuple[str, ...]
    logprobs: tuple[float | None, ...]
    top: tuple[tuple[str, float] | None, ...]

    def is_greedy(self, index: int) -> bool:
        """Whether token ``index`` is the model's top choice at its position."""
        top, own = self.top[index], self.logprobs[index]
        return top is not None and own is not None and own >= top[1] - GREEDY_TOLERANCE


@dataclass(frozen=True)
class TokenLogprobs:
    """A choice's ``logprobs`` lists as the server wrote them: echoed prompt tokens (when
    asked for) then generated ones, each with its log-probability (None where the server
    gives none), its top-1 alternative (token, logprob) or None, and every alternative
    given (``top_logprobs``), most likely first."""

    tokens: tuple[str, ...]
    logprobs: tuple[float | None, ...]
    top: tuple[tuple[str, float] | None, ...]
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()


def read_logprobs(reply: Any, *, what: str) -> TokenLogprobs | None:
    """The first choice's token log-probabilities, checked; None when it has none.

    Raises:
        BackendError: the lists differ in length or hold something that is not a number.
    """
    choice = _first_choice(reply, what)
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, Mapping) or not isinstance(logprobs.get("token_logprobs"), list):
        return None
    values = logprobs["token_logprobs"]
    tokens = logprobs.get("tokens")
    top = logprobs.get("top_logprobs")
    if not isinstance(tokens, list) or len(tokens) != len(values):
        raise BackendError(
            f"{what}: the reply's tokens and token_logprobs differ in length "
            f"({_length(tokens)} and {len(values)}). Reply: {shown(reply)}"
        )
    if isinstance(top, list) and len(top) != len(values):
        raise BackendError(
            f"{what}: the reply's top_logprobs has {len(top)} entries for {len(values)} "
            f"tokens. Reply: {shown(reply)}"
        )
    ranked = tuple(_ranked(t) for t in (top if isinstance(top, list) else [None] * len(values)))
    return TokenLogprobs(
        tuple(str(t) for t in tokens),
        tuple(_number(v, what, reply) for v in values),
        tuple(r[0] if r else None for r in ranked),
        ranked,
    )


def read_echo(reply: Any, n_prompt: int | None, *, what: str, text: str | None = None) -> Echo:
    """The echoed prompt of a completions reply, checked.

    Args:
        reply: the decoded JSON reply.
        n_prompt: tokens in the prompt when it was sent as token ids; None for text
            (then the echoed tokens that spell ``text`` are the prompt's, or else the
            reply's usage says, see the module docstring).
        what: the request in words, for errors.
        text: the prompt, when it was sent as text.

    Raises:
        BackendError: the reply carries no echoed log-probabilities, or lists that do
            not fit the prompt (wrong lengths), naming the reply.
    """
    lists = read_logprobs(reply, what=what)
    if lists is None:
        raise BackendError(
            f"{what}: the server's reply has no echoed log-probabilities "
            f"(choices[0].logprobs.token_logprobs); the server may not support echo with "
            f"logprobs on /v1/completions. Reply: {shown(reply)}"
        )
    if n_prompt is None:
        span = spelled_span(lists.tokens, text) if text else None
        n_prompt = span[1] if span else _echoed_prompt_tokens(reply, len(lists.tokens), what)
    if len(lists.logprobs) < n_prompt:
        raise BackendError(
            f"{what}: the reply echoes {len(lists.logprobs)} token log-probabilities for a "
            f"prompt of {n_prompt} tokens (wrong lengths). Reply: {shown(reply)}"
        )
    return Echo(lists.tokens[:n_prompt], lists.logprobs[:n_prompt], lists.top[:n_prompt])


def spelled_span(tokens: Sequence[str], text: str) -> tuple[int, int] | None:
    """(first, end): ``tokens[first:end]`` spell ``text``, where ``end`` is the first point
    at which the tokens so far end with it (tokens before ``first``, such as a BOS the
    server echoes, are not part of it); None when no prefix of the tokens ends with it
    (a server that shows parts of characters as U+FFFD or as nothing)."""
    joined = ""
    for index, token in enumerate(tokens):
        joined += token
        if len(joined) >= len(text) and joined.endswith(text):
            end = index + 1
            first = next((i for i in range(end) if "".join(tokens[i:end]) == text), 0)
            return first, end
    return None


def usage_count(reply: Any, field: str) -> int | None:
    """``usage.<field>`` (``prompt_tokens``, ``completion_tokens``) of a reply, or None."""
    usage = reply.get("usage") if isinstance(reply, Mapping) else None
    count = usage.get(field) if isinstance(usage, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _echoed_prompt_tokens(reply: Any, n_listed: int, what: str) -> int:
    """Echoed prompt tokens of a text prompt: those listed less the generated ones.

    The server's prompt count may exceed them by one (a BOS it does not echo), no more.
    """
    counted = _prompt_tokens(reply, what)
    generated = usage_count(reply, "completion_tokens")
    if generated is None or not 0 <= generated < n_listed:
        return counted
    echoed = n_listed - generated
    if echoed not in (counted, counted - 1):
        raise BackendError(
            f"{what}: the reply echoes {echoed} prompt token log-probabilities for a prompt "
            f"the server counts as {counted} tokens (wrong lengths). Reply: {shown(reply)}"
        )
    return echoed


def summed(echo: Echo, start: int, stop: int, *, what: str) -> tuple[float, bool]:
    """Summed log-probability of echoed tokens ``start..stop-1`` and whether all are greedy.

    Raises:
        BackendError: a token in the span has no log-probability.
    """
    span = echo.logprobs[start:stop]
    if not span or any(v is None for v in span):
        missing = [start + i for i, v in enumerate(span) if v is None]
        raise BackendError(
            f"{what}: the server gives no log-probability for prompt token(s) {missing} "
            f"({[echo.tokens[i] for i in missing]}); a continuation needs a context token "
            "before it"
        )
    total = float(sum(v for v in span if v is not None))
    return total, all(echo.is_greedy(i) for i in range(start, stop))


def completion_payload(
    model: str,
    prompt: str | Sequence[int],
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    stop: Sequence[str],
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``/v1/completions`` generation request (one sample), request options added."""
    payload: dict[str, Any] = {
        "model": model,
        "prompt": prompt if isinstance(prompt, str) else list(prompt),
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "n": 1,
        "seed": seed,
    }
    if stop:
        payload["stop"] = list(stop[:4])  # the OpenAI API takes at most 4
    return with_options(payload, options or {})


def chat_payload(
    model: str,
    prompt: str,
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    stop: Sequence[str],
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``/v1/chat/completions`` request: the prompt as one user turn (one sample),
    request options added."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "n": 1,
        "seed": seed,
    }
    if stop:
        payload["stop"] = list(stop[:4])
    return with_options(payload, options or {})


@dataclass(frozen=True)
class Generated:
    """One generated sample: text, token count (None when unknown), finish reason."""

    text: str
    n_tokens: int | None
    finish_reason: str


def read_generation(reply: Any, *, chat: bool, what: str) -> Generated:
    """The text, token count and finish reason of a (chat) completion reply.

    Finish reasons map to the HF backend's: ``length`` stays; ``stop`` becomes ``eos``
    when the server says no stop string caused it (vLLM's ``stop_reason: null``), else
    ``stop``.
    """
    choice = _first_choice(reply, what)
    if chat:
        message = choice.get("message")
        text = message.get("content") if isinstance(message, Mapping) else None
        text = "" if text is None else text
    else:
        text = choice.get("text")
    if not isinstance(text, str):
        raise BackendError(f"{what}: the reply has no generated text. Reply: {shown(reply)}")
    reason = choice.get("finish_reason")
    if reason == "stop" and "stop_reason" in choice and choice["stop_reason"] is None:
        reason = "eos"
    usage = reply.get("usage") if isinstance(reply, Mapping) else None
    count = usage.get("completion_tokens") if isinstance(usage, Mapping) else None
    return Generated(
        text,
        count if isinstance(count, int) and count >= 0 else None,
        str(reason) if reason else "stop",
    )


def model_entries(reply: Any, *, what: str) -> dict[str, dict[str, Any]]:
    """``/v1/models`` -> model id -> its entry."""
    data = reply.get("data") if isinstance(reply, Mapping) else None
    if not isinstance(data, list):
        raise BackendError(f"{what}: the reply has no 'data' list of models. Reply: {shown(reply)}")
    entries = {}
    for entry in data:
        if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
            entries[entry["id"]] = dict(entry)
    return entries


def _first_choice(reply: Any, what: str) -> Mapping[str, Any]:
    choices = reply.get("choices") if isinstance(reply, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise BackendError(f"{what}: the reply has no choices. Reply: {shown(reply)}")
    return choices[0]


def _prompt_tokens(reply: Any, what: str) -> int:
    count = usage_count(reply, "prompt_tokens")
    if count is None or count < 1:
        raise BackendError(
            f"{what}: the reply does not say how many tokens the prompt has "
            f"(usage.prompt_tokens). Reply: {shown(reply)}"
        )
    return count


def _number(value: Any, what: str, reply: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BackendError(f"{what}: a token log-probability is {value!r}. Reply: {shown(reply)}")
    return float(value)


def _ranked(entry: Any) -> tuple[tuple[str, float], ...]:
    """A ``top_logprobs`` entry as (token, logprob) pairs, most likely first."""
    if not isinstance(entry, Mapping):
        return ()
    pairs = [
        (str(token), float(value))
        for token, value in entry.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    return tuple(sorted(pairs, key=lambda pair: -pair[1]))


def _length(value: Any) -> Any:
    return len(value) if isinstance(value, list) else "no list"

"""The OpenAI-compatible wire format: request payloads and checked reading of replies.

Pure functions, no I/O. Every reply is checked before use; a reply that does not have the
shape asked for raises ``BackendError`` quoting the server's reply, so a user can see what
their server said (never a ``KeyError`` deep in a run).

Log-likelihoods come from ``/v1/completions`` with ``echo: true`` and ``logprobs: 1``:
the server returns the prompt's own tokens with the log-probability of each given what
precedes it (the first token has none), followed by ``max_tokens`` generated tokens (one
is asked for: some servers refuse zero). The number of prompt tokens is the length of
the prompt sent (token ids) or ``usage.prompt_tokens`` (text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.errors import BackendError

REPLY_SHOWN = 300  # characters of a reply quoted in an error
GREEDY_TOLERANCE = 1e-9  # a token whose logprob equals the top one's is the argmax


def shown(reply: Any) -> str:
    """A reply as compact JSON, cut to ``REPLY_SHOWN`` characters, for error messages."""
    try:
        text = json.dumps(reply, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(reply)
    return text if len(text) <= REPLY_SHOWN else text[: REPLY_SHOWN - 3] + "..."


def echo_payload(model: str, prompt: str | Sequence[int]) -> dict[str, Any]:
    """A completions request that echoes ``prompt`` with each token's log-probability."""
    return {
        "model": model,
        "prompt": prompt if isinstance(prompt, str) else list(prompt),
        "max_tokens": 1,
        "temperature": 0,
        "echo": True,
        "logprobs": 1,
    }


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


def read_echo(reply: Any, n_prompt: int | None, *, what: str) -> Echo:
    """The echoed prompt of a completions reply, checked.

    Args:
        reply: the decoded JSON reply.
        n_prompt: tokens in the prompt when it was sent as token ids; None for text
            (then ``usage.prompt_tokens`` says).
        what: the request in words, for errors.

    Raises:
        BackendError: the reply carries no echoed log-probabilities, or lists that do
            not fit the prompt (wrong lengths), naming the reply.
    """
    choice = _first_choice(reply, what)
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, Mapping) or not isinstance(logprobs.get("token_logprobs"), list):
        raise BackendError(
            f"{what}: the server's reply has no echoed log-probabilities "
            f"(choices[0].logprobs.token_logprobs); the server may not support echo with "
            f"logprobs on /v1/completions. Reply: {shown(reply)}"
        )
    values = logprobs["token_logprobs"]
    tokens = logprobs.get("tokens")
    top = logprobs.get("top_logprobs")
    if n_prompt is None:
        n_prompt = _prompt_tokens(reply, what)
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
    if len(values) < n_prompt:
        raise BackendError(
            f"{what}: the reply echoes {len(values)} token log-probabilities for a prompt of "
            f"{n_prompt} tokens (wrong lengths). Reply: {shown(reply)}"
        )
    return Echo(
        tuple(str(t) for t in tokens[:n_prompt]),
        tuple(_number(v, what, reply) for v in values[:n_prompt]),
        tuple(_top(t) for t in (top[:n_prompt] if isinstance(top, list) else [None] * n_prompt)),
    )


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
) -> dict[str, Any]:
    """A ``/v1/completions`` generation request (one sample)."""
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
    return payload


def chat_payload(
    model: str,
    prompt: str,
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    stop: Sequence[str],
) -> dict[str, Any]:
    """A ``/v1/chat/completions`` request: the prompt as one user turn (one sample)."""
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
    return payload


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
    usage = reply.get("usage") if isinstance(reply, Mapping) else None
    count = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
    if not isinstance(count, int) or count < 1:
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


def _top(entry: Any) -> tuple[str, float] | None:
    if not isinstance(entry, Mapping) or not entry:
        return None
    token, value = max(entry.items(), key=lambda item: item[1])
    return str(token), float(value)


def _length(value: Any) -> Any:
    return len(value) if isinstance(value, list) else "no list"

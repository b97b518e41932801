"""An OpenAI-compatible stub server on loopback, for the HTTP backend's tests.

It speaks ``/v1/models``, ``/v1/completions`` (echo + logprobs, generation) and
``/v1/chat/completions`` like vLLM does, over a byte-level vocabulary that is exactly
``ByT5Tokenizer``'s (id = byte + 3, EOS = 1), with a deterministic per-model bigram
"language model" (or any scorer given, e.g. a real tiny GPT-2). It can misbehave on
request: slow replies, 429 with Retry-After, 500, truncated JSON, wrong logprob lengths,
no echo support, an API key it requires and echoes back in its 401; and as real servers
do: echoed log-probabilities shifted by one token (llama-cpp-python), an EOS appended to
every text prompt and echo/logprobs silently ignored (``transformers serve`` with a ByT5
tokenizer), token-id prompts refused, unknown request fields refused (422), idle
keep-alive connections closed (uvicorn), a connection dropped without a reply.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VOCAB = 259  # ByT5: pad 0, eos 1, unk 2, bytes 3..258
EOS = 1


def to_ids(text: str) -> list[int]:
    return [b + 3 for b in text.encode("utf-8")]


def to_text(ids: Sequence[int]) -> str:
    return bytes(i - 3 for i in ids if 3 <= i < VOCAB).decode("utf-8", errors="replace")


def _readable(token: int) -> bool:
    """An ASCII letter or a space."""
    byte = token - 3
    return 0 <= byte < 128 and (chr(byte).isalpha() or byte == 32)


def token_text(token: int) -> str:
    return "</s>" if token == EOS else to_text([token])


class BigramModel:
    """log P(next | previous token) from seeded pseudo-random logits, normalised; ASCII
    letters and space are favoured, so greedy text is mostly whole characters."""

    def __init__(self, name: str, salt: str = "") -> None:
        self.name = name
        self.salt = salt
        self._rows: dict[int, list[float]] = {}

    def row(self, previous: int) -> list[float]:
        if previous not in self._rows:
            rng = random.Random(f"{self.name}|{self.salt}|{previous}")
            logits = [rng.gauss(0.0, 2.0) + 3.0 * _readable(t) for t in range(VOCAB)]
            top = max(logits)
            norm = top + math.log(sum(math.exp(x - top) for x in logits))
            self._rows[previous] = [x - norm for x in logits]
        return self._rows[previous]

    def next_logprobs(self, ids: Sequence[int]) -> list[float]:
        return self.row(ids[-1] if ids else EOS)

    def rows(self, ids: Sequence[int]) -> list[list[float]]:
        """Row i: log P(next token | ids[: i + 1])."""
        return [self.row(token) for token in ids]


class TorchModel:
    """A real model (a torch causal LM over the same byte ids) as the stub's scorer: one
    forward pass per prompt."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def _logprobs(self, ids: Sequence[int]) -> Any:
        import torch

        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([list(ids)])).logits[0]
        return logits.float().log_softmax(-1)

    def next_logprobs(self, ids: Sequence[int]) -> list[float]:
        return self._logprobs(ids)[-1].tolist()

    def rows(self, ids: Sequence[int]) -> list[list[float]]:
        return self._logprobs(ids).tolist()


def scored_positions(
    model: Any, ids: Sequence[int], *, shift: bool = False
) -> list[tuple[float, list[float]] | None]:
    """Per token: (its log-probability, the distribution it was read from); None for the
    first. ``shift``: llama-cpp-python's echo, each token read from the distribution at
    its own position (which predicts the next token), so every value belongs one
    position later (the first is still None, as that server sets it)."""
    rows = model.rows(ids)
    return [None] + [(rows[i + shift - 1][ids[i]], rows[i + shift - 1]) for i in range(1, len(ids))]


def logprob_lists(
    ids: Sequence[int], scored: Sequence[tuple[float, list[float]] | None], n_top: int
) -> dict[str, Any]:
    """The ``logprobs`` object of a completions choice: tokens, their log-probabilities,
    the ``n_top`` most likely alternatives of each (and the token itself, as vLLM)."""
    tokens = [token_text(t) for t in ids]
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(token)
    top: list[dict[str, float] | None] = []
    for token, entry in zip(ids, scored):
        if entry is None:
            top.append(None)
            continue
        row = entry[1]
        best = sorted(range(len(row)), key=lambda t: -row[t])[: max(n_top, 1)]
        top.append({token_text(t): row[t] for t in [token, *best][::-1]})
    return {
        "tokens": tokens,
        "token_logprobs": [None if e is None else e[0] for e in scored],
        "top_logprobs": top,
        "text_offset": offsets,
    }


@dataclass
class Fault:
    """One misbehaviour, used by the next matching request (``path`` substring)."""

    kind: str  # status | slow | truncate | short_logprobs | drop (hang up, no reply)
    status: int = 500
    delay_s: float = 0.0
    retry_after: str | None = None
    path: str = "/completions"
    message: str | None = None  # the error message of a status fault


@dataclass
class StubState:
    models: dict[str, Any]
    max_model_len: int = 512
    api_key: str | None = None
    echo_supported: bool = True
    echo_refusal_status: int = 400  # the reply to echo with logprobs when unsupported
    add_bos: bool = False
    append_eos: bool = False  # EOS after every text prompt (transformers serve + ByT5)
    append_eos_to_ids: bool = False  # ... and after token-id prompts too
    shift_echo: bool = False  # echoed logprobs shifted by one token (llama-cpp-python)
    logprobs_ignored: bool = False  # echo and logprobs accepted, never answered
    echo_generated_only: bool = False  # with echo, logprobs of the generated tokens only
    echo_prompt_only: bool = False  # with echo, no generated token listed (llama-cpp-python)
    completions_route: bool = True  # False: a chat-only API (404 on /v1/completions)
    token_id_status: int | None = None  # refuse token-id prompts with this status
    known_fields: frozenset[str] | None = None  # others are refused with 422
    idle_timeout_s: float | None = None  # close keep-alive connections idle this long
    roots: dict[str, str] = field(default_factory=dict)
    faults: deque = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay_s: float = 0.0  # every completion waits this long (to observe concurrency)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in list(self.faults):
                if fault.path in path:
                    self.faults.remove(fault)
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # uvicorn's keep-alive timeout: an idle connection is closed after this long
        self.timeout = self.server.state.idle_timeout_s
        super().setup()

    def log_message(self, *args: Any) -> None:  # quiet
        return None

    # ---- plumbing ----

    def _send(self, status: int, body: Any, *, raw: bytes | None = None, extra=None) -> None:
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, **extra: Any) -> None:
        self._send(
            status, {"error": {"message": message, "type": "invalid_request_error"}}, **extra
        )

    def _authorised(self) -> bool:
        state = self.server.state
        state.headers.append(dict(self.headers.items()))
        if state.api_key is None:
            return True
        given = self.headers.get("Authorization", "")
        if given == f"Bearer {state.api_key}":
            return True
        self._error(401, f"Incorrect API key provided: {given.removeprefix('Bearer ')}")
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, f"no route {self.path}")
            return
        state = self.server.state
        data = [
            {
                "id": name,
                "object": "model",
                "created": int(time.time() * 1000),
                "owned_by": "stub",
                "root": state.roots.get(name, f"/models/{name}"),
                "parent": None,
                "max_model_len": state.max_model_len,
                "permission": [{"id": f"modelperm-{random.random()}"}],
            }
            for name in state.models
        ]
        self._send(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        payload = json.loads(self.rfile.read(length) or b"{}")
        if not self._authorised():
            return
        state = self.server.state
        with state.lock:
            state.requests.append({"path": self.path, **payload})
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self._post(payload)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _post(self, payload: dict[str, Any]) -> None:
        state = self.server.state
        fault = state.take_fault(self.path)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True  # hang up without a reply
            return
        if state.known_fields is not None and set(payload) - state.known_fields:
            unexpected = set(payload) - state.known_fields
            self._send(422, {"detail": f"Unexpected fields in the request: {unexpected}"})
            return
        if isinstance(payload.get("prompt"), list) and state.token_id_status is not None:
            self._send(state.token_id_status, {"detail": "prompt must be a string."})
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
        elif fault is not None and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
            self._error(fault.status, fault.message or f"stub fault {fault.status}", extra=extra)
            return
        if state.delay_s:
            time.sleep(state.delay_s)
        model = state.models.get(payload.get("model"))
        if model is None:
            self._error(404, f"The model `{payload.get('model')}` does not exist.")
            return
        if self.path == "/v1/completions" and state.completions_route:
            body = self._completion(model, payload)
        elif self.path == "/v1/chat/completions":
            body = self._chat(model, payload)
        else:
            self._error(404, f"no route {self.path}")
            return
        if body is None:
            return
        if fault is not None and fault.kind == "short_logprobs":
            logprobs = body["choices"][0]["logprobs"]
            for key in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
                logprobs[key] = logprobs[key][:2]
        data = json.dumps(body).encode("utf-8")
        if fault is not None and fault.kind == "truncate":
            data = data[: len(data) // 2]
        self._send(200, None, raw=data)

    # ---- the model ----

    def _prompt_ids(self, prompt: Any) -> list[int]:
        if isinstance(prompt, list):
            return [int(i) for i in prompt] + [EOS] * self.server.state.append_eos_to_ids
        state = self.server.state
        ids = to_ids(str(prompt))
        return [EOS] * state.add_bos + ids + [EOS] * state.append_eos

    def _generate(
        self, model: Any, ids: list[int], payload: dict[str, Any]
    ) -> tuple[list[int], str, str | None]:
        rng = random.Random(payload.get("seed"))
        temperature = float(payload.get("temperature", 1.0))
        stops = payload.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        out: list[int] = []
        for _ in range(int(payload.get("max_tokens", 16))):
            row = model.next_logprobs(ids + out)
            if temperature == 0:
                token = max(range(VOCAB), key=row.__getitem__)
            else:
                weights = [math.exp(x / temperature) for x in row]
                token = rng.choices(range(VOCAB), weights=weights)[0]
            if token == EOS:
                return out, "stop", None
            out.append(token)
            text = to_text(out)
            for stop in stops:
                if stop in text:
                    return to_ids(text[: text.index(stop)]), "stop", stop
        return out, "length", None

    def _completion(self, model: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
        state = self.server.state
        ids = self._prompt_ids(payload.get("prompt", ""))
        max_tokens = int(payload.get("max_tokens", 16))
        if len(ids) + max_tokens > state.max_model_len:
            self._error(
                400,
                f"This model's maximum context length is {state.max_model_len} tokens. However, "
                f"you requested {len(ids) + max_tokens} tokens.",
            )
            return None
        echo = bool(payload.get("echo"))
        if echo and payload.get("logprobs") is not None and not state.echo_supported:
            self._error(state.echo_refusal_status, "echo is not supported with logprobs")
            return None
        generated, reason, stop_reason = self._generate(model, ids, payload)
        choice: dict[str, Any] = {
            "index": 0,
            "text": (to_text(ids) if echo else "") + to_text(generated),
            "finish_reason": reason,
            "stop_reason": stop_reason,
            "logprobs": None,
        }
        if payload.get("logprobs") is not None and not state.logprobs_ignored:
            all_ids = (ids if echo else []) + generated
            shift = echo and state.shift_echo
            scored = scored_positions(model, ids + generated, shift=shift)[-len(all_ids) :]
            if not all_ids:
                scored = []
            if echo:
                scored[0] = None
            if echo and state.echo_generated_only:  # some llama-server builds
                all_ids, scored = generated, scored[len(ids) :]
            if echo and state.echo_prompt_only:
                all_ids, scored = ids, scored[: len(ids)]
            choice["logprobs"] = logprob_lists(all_ids, scored, int(payload["logprobs"]))
        return {
            "id": "cmpl-stub",
            "object": "text_completion",
            "model": payload["model"],
            "choices": [choice],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": len(generated)},
        }

    def _chat(self, model: Any, payload: dict[str, Any]) -> dict[str, Any]:
        messages = payload.get("messages") or []
        content = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        ids = to_ids(content + "<assistant>")
        generated, reason, stop_reason = self._generate(model, ids, payload)
        return {
            "id": "chat-stub",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": to_text(generated)},
                    "finish_reason": reason,
                    "stop_reason": stop_reason,
                }
            ],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": len(generated)},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: StubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that timed out and hung up is part of the tests


class StubServer:
    """The stub, serving on ``url`` (``http://127.0.0.1:PORT/v1``) from a thread."""

    def __init__(self, models: dict[str, Any] | Sequence[str], **options: Any) -> None:
        if not isinstance(models, dict):
            models = {name: BigramModel(name) for name in models}
        self.state = StubState(models=dict(models), **options)
        self._server = _Server(self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def completions(self) -> list[dict[str, Any]]:
        return [r for r in self.state.requests if r["path"] == "/v1/completions"]


def expected_loglikelihood(
    model: BigramModel, context: str, continuation: str
) -> tuple[float, bool]:
    """The reference: sum of the bigram logprobs of the continuation's bytes after the
    context's (byte tokenization has no merges, so the boundary is exact)."""
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    ids = to_ids(stripped + continuation)
    start = len(to_ids(stripped))
    total, greedy = 0.0, True
    for i in range(start, len(ids)):
        row = model.next_logprobs(ids[:i])
        total += row[ids[i]]
        greedy &= row[ids[i]] >= max(row)
    return total, greedy

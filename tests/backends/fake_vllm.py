"""A stand-in for the ``vllm`` package at its API boundary (no GPU here).

It has what fteval uses, shaped as vLLM documents it: ``vllm.LLM(model, **engine_args)``
with ``get_tokenizer()``, ``llm_engine.model_config.max_model_len`` and
``generate(prompts, sampling_params, use_tqdm=, lora_request=)`` returning
``RequestOutput``-like objects (``prompt_token_ids``, ``prompt_logprobs``: a list whose
first entry is None and then ``{token_id: Logprob(logprob, rank, decoded_token)}``,
``outputs``: ``CompletionOutput(index, text, token_ids, finish_reason, stop_reason)``);
``vllm.SamplingParams(**kwargs)``; ``vllm.lora.request.LoRARequest(lora_name,
lora_int_id, lora_path)``.

Its model is pluggable: ``FakeLLM.model_factory(model_path, lora_path) -> object`` with
``rows(ids)`` (log-softmax over the vocabulary predicting each token 1..n-1) and
``next_logprobs(ids)``. The default is the loopback stub's bigram model over ByT5 byte
ids. Only one engine may be alive at a time, as on a GPU that one engine fills.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tests.backends.openai_stub import EOS, BigramModel, to_text


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None
    stop_reason: Any = None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, Logprob] | None] | None
    outputs: list[CompletionOutput] = field(default_factory=list)


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.n = 1
        self.temperature = 1.0
        self.top_p = 1.0
        self.max_tokens = 16
        self.stop = None
        self.seed = None
        self.prompt_logprobs = None
        self.__dict__.update(kwargs)


class LoRARequest:
    def __init__(self, lora_name: str, lora_int_id: int, lora_path: str) -> None:
        self.lora_name = lora_name
        self.lora_int_id = lora_int_id
        self.lora_path = lora_path


class BigramRows(BigramModel):
    def rows(self, ids: Sequence[int]) -> list[list[float]]:
        return [self.next_logprobs(ids[:i]) for i in range(1, len(ids))]


def bigram_factory(model: str, lora_path: str | None) -> Any:
    if lora_path and (Path(lora_path) / "NOOP").exists():
        lora_path = None  # an adapter that changes nothing
    return BigramRows(f"{Path(model).name}|{Path(lora_path).name if lora_path else ''}")


class FakeLLM:
    """``vllm.LLM`` stand-in; see the module docstring."""

    model_factory: Callable[[str, str | None], Any] = staticmethod(bigram_factory)
    alive: ClassVar[weakref.WeakSet] = weakref.WeakSet()
    created: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, model: str, **kwargs: Any) -> None:
        if len(FakeLLM.alive):  # the backend must have dropped (and collected) the last
            raise RuntimeError("another vLLM engine still holds the GPU")
        FakeLLM.alive.add(self)
        FakeLLM.created.append({"model": model, **kwargs})
        from transformers import ByT5Tokenizer

        self.model = model
        self.kwargs = kwargs
        self._tokenizer = ByT5Tokenizer()
        self.max_model_len = kwargs.get("max_model_len") or 128
        self.llm_engine = types.SimpleNamespace(
            model_config=types.SimpleNamespace(max_model_len=self.max_model_len)
        )
        self._models: dict[str | None, Any] = {}

    def get_tokenizer(self) -> Any:
        return self._tokenizer

    def _model(self, lora: LoRARequest | None) -> Any:
        if lora is not None and not self.kwargs.get("enable_lora"):
            raise ValueError("LoRA is not enabled on this engine")
        path = lora.lora_path if lora is not None else None
        if path not in self._models:
            self._models[path] = FakeLLM.model_factory(self.model, path)
        return self._models[path]

    def generate(
        self,
        prompts: Sequence[dict[str, Any]],
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        use_tqdm: bool = True,
        lora_request: LoRARequest | None = None,
    ) -> list[RequestOutput]:
        params = (
            list(sampling_params)
            if isinstance(sampling_params, (list, tuple))
            else [sampling_params or SamplingParams()] * len(prompts)
        )
        FakeLLM.calls.append({"n": len(prompts), "lora": lora_request, "params": params})
        model = self._model(lora_request)
        return [self._one(model, p["prompt_token_ids"], sp) for p, sp in zip(prompts, params)]

    def _one(self, model: Any, ids: list[int], params: SamplingParams) -> RequestOutput:
        if len(ids) + params.max_tokens > self.max_model_len:
            raise ValueError(
                f"prompt of {len(ids)} tokens + {params.max_tokens} > {self.max_model_len}"
            )
        prompt_logprobs = None
        if params.prompt_logprobs is not None:
            prompt_logprobs = [None]
            for token, row in zip(ids[1:], model.rows(ids)):
                best = max(range(len(row)), key=row.__getitem__)
                rank = 1 + sum(1 for value in row if value > row[token])
                entry = {token: Logprob(row[token], rank, to_text([token]))}
                entry.setdefault(best, Logprob(row[best], 1, to_text([best])))
                prompt_logprobs.append(entry)
        return RequestOutput(list(ids), prompt_logprobs, [self._sample(model, ids, params)])

    def _sample(self, model: Any, ids: list[int], params: SamplingParams) -> CompletionOutput:
        rng = random.Random(params.seed)
        out: list[int] = []
        for _ in range(params.max_tokens):
            row = model.next_logprobs(ids + out)
            if params.temperature == 0:
                token = max(range(len(row)), key=row.__getitem__)
            else:
                weights = [math.exp(v / params.temperature) for v in row]
                token = rng.choices(range(len(row)), weights=weights)[0]
            if token == EOS:
                out.append(token)
                return CompletionOutput(0, self._decode(out), out, "stop", None)
            out.append(token)
            text = self._decode(out)
            for stop in params.stop or []:
                if stop in text:
                    return CompletionOutput(0, text[: text.index(stop)], out, "stop", stop)
        return CompletionOutput(0, self._decode(out), out, "length", None)

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)


@dataclasses.dataclass
class EngineArgs:
    """Two of vLLM's engine fields, with their declared types."""

    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False


def install(monkeypatch: Any) -> type[FakeLLM]:
    """Put the fake ``vllm`` (and ``vllm.lora.request``) into ``sys.modules``."""
    FakeLLM.created.clear()
    FakeLLM.calls.clear()
    FakeLLM.model_factory = staticmethod(bigram_factory)
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.EngineArgs = EngineArgs
    vllm.SamplingParams = SamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    lora.request = request
    vllm.lora = lora
    for name, module in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, module)
    return FakeLLM

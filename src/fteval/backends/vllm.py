"""The vLLM backend: one engine serves the base and every adapter.

The full fine-tune gets a second engine once the first is released.

* **Arms.** The first engine is built with ``enable_lora`` (``max_loras`` = the number of
  adapters, ``max_lora_rank`` = the largest adapter rank rounded up to a rank vLLM
  accepts); each adapter arm's requests carry its own ``LoRARequest``, the base arm's
  none. Before scoring, each adapter must change the probe's prompt log-probabilities
  (as in the HF backend): one that changes nothing is an error. When every base/adapter
  arm is done, the engine is shut down and its memory freed before the full fine-tune's
  engine starts: two engines never hold the GPU at once.
* **Log-likelihood** from ``prompt_logprobs``: requests are encoded with the HF backend's
  boundary rule (``hf_scoring.encode_pair``) and sent as token ids; the continuation's
  log-probability is the sum of its tokens' prompt log-probabilities, and it is greedy
  when each token has rank 1. vLLM must fit one generated token after the prompt, so at
  most ``max_length - 1`` tokens are sent; longer inputs lose their oldest context tokens
  (reported per request, as in the HF backend).
* **Generation** with one ``SamplingParams`` per sample, seeded from (run seed, prompt,
  sample index) like the HF backend, so a sample does not depend on batching; stop
  strings are applied by vLLM and again locally; the chat template is applied with the
  tokenizer, as in the HF backend.

vLLM needs a CUDA build of torch: install ``fteval[vllm]`` on a GPU machine. The tests
here replace the ``vllm`` module at its API boundary; ``benchmarks/vllm_agreement.py``
compares it with the HF backend on a GPU.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fteval._util.versions import installed_version
from fteval.backends import hf_loading as loading
from fteval.backends.base import GENERATE, LOGLIKELIHOOD, ROLLING, ArmIdentity, Backend
from fteval.backends.hf_generate import (
    chat_prompt,
    cut_at_stop,
    fit_prompt,
    repeat_greedy,
    results_from_groups,
    row_seed,
)
from fteval.backends.hf_scoring import encode_pair, rolling_windows
from fteval.errors import AdapterError, BackendError, ConfigError, MissingDependencyError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)

logger = logging.getLogger(__name__)

PROBE_TEXT = "The quick brown fox jumps over the lazy dog. 0123456789"
PROBE_MIN_CHANGE = 1e-6
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # max_lora_rank values vLLM accepts


def require_vllm() -> None:
    """Fail with the extra to install when vLLM is missing."""
    try:
        import vllm  # noqa: F401
    except ModuleNotFoundError:
        raise MissingDependencyError("vllm", "vllm", "the vllm backend") from None


def typed_engine_args(args: dict[str, Any]) -> dict[str, Any]:
    """``--engine-arg`` values typed by ``vllm.EngineArgs``'s declared fields (the one
    option rule of ``fteval._util.options``: ``enforce_eager=maybe`` is an error, never a
    truthy string). Keys ``EngineArgs`` does not declare go to ``vllm.LLM`` as given.

    Raises:
        ConfigError: a value that does not fit its field's type, naming the argument.
    """
    import dataclasses

    from fteval._util.options import OptionError, coerce, constructor_hints

    engine = getattr(sys.modules.get("vllm"), "EngineArgs", None)
    if not (isinstance(engine, type) and dataclasses.is_dataclass(engine)):
        return dict(args)
    hints = constructor_hints(engine)
    out = {}
    for key, value in args.items():
        try:
            out[key] = coerce(value, hints[key]) if key in hints else value
        except OptionError as error:
            raise ConfigError(f"--engine-arg {key}={value!r}: {error}") from None
    return out


@dataclass
class _Engine:
    """A live ``vllm.LLM`` with what is derived from it."""

    llm: Any
    tokenizer: Any
    max_length: int
    prefix_token: int | None
    arms: frozenset[str]


class VLLMBackend(Backend):
    """vLLM backend; see the module docstring.

    Args:
        arms: base, adapters, optional full.
        dtype: ``auto`` | ``float32`` | ``float16`` | ``bfloat16``.
        max_length: context window in tokens (vLLM's ``max_model_len``).
        trust_remote_code: allow model code from the checkpoint.
        engine_args: further ``vllm.LLM`` keyword arguments (``gpu_memory_utilization``,
            ``tensor_parallel_size``, ``enforce_eager``, ...); recorded in the identity.
        seed: the engine's seed (requests carry their own seeds).
        allow_base_mismatch: accept an adapter recorded against another base.
        progress: show vLLM's progress bars.
    """

    name = "vllm"
    supports = frozenset({LOGLIKELIHOOD, ROLLING, GENERATE})

    def __init__(
        self,
        arms: Sequence[ArmSpec],
        *,
        dtype: str = "auto",
        max_length: int | None = None,
        trust_remote_code: bool = False,
        engine_args: dict[str, Any] | None = None,
        seed: int = 0,
        allow_base_mismatch: bool = False,
        progress: bool = True,
    ) -> None:
        super().__init__(arms)
        self.dtype = dtype
        self.max_length_override = max_length
        self.trust_remote_code = trust_remote_code
        self.engine_args = typed_engine_args(engine_args or {})
        self.seed = seed
        self.allow_base_mismatch = allow_base_mismatch
        self.progress = progress
        base = self.base_arm()
        if base is None:
            raise BackendError(
                "the vllm backend needs a base arm (kind 'base') to serve the others"
            )
        self._base = base
        self._adapters = [a for a in self.arms if a.kind == "adapter"]
        self._lora_ids = {a.name: index + 1 for index, a in enumerate(self._adapters)}
        self._adapter_configs: dict[str, dict[str, Any]] = {}
        self._probe_change: dict[str, float] = {}
        self._engine: _Engine | None = None
        self._done: set[str] = set()
        self._hashes: dict[str, dict[str, str]] = {}

    # ---- engines ----

    def check_inputs(self) -> None:
        """Adapter configs and bases, weight formats (safetensors unless allowed)."""
        for arm in self._adapters:
            config = loading.read_adapter_config(arm.path)
            self._adapter_configs[arm.name] = config
            loading.check_adapter_base(
                arm.name, arm.path, config, self._base.path,
                allow_mismatch=self.allow_base_mismatch,
            )  # fmt: skip
        for arm in self.arms:
            if loading.is_local(arm.path):
                loading.check_weight_format(arm.path, allow_pickle=False)

    def prepare(self) -> None:
        self.check_inputs()
        if any(a.kind in ("base", "adapter") for a in self.arms):
            engine = self._engine_for(self._base.name)
            for arm in self._adapters:
                self._probe_change[arm.name] = self._probe(engine, arm.name)

    def _engine_for(self, arm: str) -> _Engine:
        spec = self.arm(arm)
        if self._engine is not None and arm in self._engine.arms:
            return self._engine
        self._shutdown()
        if spec.kind == "full":
            self._engine = self._start(spec.path, frozenset({spec.name}), loras=False)
        else:
            group = frozenset(a.name for a in self.arms if a.kind in ("base", "adapter"))
            self._engine = self._start(self._base.path, group, loras=bool(self._adapters))
        return self._engine

    def _start(self, path: str, arms: frozenset[str], *, loras: bool) -> _Engine:
        from vllm import LLM

        tokenizer_path = path if not loading.is_local(path) or loading.has_tokenizer(path) else None
        args: dict[str, Any] = {
            "model": path,
            "tokenizer": tokenizer_path or self._base.path,
            "dtype": self.dtype,
            "seed": self.seed,
            "trust_remote_code": self.trust_remote_code,
        }
        if self.max_length_override:
            args["max_model_len"] = self.max_length_override
        if loras:
            args.update(
                enable_lora=True,
                max_loras=len(self._adapters),
                max_lora_rank=_lora_rank(self._adapter_configs.values()),
            )
        args.update(self.engine_args)
        logger.info("starting a vLLM engine for %s", path)
        try:
            llm = LLM(**args)
        except Exception as error:
            if not loading.caused_by_the_files(error):
                raise  # out of memory, a bug: exit 1 with the traceback
            raise BackendError(f"{path}: vLLM could not start an engine: {error}") from error
        tokenizer = llm.get_tokenizer()
        prefix = tokenizer.bos_token_id
        if prefix is None:
            prefix = tokenizer.eos_token_id
        return _Engine(llm, tokenizer, _max_model_len(llm, tokenizer), prefix, arms)

    def _shutdown(self) -> None:
        """Release the live engine and its GPU memory (before another starts)."""
        engine, self._engine = self._engine, None
        if engine is None:
            return
        core = getattr(getattr(engine.llm, "llm_engine", None), "engine_core", None)
        with contextlib.suppress(Exception):
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        del engine
        gc.collect()
        with contextlib.suppress(Exception):
            from vllm.distributed.parallel_state import (
                destroy_distributed_environment,
                destroy_model_parallel,
            )

            destroy_model_parallel()
            destroy_distributed_environment()
        torch = sys.modules.get("torch")  # vLLM has imported it; never import it here
        with contextlib.suppress(Exception):
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _lora(self, arm: str) -> Any:
        if self.arm(arm).kind != "adapter":
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(arm, self._lora_ids[arm], self.arm(arm).path)

    def _probe(self, engine: _Engine, adapter: str) -> float:
        candidates = [engine.prefix_token, *_encode(engine.tokenizer, PROBE_TEXT)]
        ids = [i for i in candidates if i is not None][: engine.max_length - 1]
        plain = self._prompt_logprobs(engine, None, [ids])[0]
        adapted = self._prompt_logprobs(engine, self._lora(adapter), [ids])[0]
        change = max(
            abs(a[0] - b[0])
            for a, b in zip(plain[1:], adapted[1:])
            if a is not None and b is not None
        )
        if change <= PROBE_MIN_CHANGE:
            raise AdapterError(
                f"adapter {adapter!r} ({self.arm(adapter).path}) does not change the model's "
                f"outputs: max |Δlogprob| on a probe = {change:.3g}. It may be untrained (LoRA B "
                "initialised to zero) or target modules vLLM does not apply LoRA to."
            )
        return change

    def release(self, arm: str) -> None:
        self._done.add(arm)
        if self._engine is not None and self._engine.arms <= self._done:
            self._shutdown()

    def close(self) -> None:
        self._shutdown()

    # ---- identity ----

    def identity(self, arm: str) -> ArmIdentity:
        spec = self.arm(arm)
        if spec.path not in self._hashes:
            self._hashes[spec.path] = loading.weight_hashes(spec.path)
        facts: dict[str, Any] = {
            "local": loading.is_local(spec.path),
            "dtype": self.dtype,
            "device": "cuda",
            "max_length_override": self.max_length_override,
            "trust_remote_code": self.trust_remote_code,
            "engine_args": self.engine_args,
            "vllm_version": installed_version("vllm"),
        }
        if spec.kind == "adapter":
            facts["adapter_config"] = self._adapter_configs.get(arm) or (
                loading.read_adapter_config(spec.path)
            )
            facts["adapter_serving"] = "vllm_lora"
            facts["base_path"] = self._base.path
            facts["base_weights_sha256"] = dict(self.identity(self._base.name).weights_sha256)
            if arm in self._probe_change:
                facts["probe_max_abs_logprob_change"] = self._probe_change[arm]
        return ArmIdentity(self.name, spec.path, self._hashes[spec.path], facts)

    def tokenizer_facts(self, arm: str) -> dict[str, Any]:
        """Tokenizer facts of the arm's engine (the full arm's from its files until then)."""
        engine = self._engine
        max_length: int | None
        if engine is not None and arm in engine.arms:
            tokenizer, max_length, prefix = engine.tokenizer, engine.max_length, engine.prefix_token
        else:
            spec = self.arm(arm)
            source = spec.path if loading.has_tokenizer(spec.path) else self._base.path
            tokenizer = loading.load_tokenizer(source, trust_remote_code=self.trust_remote_code)
            max_length = self.max_length_override or getattr(tokenizer, "model_max_length", None)
            prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else None
        return {
            "tokenizer_class": type(tokenizer).__name__,
            "vocab_size": len(tokenizer),
            "truncation_side": "left",
            "max_length": max_length,
            "prefix_token_id": prefix,
            "chat_template_sha256": loading.chat_template_sha256(tokenizer),
        }

    # ---- requests ----

    def _prompt_logprobs(
        self, engine: _Engine, lora: Any, prompts: Sequence[Sequence[int]]
    ) -> list[list[tuple[float, bool] | None]]:
        """Per prompt, per token: (its log-probability, whether it ranks first).

        The first token has none.
        """
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outputs = engine.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompts],
            params,
            use_tqdm=self.progress,
            lora_request=lora,
        )
        if len(outputs) != len(prompts):
            raise BackendError(f"vLLM answered {len(outputs)} of {len(prompts)} prompts")
        return [_read_prompt_logprobs(out, ids) for out, ids in zip(outputs, prompts)]

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        engine = self._engine_for(arm)
        unique = list(dict.fromkeys((r.context, r.continuation) for r in requests))
        fed = engine.max_length - 1  # vLLM must fit one generated token
        rows = []
        for context, continuation in unique:
            pair = encode_pair(
                lambda text: _encode(engine.tokenizer, text), context, continuation,
                engine.prefix_token,
            )  # fmt: skip
            if len(pair.continuation) >= fed:
                raise BackendError(
                    f"a continuation of {len(pair.continuation)} tokens does not fit the context "
                    f"window of {engine.max_length} tokens"
                )
            sequence = pair.context + pair.continuation
            cut = max(0, len(sequence) - fed)
            rows.append((sequence[cut:], len(pair.continuation), cut))
        scored = self._prompt_logprobs(engine, self._lora(arm), [r[0] for r in rows])
        by_pair: dict[tuple[str, str], LoglikelihoodResult] = {}
        for key, (ids, n, cut), entries in zip(unique, rows, scored):
            span = entries[len(ids) - n :]
            by_pair[key] = LoglikelihoodResult(
                logprob=float(sum(e[0] for e in span if e is not None)),
                is_greedy=all(e is not None and e[1] for e in span),
                n_tokens=n,
                truncated_tokens=cut,
                truncation_side="left" if cut else None,
            )
        return [by_pair[(r.context, r.continuation)] for r in requests]

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        engine = self._engine_for(arm)
        if engine.prefix_token is None:
            raise BackendError("rolling loglikelihood needs a BOS or EOS token as prefix")
        window = engine.max_length - 2  # inputs; + the last target; + one generated token
        prompts, owners, targets = [], [], []
        for index, request in enumerate(requests):
            tokens = (engine.prefix_token, *_encode(engine.tokenizer, request.text))
            step = min(request.stride or window, window)
            for start, predict, end in rolling_windows(len(tokens) - 1, window, step):
                prompts.append(tokens[start:end])
                owners.append(index)
                targets.append(end - predict)
        scored = self._prompt_logprobs(engine, self._lora(arm), prompts)
        totals, counts = [0.0] * len(requests), [0] * len(requests)
        for owner, n, entries in zip(owners, targets, scored):
            totals[owner] += sum(e[0] for e in entries[len(entries) - n :] if e is not None)
            counts[owner] += n
        return [RollingLoglikelihoodResult(t, c) for t, c in zip(totals, counts)]

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        from vllm import SamplingParams

        engine = self._engine_for(arm)
        prompts, params, owners, cuts = [], [], [], [0] * len(requests)
        for index, request in enumerate(requests):
            ids, cuts[index] = _generation_prompt(engine, request)
            sampling = request.sampling
            n_samples = sampling.n if sampling.temperature > 0 else 1
            for sample in range(n_samples):
                prompts.append({"prompt_token_ids": ids})
                owners.append(index)
                params.append(
                    SamplingParams(
                        n=1,
                        temperature=sampling.temperature,
                        top_p=sampling.top_p,
                        max_tokens=request.max_new_tokens,
                        stop=list(request.stop) or None,
                        seed=row_seed(sampling.seed, request.prompt, sample),
                    )
                )
        outputs = engine.llm.generate(
            prompts, params, use_tqdm=self.progress, lora_request=self._lora(arm)
        )
        grouped: list[list[tuple[str, int, str]]] = [[] for _ in requests]
        for owner, out in zip(owners, outputs):
            grouped[owner].append(
                _read_completion(out, requests[owner].stop, engine.tokenizer.eos_token_id)
            )
        return results_from_groups([repeat_greedy(g, r) for g, r in zip(grouped, requests)], cuts)


def _generation_prompt(engine: _Engine, request: GenerateRequest) -> tuple[list[int], int]:
    """Prompt ids (chat template applied when asked), cut from the left to leave room."""
    text = chat_prompt(engine.tokenizer, request.prompt) if request.chat else request.prompt
    return fit_prompt(
        _encode(engine.tokenizer, text),
        prefix_token=engine.prefix_token,
        max_length=engine.max_length,
        max_new_tokens=request.max_new_tokens,
    )


def _read_prompt_logprobs(output: Any, ids: Sequence[int]) -> list[tuple[float, bool] | None]:
    entries = output.prompt_logprobs
    if entries is None or len(entries) != len(ids):
        raise BackendError(
            f"vLLM returned {0 if entries is None else len(entries)} prompt log-probabilities "
            f"for a prompt of {len(ids)} tokens"
        )
    read: list[tuple[float, bool] | None] = [None]
    for position in range(1, len(ids)):
        entry = entries[position]
        token = ids[position]
        if entry is None or token not in entry:
            raise BackendError(f"vLLM gave no log-probability for prompt token {position}")
        own = entry[token]
        rank = getattr(own, "rank", None)
        best = max(float(e.logprob) for e in entry.values())
        greedy = rank == 1 if rank is not None else float(own.logprob) >= best
        read.append((float(own.logprob), greedy))
    return read


def _read_completion(output: Any, stop: Sequence[str], eos: int | None) -> tuple[str, int, str]:
    """(text cut at the first stop string, tokens generated, finish reason).

    Tokens are counted as the HF backend counts them: an ending EOS is not one.
    """
    completion = output.outputs[0]
    text, stopped = cut_at_stop(completion.text, stop)
    reason = completion.finish_reason or "stop"
    if stopped or (reason == "stop" and getattr(completion, "stop_reason", None) is not None):
        reason = "stop"
    elif reason == "stop":
        reason = "eos"
    tokens = list(completion.token_ids)
    if reason == "eos" and tokens and tokens[-1] == eos:
        tokens.pop()
    return text, len(tokens), reason


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _max_model_len(llm: Any, tokenizer: Any) -> int:
    config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    value = getattr(config, "max_model_len", None)
    if isinstance(value, int) and value > 2:
        return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 2 < limit < 1_000_000:
        return limit
    raise BackendError("cannot tell the vLLM engine's context window; pass --max-length")


def _lora_rank(configs: Any) -> int:
    """The smallest rank vLLM accepts that holds every adapter's rank."""
    largest = max((int(c.get("r", 8)) for c in configs), default=8)
    return next((r for r in LORA_RANKS if r >= largest), largest)


__all__ = ["VLLMBackend", "require_vllm"]

"""The Hugging Face backend: transformers + peft, one loaded base for every adapter arm.

Adapter serving. The base is loaded once and wrapped in a ``PeftModel`` holding every
adapter. Two ways to serve an arm, chosen by ``adapter_serving``:

* ``merge_restore`` (default): before an adapter arm, merge its LoRA weights into the
  base (``merge_adapter``), so each forward pass costs what the base costs; before the
  next arm, copy back the saved base weights — exact, unlike ``unmerge`` (W + BA - BA
  rounds). It keeps one copy of the LoRA-targeted base weights.
* ``switch``: ``set_adapter`` / ``disable_adapter``; the LoRA product runs beside each
  targeted layer on every pass. No extra memory, slower.

``benchmarks/adapter_serving.py`` measured them on 2 CPU cores (4-layer GPT-2, d=256,
three rank-16 adapters on every linear layer, 256 requests x 96 tokens per arm):
switch 90.9 s, merge + unmerge 58.8 s (base drifts 4.8e-7), merge + restore 54.5 s
(exact). The choice is recorded per adapter arm in the manifest (``adapter_serving``). In
float16/bfloat16 a merge rounds small LoRA updates away (W + BA in 16 bits), so ``auto``
(the default) merges only in float32 and switches otherwise.
The full fine-tune arm is a separate model, loaded when first used.

Before any scoring, ``prepare`` checks each adapter's recorded base and proves on a probe
that it changes the model's logits; an adapter that changes nothing is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fteval._util.progress import progress_bar
from fteval.backends import hf_loading as loading
from fteval.backends.base import (
    GENERATE,
    LOGLIKELIHOOD,
    ROLLING,
    ArmIdentity,
    Backend,
    TokenBudget,
)
from fteval.backends.hf_generate import DecodeCounters, generate_group, results_from_groups
from fteval.backends.hf_scoring import (
    ModelInput,
    encode_pair,
    length_sorted_batches,
    model_input,
    rolling_windows,
    score_batch,
)
from fteval.errors import AdapterError, BackendError
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

ADAPTER_SERVINGS = ("auto", "merge_restore", "switch")
PROBE_TEXT = "The quick brown fox jumps over the lazy dog. 0123456789"
PROBE_MIN_CHANGE = 1e-6  # max |Δlogit| at or below this means "no change"
DEFAULT_MAX_LENGTH = 2048


@dataclass
class _Loaded:
    """A loaded model with its tokenizer and the facts recorded about it."""

    model: Any
    tokenizer: Any
    max_length: int
    pad_id: int
    prefix_token: int | None
    notes: dict[str, Any] = field(default_factory=dict)


class HFBackend(Backend):
    """transformers/peft backend; see the module docstring.

    Args:
        arms: base, adapters, optional full.
        dtype: ``auto`` | ``float32`` | ``float16`` | ``bfloat16``.
        device: ``auto`` | ``cpu`` | ``cuda[:N]`` | ``mps``.
        batch_size: requests per forward pass (results do not depend on it).
        max_length: context window override, in tokens.
        allow_base_mismatch: accept an adapter recorded against another base.
        allow_pickle: accept pickled (.bin) weights.
        trust_remote_code: allow model code from the checkpoint.
        progress: show progress bars.
        adapter_serving: ``auto``, ``merge_restore`` or ``switch`` (see the module
            docstring); ``auto`` merges in float32 and switches in 16-bit dtypes.
    """

    name = "hf"
    supports = frozenset({LOGLIKELIHOOD, ROLLING, GENERATE})

    def __init__(
        self,
        arms: Sequence[ArmSpec],
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 16,
        max_length: int | None = None,
        allow_base_mismatch: bool = False,
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
        progress: bool = True,
        adapter_serving: str = "auto",
    ) -> None:
        super().__init__(arms)
        if adapter_serving not in ADAPTER_SERVINGS:
            raise BackendError(
                f"adapter_serving must be one of {ADAPTER_SERVINGS}, got {adapter_serving!r}"
            )
        self._merged: str | None = None
        self._saved_base: dict[str, Any] = {}
        self.device = loading.resolve_device(device)
        self.dtype = loading.resolve_dtype(dtype, self.device)
        self.adapter_serving = _serving_for(adapter_serving, self.dtype)
        self.batch_size = batch_size
        self.max_length_override = max_length
        self.allow_base_mismatch = allow_base_mismatch
        self.allow_pickle = allow_pickle
        self.trust_remote_code = trust_remote_code
        self.progress = progress
        base = self.base_arm()
        if base is None:
            raise BackendError("the hf backend needs a base arm (kind 'base') to serve the others")
        self._base = base
        self._adapters = [a for a in self.arms if a.kind == "adapter"]
        self._adapter_configs: dict[str, dict[str, Any]] = {}
        self._adapter_warnings: dict[str, str] = {}
        self._probe_change: dict[str, float] = {}
        self._group: _Loaded | None = None
        self._full: _Loaded | None = None
        self._done: set[str] = set()
        self._hashes: dict[str, dict[str, str]] = {}
        self.decode_counters = DecodeCounters()

    # ---- loading and checks ----

    def check_inputs(self) -> None:
        """Cheap checks before any weights load: adapter configs, bases, weight formats."""
        for arm in self._adapters:
            config = loading.read_adapter_config(arm.path)
            self._adapter_configs[arm.name] = config
            warning = loading.check_adapter_base(
                arm.name,
                arm.path,
                config,
                self._base.path,
                allow_mismatch=self.allow_base_mismatch,
            )
            if warning:
                self._adapter_warnings[arm.name] = warning
            if loading.is_local(arm.path):
                loading.check_weight_format(arm.path, allow_pickle=self.allow_pickle)
        for arm in self.arms:
            if arm.kind != "adapter" and loading.is_local(arm.path):
                loading.check_weight_format(arm.path, allow_pickle=self.allow_pickle)

    def prepare(self) -> None:
        self.check_inputs()
        if any(a.kind in ("base", "adapter") for a in self.arms):
            self._load_group()

    def _load(self, path: str, tokenizer_path: str) -> _Loaded:
        with loading.quiet_transformers():
            model = loading.load_causal_lm(
                path,
                dtype=self.dtype,
                device=self.device,
                allow_pickle=self.allow_pickle,
                trust_remote_code=self.trust_remote_code,
            )
        tokenizer = loading.load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        return _describe_loaded(model, tokenizer, self.max_length_override)

    def _load_group(self) -> _Loaded:
        if self._group is not None:
            return self._group
        logger.info("loading base model %s", self._base.path)
        loaded = self._load(self._base.path, self._base.path)
        if self._adapters:
            loaded.model = self._attach_adapters(loaded)
        self._group = loaded
        return loaded

    def _attach_adapters(self, loaded: _Loaded) -> Any:
        from peft import PeftModel

        model = None
        for arm in self._adapters:
            try:
                with loading.quiet_transformers():
                    if model is None:
                        model = PeftModel.from_pretrained(
                            loaded.model, arm.path, adapter_name=arm.name, is_trainable=False
                        )
                    else:
                        model.load_adapter(arm.path, adapter_name=arm.name, is_trainable=False)
            except Exception as error:
                if not loading.caused_by_the_files(error):
                    raise
                raise AdapterError(
                    f"adapter {arm.name!r} ({arm.path}): could not load: {error}"
                ) from error
        assert model is not None, "called with at least one adapter"
        model.eval()
        for arm in self._adapters:
            change = self._probe(model, loaded, arm.name)
            self._probe_change[arm.name] = change
            if change <= PROBE_MIN_CHANGE:
                raise AdapterError(
                    f"adapter {arm.name!r} ({arm.path}) does not change the model's outputs: "
                    f"max |Δlogit| on a probe = {change:.3g}. It may be untrained (LoRA B "
                    "initialised to zero) or target modules the base does not use."
                )
        return model

    def _probe(self, model: Any, loaded: _Loaded, adapter: str) -> float:
        import torch

        ids = _encode(loaded.tokenizer, PROBE_TEXT)[: loaded.max_length]
        batch = torch.tensor([ids], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            with model.disable_adapter():
                plain = model(input_ids=batch).logits.float()
            model.set_adapter(adapter)
            adapted = model(input_ids=batch).logits.float()
        return float((adapted - plain).abs().max().item())

    def _load_full(self) -> _Loaded:
        if self._full is None:
            full = next(a for a in self.arms if a.kind == "full")
            tokenizer_path = full.path if loading.has_tokenizer(full.path) else self._base.path
            logger.info("loading full fine-tune %s", full.path)
            self._full = self._load(full.path, tokenizer_path)
        return self._full

    @contextlib.contextmanager
    def _serving(self, arm_name: str) -> Iterator[_Loaded]:
        arm = self.arm(arm_name)
        if arm.kind == "full":
            yield self._load_full()
            return
        loaded = self._load_group()
        if not self._adapters:
            yield loaded
        elif self.adapter_serving == "merge_restore" and arm.kind == "adapter":
            self._merge_only(loaded.model, arm.name)
            yield loaded
        elif arm.kind == "base":
            self._merge_only(loaded.model, None)  # nothing merged: disabling is exact
            with loaded.model.disable_adapter():
                yield loaded
        else:
            loaded.model.set_adapter(arm.name)
            yield loaded

    def _merge_only(self, model: Any, adapter: str | None) -> None:
        """Leave exactly ``adapter`` merged into the base (None: the exact base)."""
        if self._merged == adapter:
            return
        if self._merged is not None:
            model.unmerge_adapter()
            self._restore_base(model)
            self._merged = None
        if adapter is not None:
            if not self._saved_base:
                self._saved_base = _targeted_base_weights(model)
            model.set_adapter(adapter)
            model.merge_adapter()
            self._merged = adapter

    def _restore_base(self, model: Any) -> None:
        """Copy the saved base weights back: exact, unlike unmerging's subtraction."""
        import torch

        modules = dict(model.named_modules())
        with torch.no_grad():
            for name, weight in self._saved_base.items():
                modules[name].base_layer.weight.copy_(weight)

    def release(self, arm: str) -> None:
        self._done.add(arm)
        if self.arm(arm).kind == "full":
            self._full = None
        group = {a.name for a in self.arms if a.kind in ("base", "adapter")}
        if group <= self._done:
            self._group = None
            self._saved_base = {}
            self._merged = None
        _free_memory(self.device)

    def close(self) -> None:
        self._group = self._full = None
        self._saved_base = {}
        self._merged = None
        _free_memory(self.device)

    # ---- identity ----

    def identity(self, arm: str) -> ArmIdentity:
        spec = self.arm(arm)
        if spec.path not in self._hashes:
            self._hashes[spec.path] = loading.weight_hashes(spec.path)
        facts: dict[str, Any] = {
            "local": loading.is_local(spec.path),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device,
            "batch_size": self.batch_size,
            "max_length_override": self.max_length_override,
            "trust_remote_code": self.trust_remote_code,
        }
        if spec.kind == "adapter":
            facts["adapter_config"] = self._adapter_configs.get(spec.name) or (
                loading.read_adapter_config(spec.path)
            )
            facts["adapter_serving"] = self.adapter_serving
            facts["base_path"] = self._base.path
            facts["base_weights_sha256"] = dict(self.identity("base").weights_sha256)
            if spec.name in self._probe_change:
                facts["probe_max_abs_logit_change"] = self._probe_change[spec.name]
            if spec.name in self._adapter_warnings:
                facts["base_mismatch"] = self._adapter_warnings[spec.name]
        return ArmIdentity(self.name, spec.path, self._hashes[spec.path], facts)

    def counters(self) -> dict[str, int]:
        """Decode passes, prefill passes, row-steps and generated tokens so far."""
        return self.decode_counters.as_dict()

    def tokenizer_facts(self, arm: str) -> dict[str, Any]:
        """Padding, truncation and template facts of the arm's tokenizer (for the manifest).

        Never loads weights for this: the full fine-tune's facts come from its config and
        tokenizer files until it is loaded for its own turn.
        """
        spec = self.arm(arm)
        if spec.kind != "full":
            return dict(self._load_group().notes)
        if self._full is not None:
            return dict(self._full.notes)
        from transformers import AutoConfig

        tokenizer_path = spec.path if loading.has_tokenizer(spec.path) else self._base.path
        tokenizer = loading.load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        config = AutoConfig.from_pretrained(spec.path, trust_remote_code=self.trust_remote_code)
        return dict(
            _describe_loaded(_ConfigOnly(config), tokenizer, self.max_length_override).notes
        )

    def token_budget(self, arm: str) -> TokenBudget:
        """The arm's tokenizer and context window, read from its files (no weights)."""
        from transformers import AutoConfig

        spec = self.arm(arm)
        weights = spec.path if spec.kind == "full" else self._base.path
        tokenizer_path = weights if loading.has_tokenizer(weights) else self._base.path
        tokenizer = loading.load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        config = AutoConfig.from_pretrained(weights, trust_remote_code=self.trust_remote_code)
        window = _context_window(config, tokenizer, self.max_length_override)

        def count(texts: Sequence[str]) -> list[int]:
            return [len(_encode(tokenizer, text)) for text in texts]

        return TokenBudget(count, window, f"{tokenizer_path}|{window}")

    # ---- requests ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        with self._serving(arm) as loaded:
            encode = lambda text: _encode(loaded.tokenizer, text)  # noqa: E731
            unique = list(dict.fromkeys((r.context, r.continuation) for r in requests))
            rows = [
                model_input(encode_pair(encode, c, x, loaded.prefix_token), loaded.max_length)
                for c, x in unique
            ]
            scored = self._score_rows(loaded, rows, f"{arm}: loglikelihood")
        by_pair = {
            pair: LoglikelihoodResult(
                logprob=logprob,
                is_greedy=greedy,
                n_tokens=len(row.target_ids),
                truncated_tokens=row.truncated,
                truncation_side="left" if row.truncated else None,
            )
            for pair, row, (logprob, greedy) in zip(unique, rows, scored)
        }
        return [by_pair[(r.context, r.continuation)] for r in requests]

    def loglikelihood_rolling(
        self,
        arm: str,
        requests: Sequence[RollingLoglikelihoodRequest],
    ) -> list[RollingLoglikelihoodResult]:
        with self._serving(arm) as loaded:
            if loaded.prefix_token is None:
                raise BackendError("rolling loglikelihood needs a BOS or EOS token as prefix")
            rows: list[ModelInput] = []
            owners: list[int] = []
            for index, request in enumerate(requests):
                tokens = (loaded.prefix_token, *_encode(loaded.tokenizer, request.text))
                step = min(request.stride or loaded.max_length, loaded.max_length)
                windows = rolling_windows(len(tokens) - 1, loaded.max_length, step)
                for start, predict, end in windows:
                    rows.append(ModelInput(tokens[start : end - 1], tokens[predict:end], start))
                    owners.append(index)
            scored = self._score_rows(loaded, rows, f"{arm}: rolling loglikelihood")
        totals = [0.0] * len(requests)
        counts = [0] * len(requests)
        for owner, row, (logprob, _) in zip(owners, rows, scored):
            totals[owner] += logprob
            counts[owner] += len(row.target_ids)
        return [RollingLoglikelihoodResult(t, c) for t, c in zip(totals, counts)]

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        """Decode each request; requests sharing settings are batched, longest first."""
        results: list[GenerationResult | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            key = (request.stop, request.max_new_tokens, request.sampling, request.chat)
            groups.setdefault(key, []).append(index)
        with (
            self._serving(arm) as loaded,
            progress_bar(
                total=len(requests), desc=f"{arm}: generate", enabled=self.progress
            ) as bar,
        ):
            eos = _eos_ids(loaded)
            for members in groups.values():
                prompts = [self._generation_prompt(loaded, requests[i]) for i in members]
                lengths = [len(ids) for ids, _ in prompts]
                for batch in length_sorted_batches(lengths, self.batch_size):
                    request = requests[members[batch[0]]]
                    groups_out = generate_group(
                        loaded.model, loaded.tokenizer,
                        [prompts[b][0] for b in batch],
                        [requests[members[b]].prompt for b in batch],
                        request, pad_id=loaded.pad_id, eos_ids=eos,
                        device=self.device, counters=self.decode_counters,
                    )  # fmt: skip
                    made = results_from_groups(groups_out, [prompts[b][1] for b in batch])
                    for b, result in zip(batch, made):
                        results[members[b]] = result
                    bar.update(len(batch))
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise BackendError(f"generation produced no result for requests {missing[:5]}")
        return results  # type: ignore[return-value]

    def _generation_prompt(
        self, loaded: _Loaded, request: GenerateRequest
    ) -> tuple[list[int], int]:
        """Prompt ids cut from the left to leave room for ``max_new_tokens``; tokens cut."""
        text = request.prompt
        if request.chat:
            if not getattr(loaded.tokenizer, "chat_template", None):
                raise BackendError(
                    "the task asks for the chat template, but the tokenizer has none"
                )
            text = loaded.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        ids = _encode(loaded.tokenizer, text)
        if not ids:
            ids = [loaded.prefix_token] if loaded.prefix_token is not None else []
        room = loaded.max_length - request.max_new_tokens
        if room < 1:
            raise BackendError(
                f"max_new_tokens={request.max_new_tokens} leaves no room for the prompt in a "
                f"context window of {loaded.max_length} tokens"
            )
        cut = max(0, len(ids) - room)
        return ids[cut:], cut

    def _score_rows(
        self, loaded: _Loaded, rows: Sequence[ModelInput], label: str
    ) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
        batches = length_sorted_batches([len(r.input_ids) for r in rows], self.batch_size)
        with progress_bar(total=len(rows), desc=label, enabled=self.progress) as bar:
            for batch in batches:
                scored = score_batch(
                    loaded.model, [rows[i] for i in batch], loaded.pad_id, self.device
                )
                for i, value in zip(batch, scored):
                    results[i] = value
                bar.update(len(batch))
        return results


def _targeted_base_weights(model: Any) -> dict[str, Any]:
    """A copy of the base weight of every LoRA-wrapped module, by module name."""
    saved = {}
    for name, module in model.named_modules():
        base_layer = getattr(module, "base_layer", None)
        if base_layer is not None and hasattr(module, "lora_A"):
            saved[name] = base_layer.weight.detach().clone()
    return saved


def _eos_ids(loaded: _Loaded) -> set[int]:
    ids = set()
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(int(loaded.tokenizer.eos_token_id))
    config = getattr(loaded.model, "generation_config", None)
    configured = getattr(config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, (list, tuple)):
        ids.update(int(i) for i in configured)
    return ids


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _context_window(config: Any, tokenizer: Any, override: int | None) -> int:
    if override:
        return override
    for attribute in (
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
        "seq_length",
    ):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    return DEFAULT_MAX_LENGTH


def _describe_loaded(model: Any, tokenizer: Any, override: int | None) -> _Loaded:
    """Pad and prefix policy, made explicit and recorded (never silently patched)."""
    prefix = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    if tokenizer.pad_token_id is not None:
        pad_id, pad_note = tokenizer.pad_token_id, f"pad token {tokenizer.pad_token!r}"
    elif tokenizer.eos_token_id is not None:
        pad_id = tokenizer.eos_token_id
        pad_note = f"no pad token: padded with EOS id {pad_id}, masked out of attention"
    else:
        pad_id, pad_note = 0, "no pad or EOS token: padded with id 0, masked out of attention"
    template = getattr(tokenizer, "chat_template", None)
    max_length = _context_window(model.config, tokenizer, override)
    notes = {
        "tokenizer_class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "pad_policy": pad_note,
        "padding_side_loglikelihood": "right",
        "padding_side_generation": "left",
        "truncation_side": "left",
        "max_length": max_length,
        "prefix_token_id": prefix,
        "chat_template_sha256": (
            hashlib.sha256(template.encode("utf-8")).hexdigest()
            if isinstance(template, str)
            else None
        ),
    }
    return _Loaded(model, tokenizer, max_length, pad_id, prefix, notes)


def _serving_for(choice: str, dtype: Any) -> str:
    """``auto`` -> ``merge_restore`` in float32, ``switch`` in 16-bit dtypes."""
    import torch

    if choice != "auto":
        return choice
    return "merge_restore" if dtype == torch.float32 else "switch"


@dataclass(frozen=True)
class _ConfigOnly:
    """A stand-in with just a model's config (for facts that need no weights)."""

    config: Any


def _free_memory(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()

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
that it changes the model's logits; an adapter that changes nothing is an error. Behind the
response cache, ``prepare`` runs at the first request the cache cannot answer, so a run
served wholly from the cache loads no model (and imports no torch where it can avoid it).

Scoring (``hf_fast``): the LM head runs only at scored positions, each shared context runs
once per arm, and batches are formed by a token budget (``batch_tokens``; ``batch_size``
caps the rows). ``scoring="plain"`` keeps the reference path (full logits, one row per
request). Work is counted per arm and request kind (``token_counts``).

BOS policy (``add_bos_token``): ``false`` encodes without special tokens; ``true`` puts
the tokenizer's BOS before every context, text and prompt; ``auto`` follows
lm-evaluation-harness: no special tokens for causal LMs, except the families it forces BOS
for (Gemma). The resolved policy is recorded in the arm's tokenizer facts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fteval._util.progress import progress_bar
from fteval.backends import hf_loading as loading
from fteval.backends import hf_restore
from fteval.backends.base import (
    GENERATE,
    LOGLIKELIHOOD,
    ROLLING,
    ArmIdentity,
    Backend,
    TokenBudget,
)
from fteval.backends.hf_fast import FastScorer, WorkCounters
from fteval.backends.hf_generate import (
    DecodeCounters,
    chat_prompt,
    fit_prompt,
    generate_group,
    results_from_groups,
)
from fteval.backends.hf_scoring import (
    ModelInput,
    encode_pair,
    length_sorted_batches,
    model_input,
    rolling_windows,
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
    sha256_file,
)

logger = logging.getLogger(__name__)

ADAPTER_SERVINGS = ("auto", "merge_restore", "switch")
BOS_POLICIES = ("auto", "true", "false")
SCORING_PATHS = ("fast", "plain")
# model_type substrings that lm-evaluation-harness gives a BOS token (Gemma family)
BOS_FAMILIES = ("gemma",)
PROBE_TEXT = "The quick brown fox jumps over the lazy dog. 0123456789"
PROBE_MIN_CHANGE = 1e-6  # max |Δlogit| at or below this means "no change"
DEFAULT_MAX_LENGTH = 2048
# Padded tokens per forward pass, and logits (positions x vocabulary) per pass, by device
# kind: enough rows for efficient matrix products, bounded activations and logits.
DEFAULT_BATCH_TOKENS = {"cpu": 1024, "accelerator": 32768}
DEFAULT_LOGIT_ELEMENTS = {"cpu": 1 << 26, "accelerator": 1 << 28}
# Rows longer than this run in chunks on their own KV cache (bounds activation memory on
# the CPU, where peak resident memory counts; accelerators run whole rows).
DEFAULT_CHUNK_TOKENS = {"cpu": 256, "accelerator": None}


@dataclass
class _Loaded:
    """A loaded model with its tokenizer and the facts recorded about it.

    ``bos``: the token put before every encoding (the BOS policy), or None.
    """

    model: Any
    tokenizer: Any
    max_length: int
    pad_id: int
    prefix_token: int | None
    notes: dict[str, Any] = field(default_factory=dict)
    bos: int | None = None
    scorer: FastScorer | None = None


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
        batch_tokens: padded tokens per forward pass (default: 1024 on CPU, 32768 on
            accelerators); results do not depend on it.
        threads: CPU threads for torch (default: chosen when the first model loads,
            ``hf_loading.choose_threads``); ignored off the CPU.
        add_bos_token: ``auto`` | ``true`` | ``false`` (see the module docstring).
        scoring: ``fast`` (default) or ``plain`` (the reference path).
    """

    name = "hf"
    supports = frozenset({LOGLIKELIHOOD, ROLLING, GENERATE})
    identity_before_prepare = True  # weights hashed from files, adapter configs read

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
        batch_tokens: int | None = None,
        threads: int | None = None,
        add_bos_token: str = "auto",
        scoring: str = "fast",
    ) -> None:
        super().__init__(arms)
        for name, value, allowed in (
            ("adapter_serving", adapter_serving, ADAPTER_SERVINGS),
            ("add_bos_token", add_bos_token, BOS_POLICIES),
            ("scoring", scoring, SCORING_PATHS),
        ):
            if value not in allowed:
                raise BackendError(f"{name} must be one of {allowed}, got {value!r}")
        self._merged: str | None = None
        self._saved_base: dict[str, Any] = {}
        self.device = loading.resolve_device(device)
        self.dtype_name = loading.resolve_dtype(dtype, self.device)
        self.adapter_serving = _serving_for(adapter_serving, self.dtype_name)
        kind = "cpu" if self.device == "cpu" else "accelerator"
        self.batch_tokens = batch_tokens or DEFAULT_BATCH_TOKENS[kind]
        self.logit_elements = DEFAULT_LOGIT_ELEMENTS[kind]
        self.threads_requested = threads
        self.threads: int | None = None  # chosen when the first model loads (CPU only)
        self.threads_policy: str | None = None
        self.add_bos_token = add_bos_token
        self.scoring = scoring
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
        self._hash_file: Callable[[Path], str] = sha256_file
        self.decode_counters = DecodeCounters()
        self._work: dict[str, dict[str, WorkCounters]] = {}
        self._paths: dict[str, str] = {}

    @property
    def dtype(self) -> Any:
        """The torch dtype models are loaded in."""
        return loading.torch_dtype(self.dtype_name)

    def use_file_hasher(self, hasher: Callable[[Path], str]) -> None:
        """Hash weight files with ``hasher`` (e.g. the response cache's memo)."""
        self._hash_file = hasher

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
        loading.check_device(self.device)
        with loading.quiet_transformers():
            model = loading.load_causal_lm(
                path,
                dtype=self.dtype,
                device=self.device,
                allow_pickle=self.allow_pickle,
                trust_remote_code=self.trust_remote_code,
            )
        tokenizer = loading.load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        loaded = _describe_loaded(
            model, tokenizer, self.max_length_override, self._bos_policy(path)
        )
        if self.device == "cpu" and self.threads is None:
            self.threads, self.threads_policy = loading.choose_threads(
                self.threads_requested, lambda: self._probe_forward(loaded)
            )
            logger.info("torch CPU threads: %d (%s)", self.threads, self.threads_policy)
        self._check_finite(loaded, path)
        return loaded

    def _check_finite(self, loaded: _Loaded, path: str) -> None:
        """Refuse a model whose logits on the probe text are NaN or infinite (broken
        weights, or an overflow in this dtype) before it answers anything."""
        import torch

        ids = _encode(loaded.tokenizer, PROBE_TEXT)[: loaded.max_length] or [loaded.pad_id]
        with torch.inference_mode():
            logits = loaded.model(input_ids=torch.tensor([ids], device=self.device)).logits
        if not bool(torch.isfinite(logits).all()):
            hint = "" if self.dtype_name == "float32" else " (try --dtype float32)"
            raise BackendError(
                f"{path}: the model's outputs on a probe text are not finite numbers (NaN or "
                f"inf) in {self.dtype_name}: its weights hold NaN/inf, or overflow in this "
                f"dtype{hint}"
            )

    def _probe_forward(self, loaded: _Loaded) -> None:
        """One forward pass over the probe text, four rows (for choosing threads)."""
        import torch

        ids = _encode(loaded.tokenizer, PROBE_TEXT)[: loaded.max_length] or [loaded.pad_id]
        with torch.inference_mode():
            loaded.model(input_ids=torch.tensor([ids] * 4, device=self.device))

    def _bos_policy(self, path: str) -> tuple[bool, str]:
        """(put BOS first?, why) for the model at ``path``."""
        if self.add_bos_token != "auto":
            return self.add_bos_token == "true", f"add_bos_token={self.add_bos_token}"
        family = loading.model_type(path) or ""
        if any(name in family for name in BOS_FAMILIES):
            return True, f"auto: {family} models get BOS, as in lm-evaluation-harness"
        return False, "auto: no special tokens (causal LM, as in lm-evaluation-harness)"

    def _scorer(self, loaded: _Loaded) -> FastScorer:
        """The loaded model's scorer, self-checked against the plain path on first use."""
        if loaded.scorer is None:
            vocab = max(1, int(getattr(loaded.model.config, "vocab_size", 0) or 0))
            scorer = FastScorer(
                loaded.model,
                pad_id=loaded.pad_id,
                device=self.device,
                max_tokens=self.batch_tokens,
                max_rows=self.batch_size,
                max_scored=max(1, self.logit_elements // vocab),
                chunk_tokens=DEFAULT_CHUNK_TOKENS["cpu" if self.device == "cpu" else "accelerator"],
            )
            if self.scoring == "plain":
                scorer.plain, scorer.path = True, "plain (asked for)"
            else:
                scorer.verify(_encode(loaded.tokenizer, PROBE_TEXT * 2), self.dtype_name)
            loaded.scorer = scorer
        return loaded.scorer

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
            if not math.isfinite(change):
                raise AdapterError(
                    f"adapter {arm.name!r} ({arm.path}) makes the model's outputs NaN or "
                    "infinite on a probe text: its weights hold NaN/inf, or overflow in "
                    f"{self.dtype_name}"
                )
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
                self._saved_base = hf_restore.save_targeted(model, self._base.path)
            model.set_adapter(adapter)
            model.merge_adapter()
            self._merged = adapter

    def _restore_base(self, model: Any) -> None:
        """Write the saved base weights back: exact, unlike unmerging's subtraction."""
        hf_restore.restore(model, self._saved_base)

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
            self._hashes[spec.path] = loading.weight_hashes(spec.path, self._hash_file)
        facts: dict[str, Any] = {
            "local": loading.is_local(spec.path),
            "dtype": self.dtype_name,
            "device": self.device,
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
            "threads": self.threads if self.threads is not None else self.threads_requested,
            "threads_policy": self.threads_policy,
            "add_bos_token": self.add_bos_token,
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

    def token_counts(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per arm and request kind: forward passes, tokens executed and the minimum
        needed, their ratio, and the scoring path used (see ``hf_fast``)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for arm, kinds in self._work.items():
            for kind, work in kinds.items():
                record: dict[str, Any] = work.as_dict()
                record["executed_per_minimum"] = (
                    round(work.executed_tokens / work.minimum_tokens, 4)
                    if work.minimum_tokens
                    else None
                )
                if kind != GENERATE and arm in self._paths:
                    record["scoring_path"] = self._paths[arm]
                out.setdefault(arm, {})[kind] = record
        return out

    def _counters(self, arm: str, kind: str) -> WorkCounters:
        return self._work.setdefault(arm, {}).setdefault(kind, WorkCounters())

    def tokenizer_facts(self, arm: str) -> dict[str, Any]:
        """Padding, truncation, template and BOS facts of the arm's tokenizer (for the
        manifest).

        Never loads weights for this: until the arm's model is loaded for its own turn,
        the facts come from its config and tokenizer files.
        """
        spec = self.arm(arm)
        loaded = self._full if spec.kind == "full" else self._group
        if loaded is not None:
            return dict(loaded.notes)
        path = spec.path if spec.kind == "full" else self._base.path
        tokenizer_path = path if loading.has_tokenizer(path) else self._base.path
        tokenizer = loading.load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        config = loading.load_config(path, trust_remote_code=self.trust_remote_code)
        described = _describe_loaded(
            _ConfigOnly(config), tokenizer, self.max_length_override, self._bos_policy(path)
        )
        return dict(described.notes)

    def token_budget(self, arm: str) -> TokenBudget:
        """The arm's tokenizer and context window, read from its files (no weights)."""
        spec = self.arm(arm)
        weights = spec.path if spec.kind == "full" else self._base.path
        tokenizer_path = weights if loading.has_tokenizer(weights) else self._base.path
        tokenizer = loading.load_tokenizer(tokenizer_path, trust_remote_code=self.trust_remote_code)
        config = loading.load_config(weights, trust_remote_code=self.trust_remote_code)
        window = _context_window(config, tokenizer, self.max_length_override)
        lead = int(self._bos_policy(weights)[0])  # the BOS put before every prompt

        def count(texts: Sequence[str]) -> list[int]:
            return [lead + len(_encode(tokenizer, text)) for text in texts]

        return TokenBudget(count, window, f"{tokenizer_path}|{window}")

    # ---- requests ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        with self._serving(arm) as loaded:
            encode = lambda text: _encode(loaded.tokenizer, text)  # noqa: E731
            unique = list(dict.fromkeys((r.context, r.continuation) for r in requests))
            rows = [
                model_input(
                    encode_pair(encode, c, x, loaded.prefix_token, bos_token=loaded.bos),
                    loaded.max_length,
                )
                for c, x in unique
            ]
            scored = self._score_rows(loaded, rows, arm, LOGLIKELIHOOD, share=True)
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
            scored = self._score_rows(loaded, rows, arm, ROLLING, share=False)
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
                        work=self._counters(arm, GENERATE),
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
        text = chat_prompt(loaded.tokenizer, request.prompt) if request.chat else request.prompt
        ids = _encode(loaded.tokenizer, text)
        if loaded.bos is not None and ids[:1] != [loaded.bos]:
            ids = [loaded.bos, *ids]  # a chat template may already start with BOS text
        return fit_prompt(
            ids,
            prefix_token=loaded.prefix_token,
            max_length=loaded.max_length,
            max_new_tokens=request.max_new_tokens,
        )

    def _score_rows(
        self, loaded: _Loaded, rows: Sequence[ModelInput], arm: str, kind: str, *, share: bool
    ) -> list[tuple[float, bool]]:
        """Score every row with the loaded model's scorer, counting the arm's work."""
        scorer = self._scorer(loaded)
        self._paths[arm] = scorer.path
        label = f"{arm}: {kind.replace('_', ' ')}"
        with progress_bar(total=len(rows), desc=label, enabled=self.progress) as bar:
            return scorer.score(rows, self._counters(arm, kind), share=share, progress=bar.update)


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


def _describe_loaded(
    model: Any, tokenizer: Any, override: int | None, bos_policy: tuple[bool, str] = (False, "")
) -> _Loaded:
    """Pad, prefix and BOS policy, made explicit and recorded (never silently patched).

    Raises:
        BackendError: BOS is asked for and the tokenizer has none.
    """
    prefix = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    add_bos, why = bos_policy
    if add_bos and tokenizer.bos_token_id is None:
        raise BackendError(f"the BOS policy ({why}) needs a BOS token; the tokenizer has none")
    bos = tokenizer.bos_token_id if add_bos else None
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
        "add_bos_token": add_bos,
        "bos_policy": why,
        "chat_template_sha256": (
            hashlib.sha256(template.encode("utf-8")).hexdigest()
            if isinstance(template, str)
            else None
        ),
    }
    return _Loaded(model, tokenizer, max_length, pad_id, prefix, notes, bos)


def _serving_for(choice: str, dtype_name: str) -> str:
    """``auto`` -> ``merge_restore`` in float32, ``switch`` in 16-bit dtypes."""
    if choice != "auto":
        return choice
    return "merge_restore" if dtype_name == "float32" else "switch"


@dataclass(frozen=True)
class _ConfigOnly:
    """A stand-in with just a model's config (for facts that need no weights)."""

    config: Any


def _free_memory(device: str) -> None:
    """Collect garbage and hand freed memory back (CUDA cache; glibc's heap, which keeps
    freed activations otherwise, so the next model would load on top of them)."""
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    _trim_heap()


def _trim_heap() -> None:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)

"""The Hugging Face backend: transformers + peft, one loaded base for every adapter arm.

Three parts, each in its own module:

* **loading and adapter serving** (``hf_models``, ``hf_serving``): a ``LoadSpec`` loaded
  by a ``ModelLoader``; the base wrapped with every adapter in a ``ModelGroup`` that
  proves each adapter changes the logits and serves each arm by a strategy object
  (base, merge-and-restore, switch), or several arms in one pass with per-row adapters
  where a measured rule says that is faster. The full fine-tune is a separate model,
  loaded when first used, after the group is released; so is each deployment form of an
  arm (``hf_forms``: merged, merged and quantized, unmerged, on a quantized base).
* **quantized bases** (``hf_quant``, ``base_quantization``): the base loaded by
  bitsandbytes as QLoRA training loaded it; adapters are then served unmerged on it.
* **scoring** (``hf_scorer``): log-likelihoods by the plain path, the shared context or
  the prefix trie (each prefix shared across items once), chosen by a self-check and a
  rule measured on the device at hand.
* **generation** (``hf_generate``): greedy or seeded sampling from a shared prefix's
  cache, rows of several arms in one batch where the rule says so.

Behind the response cache, ``prepare`` runs at the first request the cache cannot answer,
so a run served wholly from the cache loads no model (and imports no torch where it can
avoid it). ``arm_groups`` says which arms the run loop may hand over together (the base
and its adapters, unless ``adapter_serving`` is ``merge_restore`` or ``switch``);
``answer_arms`` answers them, in one pass or one arm after another as the rule decides.
Work is counted per arm and request kind (``token_counts``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
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
from fteval.backends.hf_forms import form_of, load_form, quantization_of, weight_bytes
from fteval.backends.hf_forward import RowAdapters, WorkCounters
from fteval.backends.hf_generate import DecodeCounters, Generator
from fteval.backends.hf_models import (
    BOS_POLICIES,
    LoadedModel,
    LoadSpec,
    ModelLoader,
    check_finite,
    context_window,
    described_without_weights,
    free_memory,
    probe_forward,
    probe_ids,
    token_lengths,
)
from fteval.backends.hf_quant import (
    Quantization,
    checkpoint_quantization,
    method_of,
    mismatch,
    quiet_kernel_notices,
    recorded_quantization,
    require_bitsandbytes,
)
from fteval.backends.hf_requests import ScoredRows, pair_rows, rolling_rows
from fteval.backends.hf_rules import (
    RuleBook,
    device_name,
    environment,
    library_versions,
    situation_of_model,
)
from fteval.backends.hf_scorer import STRATEGIES, Scorer
from fteval.backends.hf_serving import ADAPTER_SERVINGS, ModelGroup, alone_strategy
from fteval.errors import BackendError
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

# ``fast`` is the earlier name of ``auto``
SCORING_PATHS = (*STRATEGIES, "fast")
# Padded tokens per forward pass, and logits (positions x vocabulary) per pass, by device
# kind: enough rows for efficient matrix products, bounded activations and logits.
DEFAULT_BATCH_TOKENS = {"cpu": 1024, "accelerator": 32768}
DEFAULT_LOGIT_ELEMENTS = {"cpu": 1 << 26, "accelerator": 1 << 28}
# KV cache kept at once for later trie nodes, in batches of ``batch_tokens``
CACHE_BATCHES = {"cpu": 4, "accelerator": 2}
# Trie nodes longer than this run as chains of chunks (bounds activation memory on the
# CPU, where peak resident memory counts; accelerators run whole nodes).
DEFAULT_CHUNK_TOKENS = {"cpu": 256, "accelerator": None}
SHAPE_OF = {LOGLIKELIHOOD: "prefill", ROLLING: "prefill", GENERATE: "decode"}
# Time the fast scoring path against the plain one per device kind (``hf_scorer``)
MEASURE_SCORING = {"cpu": False, "accelerator": True}
# the adapter config fields that set its cost (a rule's situation)
ADAPTER_SHAPE = ("r", "lora_alpha", "target_modules", "peft_type", "use_dora")


class HFBackend(Backend):
    """transformers/peft backend; see the module docstring.

    Args:
        arms: base, adapters, optional full.
        dtype: ``auto`` | ``float32`` | ``float16`` | ``bfloat16``.
        device: ``auto`` | ``cpu`` | ``cuda[:N]`` | ``mps``.
        batch_size: requests per arm in one forward pass (results do not depend on it).
        max_length: context window override, in tokens.
        allow_base_mismatch: accept an adapter recorded against another base.
        allow_pickle: accept pickled (.bin) weights.
        trust_remote_code: allow model code from the checkpoint.
        progress: show progress bars.
        adapter_serving: ``auto``, ``merge_restore``, ``switch`` or ``per_row`` (see
            ``hf_serving``): ``auto`` serves an adapter alone merged in float32 and
            switched in 16-bit dtypes, and several arms in one pass where measured faster.
        batch_tokens: padded tokens per forward pass (default: 1024 on CPU, 32768 on
            accelerators); results do not depend on it.
        threads: CPU threads for torch (default: chosen when the first model loads,
            ``hf_loading.choose_threads``); ignored off the CPU.
        add_bos_token: ``auto`` | ``true`` | ``false`` (see ``hf_models``).
        scoring: ``auto`` (default), ``prefix_trie``, ``shared_context`` or ``plain`` (the
            reference path); see ``hf_scorer``.
        loader: loads each model (default: ``ModelLoader``).
        rulebook: where measured speed rules are kept (default: the user cache folder;
            see ``hf_rules``).
        base_quantization: ``nf4`` | ``fp4`` | ``int8``: load the base quantized
            (bitsandbytes, computing in ``dtype``); adapters are served unmerged on it.
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
        scoring: str = "auto",
        loader: ModelLoader | None = None,
        rulebook: RuleBook | None = None,
        base_quantization: str | None = None,
    ) -> None:
        super().__init__(arms)
        for name, value, allowed in (
            ("adapter_serving", adapter_serving, ADAPTER_SERVINGS),
            ("add_bos_token", add_bos_token, BOS_POLICIES),
            ("scoring", scoring, SCORING_PATHS),
        ):
            if value not in allowed:
                raise BackendError(f"{name} must be one of {allowed}, got {value!r}")
        quiet_kernel_notices()  # before PEFT imports bitsandbytes (see hf_quant)
        self.device = loading.resolve_device(device)
        self.dtype_name = loading.resolve_dtype(dtype, self.device)
        self.adapter_serving = adapter_serving
        self.device_kind = "cpu" if self.device == "cpu" else "accelerator"
        self.batch_tokens = batch_tokens or DEFAULT_BATCH_TOKENS[self.device_kind]
        self.threads_requested = threads
        self.threads: int | None = None  # chosen when the first model loads (CPU only)
        self.threads_policy: str | None = None
        self.add_bos_token = add_bos_token
        self.scoring = "auto" if scoring == "fast" else scoring
        self.batch_size = batch_size
        self.max_length_override = max_length
        self.allow_base_mismatch = allow_base_mismatch
        self.allow_pickle = allow_pickle
        self.trust_remote_code = trust_remote_code
        self.progress = progress
        self.loader = loader or ModelLoader()
        self.rulebook = rulebook or RuleBook()
        base = self.base_arm()
        if base is None:
            raise BackendError("the hf backend needs a base arm (kind 'base') to serve the others")
        self._base = base
        self.base_quantization = (
            Quantization(base_quantization, compute_dtype=self.dtype_name)
            if base_quantization
            else None
        )
        self._checkpoint_quantization = (
            checkpoint_quantization(base.path) if loading.is_local(base.path) else None
        )
        if adapter_serving == "merge_restore" and self._base_quantized:
            raise BackendError(
                "adapter_serving merge_restore merges adapters into the base, which is "
                "quantized here (a lossy merge): serve them switched, or evaluate a merged "
                "deployment as a form (--form NAME=ARM:merged-nf4)"
            )
        self._adapters = [a for a in self.arms if a.kind == "adapter"]
        self._quantization_warnings: dict[str, dict[str, str]] = {}
        self._adapter_configs: dict[str, dict[str, Any]] = {}
        self._adapter_warnings: dict[str, str] = {}
        self._probe_change: dict[str, float] = {}
        self._serving_rules: dict[str, dict[str, Any]] = {}
        self._group: ModelGroup | None = None
        self._own: dict[str, LoadedModel] = {}  # full fine-tune, forms: a model each
        self._bytes: dict[str, dict[str, int]] = {}
        self._scorers: dict[int, Scorer] = {}
        self._done: set[str] = set()
        self._hashes: dict[str, dict[str, str]] = {}
        self._hash_file: Callable[[Path], str] = sha256_file
        self.decode_counters = DecodeCounters()
        self._work: dict[str, dict[str, WorkCounters]] = {}
        self._paths: dict[str, dict[str, str]] = {}
        self._rules: dict[str, dict[str, Any]] = {}

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
            if arm.kind not in ("adapter", "form") and loading.is_local(arm.path):
                loading.check_weight_format(arm.path, allow_pickle=self.allow_pickle)
        self._check_quantization()

    @property
    def _base_quantized(self) -> bool:
        """Whether the base is served quantized (asked for, or its checkpoint is)."""
        return self.base_quantization is not None or self._checkpoint_quantization is not None

    def _check_quantization(self) -> None:
        """Check that bitsandbytes is present where anything loads quantized and that a
        pre-quantized base is not quantized again; warn per adapter trained on other base
        weights than the run serves it on."""
        quantized = [a.name for a in self.arms if self._served_quantization(a.name)]
        if quantized and self._checkpoint_quantization is None:
            require_bitsandbytes(f"quantized weights (arms {', '.join(quantized)})")
        if self.base_quantization is not None and self._checkpoint_quantization is not None:
            raise BackendError(
                f"base {self._base.path}: its checkpoint is already quantized (config.json "
                "has a quantization_config); drop base_quantization"
            )
        for arm in self.arms:
            self._check_four_bit_lora(arm)
        served = self._served_quantization(self._base.name)
        for arm in self._adapters:
            recorded = recorded_quantization(arm.path, self._base.path)
            warning = mismatch(arm.name, recorded, served.get("method") if served else None)
            if warning and arm.name not in self._quantization_warnings:  # said once
                logger.warning("%s", warning["message"])
                self._quantization_warnings[arm.name] = warning

    def _check_four_bit_lora(self, arm: ArmSpec) -> None:
        """Refuse an adapter of transposed (Conv1D, GPT-2 style) layers on 4-bit weights:
        PEFT attaches it but its forward pass fails on them (measured with peft 0.22)."""
        if arm.kind not in ("adapter", "form") or self._weights_arm(arm.name).kind != "adapter":
            return
        served = self._served_quantization(arm.name) or {}
        unmerged = arm.kind == "adapter" or not form_of(arm).merge
        if not (unmerged and served.get("method") in ("nf4", "fp4")):
            return
        source = self._weights_arm(arm.name)
        config = self._adapter_configs.get(source.name) or loading.read_adapter_config(source.path)
        if config.get("fan_in_fan_out"):
            method = served["method"]
            raise BackendError(
                f"arm {arm.name!r}: adapter {source.name!r} targets transposed (Conv1D, "
                f"GPT-2 style) layers (fan_in_fan_out), which PEFT cannot serve on {method} "
                f"weights; use int8, or a merged form (merged-{method})"
            )

    def prepare(self) -> None:
        self.check_inputs()
        if any(a.kind in ("base", "adapter") for a in self.arms):
            self._load_group()

    def load_spec(self, arm: str) -> LoadSpec:
        """What loading ``arm``'s model means (adapters and their forms: their base's
        spec; a merged form's quantization comes after the merge, ``hf_forms``)."""
        spec = self.arm(arm)
        own = self._weights_arm(arm).kind == "full"
        path = spec.path if own else self._base.path
        tokenizer = path if not own or loading.has_tokenizer(path) else self._base.path
        quantization = None
        if spec.kind == "form":
            form = form_of(spec)
            quantization = None if form.merge else quantization_of(form, self.dtype_name)
        elif spec.kind != "full":
            quantization = self.base_quantization
        return LoadSpec(
            path, tokenizer, self.dtype_name, self.device, self.add_bos_token,
            self.max_length_override, self.allow_pickle, self.trust_remote_code, quantization,
        )  # fmt: skip

    def _weights_arm(self, arm: str) -> ArmSpec:
        """The arm whose weights ``arm`` serves (a form's source; the arm itself)."""
        spec = self.arm(arm)
        return self.arm(spec.source) if spec.kind == "form" else spec

    def _served_quantization(self, arm: str) -> dict[str, Any] | None:
        """How ``arm``'s served weights are quantized (facts), or None."""
        spec = self.arm(arm)
        if spec.kind == "form":
            quantization = quantization_of(form_of(spec), self.dtype_name)
            return quantization.facts() if quantization else None
        if spec.kind == "full":
            return None
        if self.base_quantization is not None:
            return self.base_quantization.facts()
        if self._checkpoint_quantization is not None:
            config = self._checkpoint_quantization
            method = method_of(config) or str(config.get("quant_method", "unknown"))
            return {"method": method, "from": "the base checkpoint", "config": config}
        return None

    def _load(self, spec: LoadSpec) -> LoadedModel:
        loaded = self.loader.load(spec)
        if self.device == "cpu" and self.threads is None:
            self.threads, self.threads_policy = loading.choose_threads(
                self.threads_requested, lambda: probe_forward(loaded, self.device)
            )
            logger.info("torch CPU threads: %d (%s)", self.threads, self.threads_policy)
        check_finite(loaded, self.device, spec.path, self.dtype_name)
        return loaded

    def _load_group(self) -> ModelGroup:
        if self._group is None:
            logger.info("loading base model %s", self._base.path)
            loaded = self._load(self.load_spec(self._base.name))
            self._group = ModelGroup(
                loaded, self._base, self._adapters, setting=self.adapter_serving,
                dtype=self.dtype_name, device=self.device, rows=self.batch_size,
                rulebook=self.rulebook, situation=self._situation(self._base.name),
                mergeable=not self._base_quantized,
            )  # fmt: skip
            self._probe_change.update(self._group.probe_change)
            self._serving_rules = self._group.rules
            measured = weight_bytes(self._group.model)
            self._bytes.update({a.name: measured for a in (self._base, *self._adapters)})
        return self._group

    def _load_own(self, arm: str) -> LoadedModel:
        """The model of an arm served alone (the full fine-tune, a form), loaded once."""
        if arm not in self._own:
            spec = self.arm(arm)
            if spec.kind == "form":
                logger.info("loading %s (%s of %s)", arm, spec.form, spec.source)
                loaded = load_form(
                    self._load, self.load_spec(arm), spec, self.arm(spec.source), form_of(spec)
                )
            else:
                logger.info("loading full fine-tune %s", spec.path)
                loaded = self._load(self.load_spec(arm))
            self._own[arm] = loaded
            self._bytes[arm] = weight_bytes(loaded.model)
        return self._own[arm]

    def _scorer(self, loaded: LoadedModel, arm: str) -> Scorer:
        """The loaded model's scorer, self-checked against the plain path on first use."""
        scorer = self._scorers.get(id(loaded))
        if scorer is None:
            vocab = max(1, int(getattr(loaded.model.config, "vocab_size", 0) or 0))
            scorer = Scorer(
                loaded.model,
                pad_id=loaded.pad_id,
                device=self.device,
                max_tokens=self.batch_tokens,
                max_rows=self.batch_size,
                max_scored=max(1, DEFAULT_LOGIT_ELEMENTS[self.device_kind] // vocab),
                chunk_tokens=DEFAULT_CHUNK_TOKENS[self.device_kind],
                cache_tokens=CACHE_BATCHES[self.device_kind] * self.batch_tokens,
                strategy=self.scoring,
                measure=MEASURE_SCORING[self.device_kind],
                rulebook=self.rulebook,
                situation=self._situation(arm),
            )
            scorer.verify(probe_ids(loaded, repeat=2), self.dtype_name)
            self._scorers[id(loaded)] = scorer
        return scorer

    def _situation(self, arm: str) -> dict[str, Any]:
        """What a measured rule for the model serving ``arm`` is kept by (``hf_rules``)."""
        spec = self.arm(arm)
        situation = {
            "device": device_name(self.device),
            "libraries": library_versions(),
            "environment": environment(),
            "dtype": self.dtype_name,
            "model": situation_of_model(self.load_spec(arm).path),
            "adapters": [
                {k: self._adapter_configs.get(a.name, {}).get(k) for k in ADAPTER_SHAPE}
                for a in self._adapters
            ],
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
        }
        served = self._served_quantization(arm)
        if served is not None or spec.kind == "form":  # unchanged for plain arms
            situation["weights"] = {"form": spec.form, "quantization": served}
        return situation

    # ---- which arms go together ----

    def arm_groups(self) -> list[tuple[str, ...]]:
        """The base with its adapters (one pass where the rule says so), the full arm and
        each form alone; every arm alone under ``merge_restore`` or ``switch``."""
        names = [a.name for a in self.arms]
        if self.adapter_serving in ("merge_restore", "switch") or not self._adapters:
            return [(name,) for name in names]
        group = tuple(a.name for a in self.arms if a.kind in ("base", "adapter"))
        return [group, *((a.name,) for a in self.arms if a.kind in ("full", "form"))]

    def answer_arms(self, kind: str, work: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Every arm's answers to its own requests: the group's arms in one pass where
        the measured rule says so, else one arm after another."""
        arms = list(work)
        group = {a.name for a in self.arms if a.kind in ("base", "adapter")}
        if len(arms) > 1 and set(arms) <= group and self._load_group().together_for(SHAPE_OF[kind]):
            return self._answer(kind, work)
        merged = self._group.merged if self._group is not None else None
        order = sorted(arms, key=lambda a: a != merged)  # the merged arm first: one switch less
        answers = {arm: self._answer(kind, {arm: work[arm]})[arm] for arm in order}
        return {arm: answers[arm] for arm in arms}

    @contextlib.contextmanager
    def _serving(self, arms: Sequence[str]) -> Iterator[tuple[LoadedModel, RowAdapters]]:
        if self.arm(arms[0]).kind in ("full", "form"):
            yield self._load_own(arms[0]), RowAdapters()
            return
        group = self._load_group()
        serving = group.together(arms) if len(arms) > 1 else group.serving(arms[0])
        with serving as adapters:
            yield group.loaded, adapters

    def _answer(self, kind: str, work: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        arms = list(work)
        with self._serving(arms) as (loaded, adapters):
            if kind == GENERATE:
                return self._generate(loaded, adapters, work)
            return self._score(kind, loaded, adapters, work)

    # ---- requests ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        return self.answer_arms(LOGLIKELIHOOD, {arm: requests})[arm]

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        return self.answer_arms(ROLLING, {arm: requests})[arm]

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        """Decode each request; requests sharing settings are batched, longest first."""
        return self.answer_arms(GENERATE, {arm: requests})[arm]

    def _score(
        self,
        kind: str,
        loaded: LoadedModel,
        adapters: RowAdapters,
        work: Mapping[str, Sequence[Any]],
    ) -> dict[str, list[Any]]:
        """Encode each arm's requests, score every row in one scorer call, and split the
        results back per arm."""
        builders: dict[str, Callable[[LoadedModel, Any], ScoredRows]] = {
            LOGLIKELIHOOD: pair_rows,
            ROLLING: rolling_rows,
        }
        plans = {arm: builders[kind](loaded, requests) for arm, requests in work.items()}
        rows = [row for plan in plans.values() for row in plan.rows]
        arms = [arm for arm, plan in plans.items() for _ in plan.rows]
        scorer = self._scorer(loaded, next(iter(work)))
        label = f"{'+'.join(work)}: {kind.replace('_', ' ')}"
        with progress_bar(total=len(rows), desc=label, enabled=self.progress) as bar:
            scored = scorer.score(rows, arms, self._counters(list(work), kind), kind=kind,
                                  adapters=adapters, progress=bar.update)  # fmt: skip
        out, cursor = {}, 0
        for arm, plan in plans.items():
            out[arm] = plan.results(scored[cursor : cursor + len(plan.rows)])
            cursor += len(plan.rows)
            self._paths.setdefault(arm, {})[kind] = scorer.path(kind)
            if kind in scorer.rules:
                self._rules.setdefault(arm, {})[kind] = scorer.rules[kind]
        return out

    def _generate(
        self, loaded: LoadedModel, adapters: RowAdapters, work: Mapping[str, Sequence[Any]]
    ) -> dict[str, list[GenerationResult]]:
        unique = {arm: list(dict.fromkeys(requests)) for arm, requests in work.items()}
        items = [(arm, request) for arm, requests in unique.items() for request in requests]
        generator = Generator(
            loaded, device=self.device, batch_size=self.batch_size,
            chunk_tokens=DEFAULT_CHUNK_TOKENS[self.device_kind], counters=self.decode_counters,
        )  # fmt: skip
        label = f"{'+'.join(work)}: generate"
        with progress_bar(total=len(items), desc=label, enabled=self.progress) as bar:
            results = generator.generate(items, self._counters(list(work), GENERATE),
                                         adapters=adapters, progress=bar.update)  # fmt: skip
        by_item = dict(zip(items, results))
        return {arm: [by_item[(arm, r)] for r in requests] for arm, requests in work.items()}

    def _counters(self, arms: Sequence[str], kind: str) -> dict[str, WorkCounters]:
        return {
            arm: self._work.setdefault(arm, {}).setdefault(kind, WorkCounters()) for arm in arms
        }

    # ---- freeing ----

    def release(self, arm: str) -> None:
        self._done.add(arm)
        own = self._own.pop(arm, None)
        if own is not None:
            self._scorers.pop(id(own), None)
            del own
        group = {a.name for a in self.arms if a.kind in ("base", "adapter")}
        if group <= self._done and self._group is not None:
            self._scorers.pop(id(self._group.loaded), None)
            self._group.release()
            self._group = None
        free_memory(self.device)

    def close(self) -> None:
        if self._group is not None:
            self._group.release()
        self._group = None
        self._own = {}
        self._scorers = {}
        free_memory(self.device)

    # ---- identity and facts ----

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
        served = self._served_quantization(arm)
        if served is not None:
            facts["quantization"] = served
        if spec.kind == "adapter" or self._weights_arm(arm).kind == "adapter":
            source = self._weights_arm(arm)
            facts["adapter_config"] = self._adapter_configs.get(source.name) or (
                loading.read_adapter_config(source.path)
            )
            facts["adapter_serving"] = self._serving_name()
            facts["adapters_together"] = self._together_policy()
            facts["base_path"] = self._base.path
            facts["base_weights_sha256"] = dict(self.identity(self._base.name).weights_sha256)
            if spec.name in self._probe_change:
                facts["probe_max_abs_logit_change"] = self._probe_change[spec.name]
            if spec.name in self._adapter_warnings:
                facts["base_mismatch"] = self._adapter_warnings[spec.name]
            if spec.name in self._quantization_warnings:
                facts["quantization_mismatch"] = self._quantization_warnings[spec.name]
        if spec.kind in ("base", "adapter") and self._serving_rules:
            facts["adapter_serving_rule"] = dict(self._serving_rules)
        if spec.kind == "form":
            facts.pop("adapters_together", None)  # a form is served alone
            facts.update(self._form_facts(spec))
        return ArmIdentity(self.name, spec.path, self._hashes[spec.path], facts)

    def _form_facts(self, spec: ArmSpec) -> dict[str, Any]:
        """A form arm's own facts: its form, source and how it is served."""
        form = form_of(spec)
        facts: dict[str, Any] = {"form": spec.form, "source_arm": spec.source}
        if self._weights_arm(spec.name).kind == "adapter":
            facts["adapter_serving"] = "merged" if form.merge else "switch"
        return facts

    def _serving_name(self) -> str:
        """How an adapter arm is served alone (known before loading)."""
        if self.adapter_serving == "per_row":
            return "per_row"
        return alone_strategy(
            self.adapter_serving, self.dtype_name, mergeable=not self._base_quantized
        )

    def _together_policy(self) -> str:
        """When the group's arms share passes: ``always``, ``never`` or ``measured``."""
        if self.adapter_serving == "per_row":
            return "always"
        return "measured" if self.adapter_serving == "auto" else "never"

    def counters(self) -> dict[str, int]:
        """Decode passes, prefill passes, row-steps and generated tokens so far."""
        return self.decode_counters.as_dict()

    def token_counts(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per arm and request kind: forward passes, tokens executed and the minimum
        needed (each distinct prefix once), their ratio, and the scoring path used."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for arm, kinds in self._work.items():
            for kind, work in kinds.items():
                record: dict[str, Any] = work.as_dict()
                record["executed_per_minimum"] = (
                    round(work.executed_tokens / work.minimum_tokens, 4)
                    if work.minimum_tokens
                    else None
                )
                if kind in self._paths.get(arm, {}):
                    record["scoring_path"] = self._paths[arm][kind]
                if kind in self._rules.get(arm, {}):
                    record["scoring_rule"] = self._rules[arm][kind]
                out.setdefault(arm, {})[kind] = record
        return out

    def tokenizer_facts(self, arm: str) -> dict[str, Any]:
        """Padding, truncation, template and BOS facts of the arm's tokenizer (for the
        manifest).

        Never loads weights for this: until the arm's model is loaded for its own turn,
        the facts come from its config and tokenizer files.
        """
        spec = self.arm(arm)
        loaded = self._own.get(arm)
        if spec.kind in ("base", "adapter") and self._group is not None:
            loaded = self._group.loaded
        if loaded is not None:
            return dict(loaded.notes)
        return dict(described_without_weights(self.load_spec(arm)).notes)

    def weight_bytes(self) -> dict[str, dict[str, int]]:
        """Per arm served so far: its model's ``memory`` and ``serialized`` bytes
        (``hf_forms.weight_bytes``; the base and its adapters share one model)."""
        return {arm: dict(measured) for arm, measured in self._bytes.items()}

    def token_budget(self, arm: str) -> TokenBudget:
        """The arm's tokenizer and context window, read from its files (no weights)."""
        spec = self.load_spec(arm)
        tokenizer = loading.load_tokenizer(
            spec.tokenizer_path, trust_remote_code=self.trust_remote_code
        )
        config = loading.load_config(spec.path, trust_remote_code=self.trust_remote_code)
        window = context_window(config, tokenizer, self.max_length_override)
        lead = int(spec.bos_policy()[0])  # the BOS put before every prompt

        def count(texts: Sequence[str]) -> list[int]:
            return token_lengths(tokenizer, texts, lead)

        return TokenBudget(count, window, f"{spec.tokenizer_path}|{window}")

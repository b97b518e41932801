"""Adapter serving for the HF backend: one loaded base for the base arm and every adapter.

The base is loaded once and wrapped in a ``PeftModel`` holding every adapter
(``ModelGroup``). Before any scoring, each adapter is proven to change the model's
logits on a probe; an adapter that changes nothing is an error. Each arm is served by a
strategy object (``ArmServing``) that puts the model in that arm's state for a block:

* ``BaseOnly``: the base arm; nothing merged, adapters disabled (exact).
* ``Merged`` (``merge_restore``): the adapter's LoRA weights merged into the base
  (``merge_adapter``), so a forward pass costs what the base costs; before the next arm
  the exact base weights are written back (``hf_restore``), unlike ``unmerge``'s
  subtraction, which rounds.
* ``Switched`` (``switch``): ``set_adapter``; the LoRA product runs beside each
  targeted layer on every pass (no extra memory, slower).

**Several arms in one pass** (``ModelGroup.together``): nothing merged, and each row of a
batch runs with its own arm's adapter (PEFT's mixed batches: the base matmul once for
every row, each row's low-rank update added for its own adapter, as multi-LoRA servers
batch them). On the CPU, decoding is bound by reading the weights, so greedy generation
for base + N adapters then costs little more than the base alone.

**The measured rule** (``adapter_serving="auto"``): per shape of work — ``prefill`` (a
few rows of many tokens: log-likelihoods, rolling windows) and ``decode`` (one token per
row on a KV cache: generation) — the group times, on the device at hand, one pass over
every arm's rows together against one pass per arm served alone (merged in float32,
switched in 16-bit dtypes, where a merge rounds small LoRA updates away), best of two
after a warm-up, on small probes (prefill: one row of 32 tokens per arm; decode: a
batch's rows per arm, one step on an 8-token cache), so the rule costs a few hundred
tokens of work. Arms go together where that is faster and the per-row log-probabilities
agree with each arm's own within the self-check's tolerance. A rule is kept per situation
(``hf_rules.RuleBook``) and recalled by later runs, so their numbers repeat bit for bit.
The timings, the choice and why are recorded per arm in the manifest
(``adapter_serving_rule``). ``per_row``
forces the mixed batches (one arm alone too), ``merge_restore`` and ``switch`` never mix.

``benchmarks/adapter_serving.py`` measures the strategies on any device.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fteval.backends import hf_loading as loading
from fteval.backends import hf_restore
from fteval.backends.closeness import max_difference
from fteval.backends.hf_forward import (
    BASE_ROWS,
    RowAdapters,
    cache_keyword,
    cache_of,
    select_cache_rows,
)
from fteval.backends.hf_models import LoadedModel, probe_ids
from fteval.backends.hf_rules import RuleBook
from fteval.errors import AdapterError
from fteval.records import ArmSpec

logger = logging.getLogger(__name__)
clock = time.perf_counter  # what a measured rule is timed with (seconds)

ADAPTER_SERVINGS = ("auto", "merge_restore", "switch", "per_row")
SHAPES = ("prefill", "decode")
PROBE_MIN_CHANGE = 1e-6  # max |Δlogit| at or below this means "no change"
# largest |Δ log-probability| per position between per-row and one-arm serving accepted
# by the rule's self-check (float32, 16-bit dtypes): a row served with another row's
# adapter differs by far more
AGREEMENT = {"float32": 1e-4, "16-bit": 0.1}
TIMINGS = 2  # timed passes per way (the best counts), after a warm-up


class ArmServing(abc.ABC):
    """How the group's model serves one arm.

    Attributes:
        name: the strategy's name (recorded in the manifest).
        row_name: the arm's adapter name in a mixed batch (``BASE_ROWS`` for the base).
    """

    name: str = "serving"

    def __init__(self, row_name: str) -> None:
        self.row_name = row_name

    @abc.abstractmethod
    def active(self, group: ModelGroup) -> contextlib.AbstractContextManager[None]:
        """Within the block, the group's model computes this arm's outputs."""


class BaseOnly(ArmServing):
    """The base arm: nothing merged, adapters disabled."""

    name = "base"

    @contextlib.contextmanager
    def active(self, group: ModelGroup) -> Iterator[None]:
        group.merge_only(None)
        if not group.adapters:
            yield
            return
        with group.model.disable_adapter():
            yield


class Merged(ArmServing):
    """An adapter merged into the base weights (exact base restored afterwards)."""

    name = "merge_restore"

    @contextlib.contextmanager
    def active(self, group: ModelGroup) -> Iterator[None]:
        group.merge_only(self.row_name)
        yield


class Switched(ArmServing):
    """An adapter computed beside each targeted layer (nothing merged)."""

    name = "switch"

    @contextlib.contextmanager
    def active(self, group: ModelGroup) -> Iterator[None]:
        group.merge_only(None)
        group.model.set_adapter(self.row_name)
        yield


def alone_strategy(setting: str, dtype: str, *, mergeable: bool = True) -> str:
    """How an adapter arm is served alone: ``merge_restore`` in float32 under ``auto``,
    ``switch`` in 16-bit dtypes (a merge would round small LoRA updates away) and on a
    quantized base (``mergeable`` False: a merge into quantized weights is lossy)."""
    if setting in ("merge_restore", "switch"):
        return setting
    if setting == "per_row" or not mergeable:
        return "switch"
    return "merge_restore" if dtype == "float32" else "switch"


class ModelGroup:
    """The loaded base serving the base arm and its adapters (see the module docstring).

    Args:
        loaded: the base, loaded.
        base: the base arm.
        adapters: the adapter arms it serves.
        setting: one of ``ADAPTER_SERVINGS``.
        dtype: the dtype name (sets the alone strategy and the self-check's tolerance).
        device: where the probes' inputs go.
        rows: rows per arm in the rule's decode probe (the batch size, at most 16).
        rulebook: where measured rules are kept and recalled (default: not kept).
        situation: what a kept rule is keyed by besides the shape (device, model,
            adapters, dtype, batch settings).
        mergeable: False for a quantized base: adapters are never merged into it.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        base: ArmSpec,
        adapters: Sequence[ArmSpec],
        *,
        setting: str,
        dtype: str,
        device: str,
        rows: int = 16,
        rulebook: RuleBook | None = None,
        situation: Mapping[str, Any] | None = None,
        mergeable: bool = True,
    ) -> None:
        self.loaded = loaded
        self.mergeable = mergeable
        self.base = base
        self.adapters = list(adapters)
        self.setting = setting
        self.dtype = dtype
        self.device = device
        self.rows = max(1, min(16, rows))
        self.probe_change: dict[str, float] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.rulebook = rulebook or RuleBook(keep=False)
        self.situation = dict(situation or {})
        self._merged: str | None = None
        self._saved_base: dict[str, Any] = {}
        alone = {"merge_restore": Merged, "switch": Switched}[
            alone_strategy(setting, dtype, mergeable=mergeable)
        ]
        self.servings: dict[str, ArmServing] = {base.name: BaseOnly(BASE_ROWS)}
        self.servings.update({arm.name: alone(arm.name) for arm in self.adapters})
        if self.adapters:
            loaded.model = self._attach()

    @property
    def model(self) -> Any:
        """The (PEFT-wrapped) model."""
        return self.loaded.model

    @property
    def merged(self) -> str | None:
        """The adapter merged into the base weights now (None: none)."""
        return self._merged

    # ---- adapters ----

    def _attach(self) -> Any:
        from peft import PeftModel

        model = None
        for arm in self.adapters:
            try:
                with loading.quiet_transformers():
                    if model is None:
                        model = PeftModel.from_pretrained(
                            self.loaded.model, arm.path, adapter_name=arm.name, is_trainable=False
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
        for arm in self.adapters:
            change = self._probe(model, arm.name)
            self.probe_change[arm.name] = change
            if not math.isfinite(change):
                raise AdapterError(
                    f"adapter {arm.name!r} ({arm.path}) makes the model's outputs NaN or "
                    "infinite on a probe text: its weights hold NaN/inf, or overflow in "
                    f"{self.dtype}"
                )
            if change <= PROBE_MIN_CHANGE:
                raise AdapterError(
                    f"adapter {arm.name!r} ({arm.path}) does not change the model's outputs: "
                    f"max |Δlogit| on a probe = {change:.3g}. It may be untrained (LoRA B "
                    "initialised to zero) or target modules the base does not use."
                )
        return model

    def _probe(self, model: Any, adapter: str) -> float:
        import torch

        batch = torch.tensor([probe_ids(self.loaded)], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            with model.disable_adapter():
                plain = model(input_ids=batch).logits.float()
            model.set_adapter(adapter)
            adapted = model(input_ids=batch).logits.float()
        return float((adapted - plain).abs().max().item())

    def merge_only(self, adapter: str | None) -> None:
        """Leave exactly ``adapter`` merged into the base (None: the exact base)."""
        if self._merged == adapter:
            return
        model = self.model
        if self._merged is not None:
            with warnings.catch_warnings():  # layers the adapter does not target: nothing to do
                warnings.simplefilter("ignore", UserWarning)
                model.unmerge_adapter()
            hf_restore.restore(model, self._saved_base)  # exact, unlike the subtraction
            self._merged = None
        if adapter is not None:
            if not self._saved_base:
                self._saved_base = hf_restore.save_targeted(model, self.base.path)
            model.set_adapter(adapter)
            model.merge_adapter()
            self._merged = adapter

    def saved_base_bytes(self) -> int:
        """Bytes of base weights held as copies for restoring (0: read back from disk)."""
        return hf_restore.kept_in_memory(self._saved_base)

    # ---- serving ----

    @contextlib.contextmanager
    def serving(self, arm: str) -> Iterator[RowAdapters]:
        """Within the block, the model serves ``arm`` alone (``per_row``: as the only
        arm of mixed batches); yields what each forward pass must be given."""
        if self.setting == "per_row" and self.adapters:
            with self.together([arm]) as adapters:
                yield adapters
            return
        with self.servings[arm].active(self):
            yield RowAdapters()

    @contextlib.contextmanager
    def together(self, arms: Sequence[str]) -> Iterator[RowAdapters]:
        """Within the block, each row of a batch runs with its own arm's adapter; yields
        the per-row names to give each forward pass."""
        self.merge_only(None)
        if self.adapters:
            self.model.set_adapter(self.adapters[0].name)  # mixed batches need one enabled
        yield RowAdapters({arm: self.servings[arm].row_name for arm in arms})

    def arm_serving(self, arm: str) -> str:
        """The strategy name recorded for ``arm`` (``per_row`` when forced)."""
        if self.setting == "per_row" and self.adapters:
            return "per_row"
        return self.servings[arm].name

    # ---- the measured rule ----

    def together_for(self, shape: str) -> bool:
        """Whether several arms' ``shape`` work goes in one pass (see the module docstring)."""
        if not self.adapters or self.setting in ("merge_restore", "switch"):
            return False
        if self.setting == "per_row":
            return True
        if shape not in self.rules:
            situation = {**self.situation, "rule": "adapters_together", "shape": shape}
            rule = self.rulebook.recall_or_measure(situation, lambda: self._measure(shape))
            if rule["recalled"]:
                rule["why"] = f"{rule['why']}; recalled (measured {rule.get('measured_at')})"
            self.rules[shape] = rule
            logger.info("adapter serving for %s work: %s", shape, rule["why"])
        return bool(self.rules[shape]["together"])

    def _measure(self, shape: str) -> dict[str, Any]:
        """Time one mixed pass over every arm's probe rows against one pass per arm."""
        import torch

        arms = [self.base.name, *(a.name for a in self.adapters)]
        rows, width = (1, 32) if shape == "prefill" else (self.rows, 9)
        ids = (probe_ids(self.loaded, repeat=8) * 8)[: min(width, self.loaded.max_length - 1)]
        batch = torch.tensor([ids] * rows, dtype=torch.long, device=self.device)
        with self.together(arms) as adapters:
            mixed = torch.cat([batch] * len(arms))
            names = [arm for arm in arms for _ in range(rows)]
            per_row_s, per_row_logits = _timed(self.model, mixed, shape, adapters.kwargs(names))
        alone_s, alone_logits, switch_s = 0.0, [], 0.0
        for arm in arms:
            began = clock()
            with self.servings[arm].active(self):
                switch_s += clock() - began
                seconds, logits = _timed(self.model, batch, shape, {})
            alone_s += seconds
            alone_logits.append(logits)
        self.merge_only(None)
        worst = max_difference(
            torch.cat(alone_logits).flatten().tolist(), per_row_logits.flatten().tolist()
        )
        tolerance = AGREEMENT["float32" if self.dtype == "float32" else "16-bit"]
        together = per_row_s <= alone_s and worst <= tolerance
        alone = alone_strategy(self.setting, self.dtype, mergeable=self.mergeable)
        why = (
            f"{'per_row' if together else alone}: one mixed pass {per_row_s * 1e3:.2f} ms, "
            f"one pass per arm ({alone}) {alone_s * 1e3:.2f} ms, {len(arms)} arms x {rows} "
            f"rows x {len(ids)} tokens"
        )
        if worst > tolerance:
            why += f"; per-row log-probabilities differed by {worst:.3g} (> {tolerance:g})"
        return {
            "together": together,
            "why": why,
            "per_row_s": round(per_row_s, 6),
            "alone_s": round(alone_s, 6),
            "alone": alone,
            "switch_s": round(switch_s, 6),
            "max_abs_logprob_difference": worst,
        }

    def release(self) -> None:
        """Forget the saved base weights and the merge (the model is being freed)."""
        self._saved_base = {}
        self._merged = None


def _timed(model: Any, ids: Any, shape: str, extra: dict[str, Any]) -> tuple[float, Any]:
    """Best of ``TIMINGS`` timings (after a warm-up) of one ``shape`` pass over ``ids``, and the
    log-probabilities it gave (prefill: every position; decode: the step's)."""
    import torch

    with torch.inference_mode():
        if shape == "decode":
            cache = cache_of(model(input_ids=ids[:, :-1], use_cache=True, **extra))
            every = torch.arange(int(ids.shape[0]), device=ids.device)
            keyword = cache_keyword(model)

            def run() -> Any:
                step = select_cache_rows(cache, every)  # appended to by concatenation
                inputs = {"input_ids": ids[:, -1:], "use_cache": True, keyword: step}
                return model(**inputs, **extra)

        else:

            def run() -> Any:
                return model(input_ids=ids, **extra)

        logits = run().logits
        best = float("inf")
        for _ in range(TIMINGS):
            began = clock()
            run()
            best = min(best, clock() - began)
    return best, logits.float().log_softmax(dim=-1)

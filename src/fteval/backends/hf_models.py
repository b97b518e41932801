"""Loading for the HF backend: a load spec in, a described model out.

``LoadSpec`` says what to load and how (weights, tokenizer, dtype, device, safety
switches, the BOS policy, a window override). ``ModelLoader.load`` turns it into a
``LoadedModel``: the model in eval mode, its tokenizer and every fact recorded about
them (pad, prefix and BOS policy, context window). Other forms of the same weights (a
quantized base, a merged deployment form) are other specs (``quantization``) or built on
top of one (``hf_forms``): the rest of the backend sees only ``LoadedModel``.

BOS policy (``add_bos_token``): ``false`` encodes without special tokens; ``true`` puts
the tokenizer's BOS before every context, text and prompt; ``auto`` follows
lm-evaluation-harness: no special tokens for causal LMs, except the families it forces BOS
for (Gemma). The resolved policy is recorded in the arm's tokenizer facts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fteval.backends import hf_loading as loading
from fteval.backends.hf_quant import (
    Quantization,
    plain_cpu_kernels,
    quiet_cast_notices,
    require_bitsandbytes,
)
from fteval.errors import BackendError

logger = logging.getLogger(__name__)

BOS_POLICIES = ("auto", "true", "false")
# model_type substrings that lm-evaluation-harness gives a BOS token (Gemma family)
BOS_FAMILIES = ("gemma",)
DEFAULT_MAX_LENGTH = 2048
PROBE_TEXT = "The quick brown fox jumps over the lazy dog. 0123456789"


@dataclass(frozen=True)
class LoadSpec:
    """What to load and how.

    Attributes:
        path: the weights (local directory or hub id).
        tokenizer_path: where the tokenizer is read from.
        dtype: ``float32`` | ``float16`` | ``bfloat16``.
        device: ``cpu``, ``cuda[:N]`` or ``mps``.
        add_bos_token: ``auto`` | ``true`` | ``false`` (see the module docstring).
        max_length: context window override, in tokens (None: the model's).
        allow_pickle: accept pickled (.bin) weights.
        trust_remote_code: allow model code from the checkpoint.
        quantization: load the weights quantized (bitsandbytes; ``hf_quant``), or None.
    """

    path: str
    tokenizer_path: str
    dtype: str
    device: str
    add_bos_token: str = "auto"
    max_length: int | None = None
    allow_pickle: bool = False
    trust_remote_code: bool = False
    quantization: Quantization | None = None

    def bos_policy(self) -> tuple[bool, str]:
        """(put BOS first?, why) for this model."""
        return bos_policy(self.add_bos_token, self.path)


@dataclass
class LoadedModel:
    """A loaded model with its tokenizer and the facts recorded about it.

    Attributes:
        model: the causal LM in eval mode (PEFT-wrapped when it serves adapters).
        tokenizer: its tokenizer.
        max_length: the context window, in tokens.
        pad_id: the id written into padding (masked out of attention).
        prefix_token: BOS (else EOS) id, standing for an empty context.
        notes: tokenizer facts for the manifest.
        bos: the token put before every encoding (the BOS policy), or None.
    """

    model: Any
    tokenizer: Any
    max_length: int
    pad_id: int
    prefix_token: int | None
    notes: dict[str, Any] = field(default_factory=dict)
    bos: int | None = None

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return encode(self.tokenizer, text)

    def eos_ids(self) -> set[int]:
        """Every id that ends a generation (the tokenizer's and the generation config's)."""
        ids = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif isinstance(configured, (list, tuple)):
            ids.update(int(i) for i in configured)
        return ids


class ModelLoader:
    """Loads a ``LoadSpec`` with transformers (safetensors first, pickles by opt-in)."""

    def load(self, spec: LoadSpec) -> LoadedModel:
        """The model and tokenizer of ``spec``, described.

        Raises:
            BackendError: the files cannot be loaded, or the BOS policy needs a BOS the
                tokenizer lacks.
        """
        loading.check_device(spec.device)
        if spec.quantization is not None:
            require_bitsandbytes(f"{spec.quantization.method} weights")
            quiet_cast_notices()
        with loading.quiet_transformers():
            model = loading.load_causal_lm(
                spec.path,
                dtype=loading.torch_dtype(spec.dtype),
                device=spec.device,
                allow_pickle=spec.allow_pickle,
                trust_remote_code=spec.trust_remote_code,
                quantization=spec.quantization,
            )
        if spec.quantization is not None:
            plain_cpu_kernels(model)
        tokenizer = loading.load_tokenizer(
            spec.tokenizer_path, trust_remote_code=spec.trust_remote_code
        )
        return describe_loaded(model, tokenizer, spec.max_length, spec.bos_policy())


def bos_policy(setting: str, path: str) -> tuple[bool, str]:
    """(put BOS first?, why) for the model at ``path`` under the ``add_bos_token`` setting."""
    if setting != "auto":
        return setting == "true", f"add_bos_token={setting}"
    family = loading.model_type(path) or ""
    if any(name in family for name in BOS_FAMILIES):
        return True, f"auto: {family} models get BOS, as in lm-evaluation-harness"
    return False, "auto: no special tokens (causal LM, as in lm-evaluation-harness)"


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def context_window(config: Any, tokenizer: Any, override: int | None) -> int:
    """The context window in tokens: the override, else the config's, else the
    tokenizer's ``model_max_length``, else ``DEFAULT_MAX_LENGTH``."""
    if override:
        return override
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length",
                      "seq_length"):  # fmt: skip
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    return DEFAULT_MAX_LENGTH


def describe_loaded(
    model: Any, tokenizer: Any, override: int | None, bos: tuple[bool, str] = (False, "")
) -> LoadedModel:
    """Pad, prefix and BOS policy, made explicit and recorded (never silently patched).

    Raises:
        BackendError: BOS is asked for and the tokenizer has none.
    """
    prefix = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    add_bos, why = bos
    if add_bos and tokenizer.bos_token_id is None:
        raise BackendError(f"the BOS policy ({why}) needs a BOS token; the tokenizer has none")
    if tokenizer.pad_token_id is not None:
        pad_id, pad_note = tokenizer.pad_token_id, f"pad token {tokenizer.pad_token!r}"
    elif tokenizer.eos_token_id is not None:
        pad_id = tokenizer.eos_token_id
        pad_note = f"no pad token: padded with EOS id {pad_id}, masked out of attention"
    else:
        pad_id, pad_note = 0, "no pad or EOS token: padded with id 0, masked out of attention"
    max_length = context_window(model.config, tokenizer, override)
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
        "chat_template_sha256": loading.chat_template_sha256(tokenizer),
    }
    bos_id = tokenizer.bos_token_id if add_bos else None
    return LoadedModel(model, tokenizer, max_length, pad_id, prefix, notes, bos_id)


@dataclass(frozen=True)
class ConfigOnly:
    """A stand-in with just a model's config (for facts that need no weights)."""

    config: Any


def described_without_weights(spec: LoadSpec) -> LoadedModel:
    """The facts of ``spec``'s model from its config and tokenizer files (no weights)."""
    remote = spec.trust_remote_code
    tokenizer = loading.load_tokenizer(spec.tokenizer_path, trust_remote_code=remote)
    config = loading.load_config(spec.path, trust_remote_code=remote)
    return describe_loaded(ConfigOnly(config), tokenizer, spec.max_length, spec.bos_policy())


def probe_forward(loaded: LoadedModel, device: str, rows: int = 4) -> None:
    """One forward pass over the probe text, ``rows`` rows (for choosing threads)."""
    import torch

    ids = loaded.encode(PROBE_TEXT)[: loaded.max_length] or [loaded.pad_id]
    with torch.inference_mode():
        loaded.model(input_ids=torch.tensor([ids] * rows, device=device))


def check_finite(loaded: LoadedModel, device: str, path: str, dtype: str) -> None:
    """Refuse a model whose logits on the probe text are NaN or infinite (broken weights,
    or an overflow in this dtype) before it answers anything.

    Raises:
        BackendError: naming the folder and the dtype (exit 2).
    """
    import torch

    ids = loaded.encode(PROBE_TEXT)[: loaded.max_length] or [loaded.pad_id]
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([ids], device=device)).logits
    if not bool(torch.isfinite(logits).all()):
        hint = "" if dtype == "float32" else " (try --dtype float32)"
        raise BackendError(
            f"{path}: the model's outputs on a probe text are not finite numbers (NaN or "
            f"inf) in {dtype}: its weights hold NaN/inf, or overflow in this dtype{hint}"
        )


def probe_ids(loaded: LoadedModel, repeat: int = 1) -> list[int]:
    """The probe text's ids (``repeat`` times), cut to the window."""
    return loaded.encode(PROBE_TEXT * repeat)[: loaded.max_length]


def free_memory(device: str) -> None:
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


def token_lengths(tokenizer: Any, texts: Sequence[str], lead: int) -> list[int]:
    """Tokens of each text as the arm encodes a prompt (``lead``: the BOS put first)."""
    return [lead + len(encode(tokenizer, text)) for text in texts]

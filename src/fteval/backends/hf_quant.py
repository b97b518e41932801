"""Quantized weights for the HF backend: bitsandbytes settings, recorded and checked.

``Quantization`` says how weights are quantized when they load (``nf4``, ``fp4``: 4-bit,
with the compute dtype and double quantization of QLoRA's recipe; ``int8``: LLM.int8()),
builds the ``BitsAndBytesConfig`` for ``from_pretrained`` and describes itself for the
manifest (its facts are part of the arm's identity, so of the response cache's key, with
the bitsandbytes version: its kernels set the numbers).

On CPUs with AVX512-BF16, bitsandbytes repacks 4-bit weights on their first pass for a
kernel that computes in bfloat16 whatever compute dtype was asked for, and its numbers
then depend on whether that first pass ran before or after PEFT wrapped the layer
(measured: logits 5e-4 apart on a tiny Llama). ``plain_cpu_kernels`` turns the repacking
off, so a 4-bit layer dequantizes and multiplies in the compute dtype on every machine,
in any order: the numbers equal the dequantized weights' exactly.

A QLoRA adapter was trained against quantized base weights. Where the training left a
trace of that — a ``quantization_config`` in the adapter's ``adapter_config.json`` or a
``config.json`` beside it, the "``bitsandbytes`` quantization config was used during
training" list PEFT wrote into adapters' README.md, or a pre-quantized base checkpoint —
``recorded_quantization`` finds it, and ``mismatch`` says when the run serves the adapter
on other weights (a warning: the scores are then those of another model than the one
trained).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval._util.versions import installed_version
from fteval.errors import MissingDependencyError

logger = logging.getLogger(__name__)

METHODS = ("nf4", "fp4", "int8")
README_PREFIX = "The following `bitsandbytes` quantization config was used during training:"
CAST_NOTICE = "MatMul8bitLt: inputs will be cast"  # bitsandbytes logs it on every int8 pass


@dataclass(frozen=True)
class Quantization:
    """How weights are quantized when they load (bitsandbytes).

    Attributes:
        method: ``nf4`` | ``fp4`` (4-bit) | ``int8`` (LLM.int8()).
        compute_dtype: the dtype 4-bit layers compute in (the run's dtype); int8 layers
            compute in float16 whatever it is (bitsandbytes casts their inputs).
        double_quant: 4-bit only: the quantization constants quantized again (QLoRA).
    """

    method: str
    compute_dtype: str = "float32"
    double_quant: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"quantization must be one of {METHODS}, got {self.method!r}")

    @property
    def four_bit(self) -> bool:
        """Whether the weights are 4-bit."""
        return self.method != "int8"

    def bnb_config(self) -> Any:
        """The ``transformers.BitsAndBytesConfig`` that loads weights this way."""
        from transformers import BitsAndBytesConfig

        if not self.four_bit:
            return BitsAndBytesConfig(load_in_8bit=True)
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.method,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=self.compute_dtype,
        )

    def facts(self) -> dict[str, Any]:
        """The settings for the manifest and the cache key (with the library's version)."""
        out: dict[str, Any] = {"method": self.method, "library": "bitsandbytes"}
        if self.four_bit:
            out.update(compute_dtype=self.compute_dtype, double_quant=self.double_quant)
        else:
            out.update(compute_dtype="float16", outlier_threshold=6.0)
            out["cpu_kernel"] = "dequantize, then multiply in the compute dtype"
        out["bitsandbytes"] = installed_version("bitsandbytes")
        return out


def plain_cpu_kernels(model: Any) -> int:
    """Keep every 4-bit layer of ``model`` on the dequantize-then-multiply path on the CPU
    (see the module docstring).

    Returns:
        The number of 4-bit layers set.
    """
    count = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def require_bitsandbytes(purpose: str) -> None:
    """Fail clearly (before any model loads) when bitsandbytes is not installed.

    Raises:
        MissingDependencyError: naming the ``quant`` extra.
    """
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingDependencyError("bitsandbytes", "quant", purpose)


def quiet_cast_notices() -> None:
    """Drop bitsandbytes' per-pass notice that int8 layers cast their inputs to float16
    (recorded once in the arm's quantization facts instead)."""
    target = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, _CastNotice) for f in target.filters):
        target.addFilter(_CastNotice())


class _CastNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(CAST_NOTICE)


KERNEL_REPOSITORY = "kernels-community/quantization-bitsandbytes"
KERNEL_LOGGERS = ("kernels._internals.hf_hub", "bitsandbytes.backends.cpu.ops")


def quiet_kernel_notices() -> None:
    """Drop the warnings bitsandbytes' import gives on CPUs with AVX512-BF16 when it cannot
    fetch its packed bfloat16 kernel from the Hub (offline, or an untrusted publisher).

    PEFT imports bitsandbytes whenever it is installed, so every run would print them;
    fteval never uses that kernel (``plain_cpu_kernels``), so they say nothing about a run.
    """
    for name in KERNEL_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _KernelNotice) for f in target.filters):
            target.addFilter(_KernelNotice())


class _KernelNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return KERNEL_REPOSITORY not in record.getMessage()


# ---- what the training recorded ----


def method_of(config: Mapping[str, Any]) -> str | None:
    """``nf4``, ``fp4`` or ``int8`` from a ``quantization_config``; None for none or
    another library's quantization."""
    method = str(config.get("quant_method", "bitsandbytes")).lower()
    if "bitsandbytes" not in method:
        return None
    if _true(config.get("load_in_4bit")) or _true(config.get("_load_in_4bit")):
        kind = str(config.get("bnb_4bit_quant_type") or "fp4").lower()
        return kind if kind in ("nf4", "fp4") else None
    if _true(config.get("load_in_8bit")) or _true(config.get("_load_in_8bit")):
        return "int8"
    return None


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def checkpoint_quantization(path: str) -> dict[str, Any] | None:
    """The ``quantization_config`` of a local checkpoint's config.json (a pre-quantized
    base), or None."""
    found = _json_file(Path(path) / "config.json")
    config = found.get("quantization_config") if found else None
    return dict(config) if isinstance(config, Mapping) else None


def recorded_quantization(adapter_path: str, base_path: str) -> tuple[str, str] | None:
    """The quantization an adapter was trained on, as its files record it, and where.

    Looks in ``adapter_config.json`` and ``config.json`` beside the adapter, its README.md
    (PEFT's training-procedure list), then the base's config.json.

    Returns:
        (``nf4`` | ``fp4`` | ``int8``, the file it was read from), or None.
    """
    folder = Path(adapter_path)
    for name in ("adapter_config.json", "config.json"):
        found = _json_file(folder / name)
        config = found.get("quantization_config") if found else None
        if isinstance(config, Mapping) and method_of(config):
            return str(method_of(config)), str(folder / name)
    listed = _readme_config(folder / "README.md")
    if listed and method_of(listed):
        return str(method_of(listed)), str(folder / "README.md")
    base = checkpoint_quantization(base_path)
    if base and method_of(base):
        return str(method_of(base)), str(Path(base_path) / "config.json")
    return None


def _json_file(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _readme_config(path: Path) -> dict[str, str] | None:
    """The ``- key: value`` list under PEFT's quantization sentence in a README.md."""
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if README_PREFIX not in (line.strip() for line in lines):
        return None
    start = [line.strip() for line in lines].index(README_PREFIX) + 1
    found: dict[str, str] = {}
    for line in lines[start:]:
        match = re.match(r"^\s*-\s*([A-Za-z0-9_]+):\s*(.*?)\s*$", line)
        if match is None:
            if found:
                break
            continue
        found[match.group(1)] = match.group(2)
    return found or None


def mismatch(
    arm: str, recorded: tuple[str, str] | None, served: str | None
) -> dict[str, str] | None:
    """What to warn about when an adapter trained on ``recorded`` weights is served on
    other weights, or None.

    Args:
        arm: the adapter arm's name.
        recorded: (method, file) from ``recorded_quantization``, or None.
        served: the quantization the run serves its base with (None: full precision).

    Returns:
        ``{"trained_on", "served_on", "recorded_in", "message"}`` (the file's name only).
    """
    if recorded is None or recorded[0] == served:
        return None
    method, where = recorded
    served_on = served or "full precision"
    now = f"a {served}-quantized base" if served else "a base in full precision"
    message = (
        f"adapter {arm!r} was trained on a {method}-quantized base ({Path(where).name} says "
        f"so), but this run serves it on {now}: its scores are those of other weights; pass "
        f"--base-quantization {method} to evaluate it as trained"
    )
    return {
        "trained_on": method,
        "served_on": served_on,
        "recorded_in": Path(where).name,
        "message": message,
    }

"""Loading models, tokenizers and adapters for the HF backend — safely and checked.

* Weights: safetensors are preferred; pickled ``.bin``/``.pt`` weights are refused unless
  the user opts in (``allow_pickle``), because unpickling runs arbitrary code.
* ``trust_remote_code`` stays off unless asked.
* An adapter's ``base_model_name_or_path`` must name the base given (else an error,
  unless ``allow_base_mismatch``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fteval._util.versions import installed_version
from fteval.errors import AdapterError, BackendError
from fteval.records import sha256_file

logger = logging.getLogger(__name__)

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' own load/save progress bars and deprecation notices.

    fteval shows its own progress; the previous setting is restored afterwards.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``mps``, else ``cpu``; others unchanged.

    Imports torch only when it must: a CPU-only build of torch (``+cpu``) off macOS
    answers ``cpu`` from its version string, so a run served from the response cache
    never pays for importing torch. An explicit ``cuda`` is checked when a model loads.
    """
    if device != "auto":
        return device
    if sys.platform != "darwin" and _installed_torch_is_cpu_only():
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _installed_torch_is_cpu_only() -> bool:
    return (installed_version("torch") or "").endswith("+cpu")


def check_device(device: str) -> None:
    """Fail clearly when a CUDA device is asked for on a machine without CUDA."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise BackendError(f"device {device!r} asked for, but CUDA is not available here")


def resolve_dtype(dtype: str, device: str) -> str:
    """The dtype's name: ``auto`` -> ``bfloat16`` on a GPU that supports it, else
    ``float32`` (decided without importing torch off CUDA devices)."""
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bfloat16"
    return "float32"


def torch_dtype(name: str) -> Any:
    """The torch dtype called ``name`` (``float32``, ``float16``, ``bfloat16``)."""
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def default_threads() -> int:
    """CPU threads for torch: the CPUs this process may run on (affinity), capped by the
    cgroup CPU quota (a container's ``cpu.max``), at least 1.

    torch's own default counts the machine's cores, which in a container limited to a
    few CPUs oversubscribes them: every parallel region then waits for descheduled threads.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        available = min(available, max(1, math.ceil(quota)))
    return max(1, available)


def _cgroup_cpu_quota() -> float | None:
    """CPUs allowed by the cgroup v2 ``cpu.max`` (None when unlimited or unknown)."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()
    except OSError:
        return None
    if len(text) != 2 or text[0] == "max":
        return None
    try:
        return int(text[0]) / int(text[1])
    except (ValueError, ZeroDivisionError):
        return None


def choose_threads(requested: int | None, probe: Callable[[], Any]) -> tuple[int, str]:
    """Set torch's CPU threads on purpose, and say how they were chosen.

    ``requested`` wins; then ``OMP_NUM_THREADS`` from the environment (torch already
    follows it). Otherwise the candidates are ``default_threads()``, half of it and 1, and
    the one that runs ``probe`` (a short forward pass of the loaded model) fastest is kept.
    On an idle machine that is all available CPUs; when other processes keep some of them
    busy, worker threads that spin and wait for each other at every operation make torch
    several times slower than one thread (measured 7-10x on 2 shared cores), which only a
    probe through the model's own Python-interleaved operations shows (a bare matrix
    product does not).

    Returns:
        The number of threads now set, and the reason (recorded in the manifest).
    """
    import torch

    if requested:
        torch.set_num_threads(requested)
        return requested, "asked for"
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    if _AUTO_THREADS:  # torch's setting is the process's: probe once per process
        torch.set_num_threads(_AUTO_THREADS[0][0])
        return _AUTO_THREADS[0]
    limit = default_threads()
    if limit == 1:
        chosen = (1, "one CPU available")
    else:
        candidates = sorted({limit, max(1, limit // 2), 1}, reverse=True)
        seconds = {n: _probe_seconds(n, probe) for n in candidates}
        best = min(candidates, key=lambda n: seconds[n])
        timings = ", ".join(f"{n}: {seconds[n] * 1e3:.1f} ms" for n in candidates)
        chosen = (best, f"auto: fastest on a probe forward pass ({timings})")
    torch.set_num_threads(chosen[0])
    _AUTO_THREADS.append(chosen)
    return chosen


_AUTO_THREADS: list[tuple[int, str]] = []


def _probe_seconds(threads: int, probe: Callable[[], Any]) -> float:
    """Best of three timings of ``probe`` with ``threads`` threads, after a warm-up."""
    import time

    import torch

    torch.set_num_threads(threads)
    probe()
    best = math.inf
    for _ in range(3):
        began = time.perf_counter()
        probe()
        best = min(best, time.perf_counter() - began)
    return best


def model_type(path: str) -> str | None:
    """``model_type`` from a local model's ``config.json`` (None when unknown)."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def is_local(path: str) -> bool:
    """True when ``path`` names an existing local directory."""
    return Path(path).is_dir()


def weight_files(path: str) -> list[Path]:
    """The weight files of a local model or adapter directory, sorted."""
    folder = Path(path)
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix in SAFE_SUFFIXES + PICKLE_SUFFIXES
    )


def check_weight_format(path: str, *, allow_pickle: bool) -> bool:
    """Whether to load with safetensors; refuse pickled weights without the opt-in.

    Returns:
        True when the directory holds safetensors weights (or is a hub id: safetensors
        are then required unless ``allow_pickle``).
    """
    if not is_local(path):
        return not allow_pickle
    files = weight_files(path)
    if any(f.suffix in SAFE_SUFFIXES for f in files):
        return True
    pickled = [f.name for f in files if f.suffix in PICKLE_SUFFIXES]
    if pickled and not allow_pickle:
        raise BackendError(
            f"{path}: only pickled weights ({', '.join(pickled)}); loading them can run "
            "arbitrary code. Convert them to safetensors, or pass --allow-pickle if you "
            "trust the source."
        )
    if not files:
        raise BackendError(f"{path}: no weight files (*.safetensors) in the directory")
    return False


def weight_hashes(path: str, hasher: Callable[[Path], str] = sha256_file) -> dict[str, str]:
    """sha256 of each weight file of a local directory (empty for hub ids).

    Args:
        path: the model or adapter directory.
        hasher: file -> hex sha256 (the response cache passes a memo that skips files
            whose size, modification time and inode are unchanged).
    """
    if not is_local(path):
        return {}
    return {f.name: hasher(f) for f in weight_files(path)}


def read_adapter_config(path: str) -> dict[str, Any]:
    """The adapter's ``adapter_config.json``; a clear error when it is missing or broken."""
    config_path = Path(path) / "adapter_config.json"
    if not config_path.is_file():
        raise AdapterError(
            f"{path}: not a PEFT adapter directory (no adapter_config.json). For a full "
            "fine-tuned model use --full."
        )
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AdapterError(f"{config_path}: malformed JSON: {error}") from None


def _same_model(a: str, b: str) -> bool:
    if is_local(a) and is_local(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a.rstrip("/") == b.rstrip("/")


def check_adapter_base(
    name: str, adapter_path: str, config: dict[str, Any], base: str, *, allow_mismatch: bool
) -> str | None:
    """Compare the adapter's recorded base with the base given.

    Returns:
        A warning string when they differ and ``allow_mismatch`` is set, else None.

    Raises:
        AdapterError: they differ and ``allow_mismatch`` is not set.
    """
    recorded = config.get("base_model_name_or_path")
    if not recorded or _same_model(str(recorded), base):
        return None
    message = (
        f"adapter {name!r} ({adapter_path}) was trained on {recorded!r}, but the base "
        f"given is {base!r}"
    )
    if not allow_mismatch:
        raise AdapterError(message + "; pass --allow-base-mismatch if this is intended")
    logger.warning("%s (allowed by --allow-base-mismatch)", message)
    return message


def caused_by_the_files(error: BaseException) -> bool:
    """Whether a loading error is one that a model or adapter's files (or hub id) cause.

    Those are reported as bad input (exit 2): missing or corrupt files and hub errors
    (``OSError``), an unknown architecture or a bad config (``ValueError``,
    ``KeyError``), a model that needs a package not installed (``ImportError``), weights
    whose shapes do not fit the model (a ``RuntimeError`` about the state dict) and
    corrupt safetensors files. Anything else — running out of memory, a bug in a
    library — is raised as it is, with its traceback (exit 1).
    """
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return False
    if isinstance(error, (OSError, ValueError, KeyError, ImportError)):
        return True
    if isinstance(error, RuntimeError):
        message = str(error)
        return "state_dict" in message or "size mismatch" in message
    return type(error).__name__ == "SafetensorError"


def load_tokenizer(path: str, *, trust_remote_code: bool) -> Any:
    """The tokenizer saved with a model (or adapter) directory."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as error:
        if not caused_by_the_files(error):
            raise
        raise BackendError(f"{path}: could not load a tokenizer: {error}") from error


def load_config(path: str, *, trust_remote_code: bool) -> Any:
    """A model's config (no weights); an architecture transformers does not know, or a
    config it cannot read, is a BackendError naming the folder (exit 2)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as error:
        if not caused_by_the_files(error):
            raise
        raise BackendError(f"{path}: could not read the model's config: {error}") from error


def chat_template_sha256(tokenizer: Any) -> str | None:
    """sha256 of the tokenizer's chat template (hex), or None when it has none."""
    template = getattr(tokenizer, "chat_template", None)
    return (
        hashlib.sha256(template.encode("utf-8")).hexdigest() if isinstance(template, str) else None
    )


def has_tokenizer(path: str) -> bool:
    """Whether a local directory carries its own tokenizer files."""
    folder = Path(path)
    return is_local(path) and (folder / "tokenizer_config.json").is_file()


def load_causal_lm(
    path: str,
    *,
    dtype: Any,
    device: str,
    allow_pickle: bool,
    trust_remote_code: bool,
    quantization: Any = None,
) -> Any:
    """A causal LM in eval mode on ``device``.

    ``quantization`` (an ``hf_quant.Quantization``) loads the weights quantized by
    bitsandbytes, placed on ``device`` as they load (quantized weights cannot be moved).
    """
    from transformers import AutoModelForCausalLM

    use_safetensors = check_weight_format(path, allow_pickle=allow_pickle)
    placement: dict[str, Any] = {}
    if quantization is not None:
        placement = {"quantization_config": quantization.bnb_config(), "device_map": {"": device}}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=use_safetensors or None,
            **placement,
        )
    except Exception as error:
        if not caused_by_the_files(error):
            raise
        raise BackendError(f"{path}: could not load a causal LM: {error}") from error
    return (model if quantization is not None else model.to(device)).eval()

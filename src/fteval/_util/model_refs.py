"""Where a model named by the user is, checked without loading it: a local folder or a
Hugging Face Hub id; and whether a device asked for exists.

Shared by the run's pre-flight (arms, judges) and the model-based metrics (BERTScore's
``model_type``, BLEURT's ``checkpoint``), so "no such folder", "a file, not a folder"
and "not available offline" read the same everywhere and come before any download
attempt, retry or model load.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from fteval.errors import ConfigError

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def local_model_folder(ref: str, what: str) -> Path | None:
    """The folder ``ref`` names, or None when ``ref`` is a hub id (``gpt2``, ``org/name``).

    Args:
        ref: a path or a hub id, as the user gave it.
        what: the flag or option, for messages (``--base``, ``bertscore model_type``).

    Raises:
        ConfigError: ``ref`` is a file, or a path that does not exist and cannot be a
            hub id (``/models/x``, ``./x``, ``a/b/c``).
    """
    candidate = Path(ref).expanduser()
    try:
        if candidate.is_dir():
            return candidate
        exists = candidate.exists()
    except OSError as error:  # a name too long, a loop of links
        raise ConfigError(f"{_named(what, ref)}: {error.strerror or error}") from None
    if exists:
        raise ConfigError(f"{_named(what, ref)}: is a file, not a model folder")
    if is_hub_id(ref):
        return None
    raise ConfigError(f"{_named(what, ref)}: no such folder (and not a hub id like org/name)")


def _named(what: str, ref: str) -> str:
    """``--base PATH``, or ``--adapter NAME=PATH`` when ``what`` ends with ``=``."""
    return f"{what}{ref}" if what.endswith("=") else f"{what} {ref}"


def is_hub_id(ref: str) -> bool:
    """Whether ``ref`` has the form of a Hugging Face Hub id (not a path)."""
    return bool(HUB_ID.fullmatch(ref)) and not ref.startswith(".") and ".." not in ref


def hub_offline() -> bool:
    """Whether the Hugging Face libraries are told not to use the network."""
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in OFFLINE_VARIABLES
    )


def check_hub_model(ref: str, what: str) -> None:
    """Offline, a hub id must already be in the local Hugging Face cache.

    Online, nothing is checked here: the model downloads when it loads.

    Raises:
        ConfigError: offline (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``) and the model's
            config.json is not cached.
    """
    if not hub_offline():
        return
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return
    found = try_to_load_from_cache(ref, "config.json")
    if not isinstance(found, str):
        raise ConfigError(
            f"{_named(what, ref)}: not in the local Hugging Face cache, and downloads are off "
            "(HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE); give a local model folder"
        )


def check_device(device: str, what: str = "--device") -> None:
    """``device`` is ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` and exists on this machine.

    ``auto`` and ``cpu`` pass without importing torch.

    Raises:
        ConfigError: an unknown device name, no CUDA (or fewer CUDA devices), or no MPS.
    """
    if device in ("auto", "cpu"):
        return
    if not DEVICE.fullmatch(device):
        raise ConfigError(f"{what} {device!r}: expected cpu, cuda, cuda:N or mps")
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"{what} {device}: CUDA is not available on this machine")
        count = torch.cuda.device_count()
        if int(device.partition(":")[2] or 0) >= count:
            raise ConfigError(
                f"{what} {device}: this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    else:
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"{what} mps: Apple's MPS is not available on this machine")


def model_config(ref: str) -> dict | None:
    """A model's config.json as a dict, from its local folder or the Hugging Face cache;
    None when neither has it (or it is not a JSON object)."""
    import json

    folder = Path(ref).expanduser()
    path: str | Path | None = folder / "config.json" if folder.is_dir() else None
    if path is None and is_hub_id(ref):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - a dependency of transformers
            return None
        cached = try_to_load_from_cache(ref, "config.json")
        path = cached if isinstance(cached, str) else None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

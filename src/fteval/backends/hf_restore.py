"""Exact base weights for merge-and-restore adapter serving, at little memory.

Merging a LoRA adapter writes ``W + s·BA`` into each targeted base weight; serving the
next arm needs ``W`` back bit for bit (subtracting rounds). A copy of every targeted
weight in memory costs a large share of the model (GPT-2's ``c_attn`` and ``c_proj``
are 45% of its non-embedding weights). But the base checkpoint on disk already holds
``W``: where a targeted weight equals its tensor in the base's safetensors files (checked
bit for bit once, when first saved), only where to read it is kept, and a restore reads
it back; any other weight (converted on load, a pickled checkpoint, a hub id) is copied in
memory as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PEFT_PREFIX = "base_model.model."


def checkpoint_tensors(folder: str | Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file holding it, for a local model folder (empty
    when there is none, or for a hub id)."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            mapping = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return {name: folder / file for name, file in mapping.items()}
    single = folder / "model.safetensors"
    if not single.is_file():
        return {}
    from safetensors import safe_open

    with safe_open(str(single), framework="pt") as handle:
        return dict.fromkeys(handle.keys(), single)


def _read(file: Path, name: str) -> Any:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as handle:
        return handle.get_tensor(name)


def save_targeted(model: Any, base_folder: str) -> dict[str, Any]:
    """For each LoRA-wrapped module of ``model`` (by module name): ``(file, tensor name)``
    when the base checkpoint holds its exact weight, else a copy of the weight."""
    import torch

    files = checkpoint_tensors(base_folder)
    saved: dict[str, Any] = {}
    for name, module in model.named_modules():
        base_layer = getattr(module, "base_layer", None)
        if base_layer is None or not hasattr(module, "lora_A"):
            continue
        weight = base_layer.weight
        key = f"{name.removeprefix(PEFT_PREFIX)}.weight"
        source = files.get(key)
        if source is not None:
            stored = _read(source, key)
            if stored.shape == weight.shape and torch.equal(
                stored.to(device=weight.device, dtype=weight.dtype), weight
            ):
                saved[name] = (source, key)
                continue
        saved[name] = weight.detach().clone()
    return saved


def restore(model: Any, saved: dict[str, Any]) -> None:
    """Write every saved base weight back into ``model`` (exactly)."""
    import torch

    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, value in saved.items():
            weight = modules[name].base_layer.weight
            if isinstance(value, tuple):
                value = _read(*value).to(device=weight.device, dtype=weight.dtype)
            weight.copy_(value)


def kept_in_memory(saved: dict[str, Any]) -> int:
    """Bytes of base weights held as copies (not read back from the checkpoint)."""
    return sum(v.numel() * v.element_size() for v in saved.values() if not isinstance(v, tuple))

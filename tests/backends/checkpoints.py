"""Tiny GPT-2-shaped checkpoint and LoRA adapter folders, written without torch.

The pre-flight reads only config.json, safetensors headers, adapter_config.json and
tokenizer files; these folders have exactly those, so a test can break any one of them
(truncate a file, change a config key, retarget an adapter) in microseconds.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray]) -> Path:
    """A safetensors file of float32 tensors, laid out as the format specifies."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def gpt2_tensors(vocab: int = 64, hidden: int = 8, layers: int = 2, positions: int = 32):
    """The tensors of a GPT-2 checkpoint of this shape (zeros)."""
    tensors = {
        "transformer.wte.weight": np.zeros((vocab, hidden)),
        "transformer.wpe.weight": np.zeros((positions, hidden)),
        "transformer.ln_f.weight": np.zeros(hidden),
    }
    for i in range(layers):
        tensors[f"transformer.h.{i}.attn.c_attn.weight"] = np.zeros((hidden, 3 * hidden))
        tensors[f"transformer.h.{i}.attn.c_proj.weight"] = np.zeros((hidden, hidden))
        tensors[f"transformer.h.{i}.ln_1.weight"] = np.zeros(hidden)
    return tensors


def gpt2_folder(
    folder: Path,
    *,
    vocab: int = 64,
    hidden: int = 8,
    layers: int = 2,
    positions: int = 32,
    config: Mapping[str, Any] | None = None,
    tokenizer_tokens: int | None = 64,
) -> Path:
    """A model folder: config.json (overridable), model.safetensors and a tokenizer of
    ``tokenizer_tokens`` tokens (None: no tokenizer files)."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_embd": hidden,
        "n_layer": layers,
        "n_positions": positions,
        **(config or {}),
    }
    (folder / "config.json").write_text(json.dumps(settings))
    write_safetensors(folder / "model.safetensors", gpt2_tensors(vocab, hidden, layers, positions))
    if tokenizer_tokens is not None:
        write_tokenizer(folder, tokenizer_tokens)
    return folder


def write_tokenizer(folder: Path, tokens: int) -> None:
    """A word-level tokenizer.json of ``tokens`` tokens, with its tokenizer_config.json."""
    vocab = {f"w{i}": i for i in range(tokens)}
    model = {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}
    (folder / "tokenizer.json").write_text(json.dumps({"model": model, "added_tokens": []}))
    config = {"tokenizer_class": "PreTrainedTokenizerFast"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def lora_folder(
    folder: Path,
    *,
    hidden: int = 8,
    layers: int = 2,
    rank: int = 2,
    targets: Any = ("c_attn",),
    config: Mapping[str, Any] | None = None,
) -> Path:
    """A LoRA adapter on ``c_attn`` of a GPT-2 of width ``hidden``."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "peft_type": "LORA",
        "r": rank,
        "target_modules": list(targets) if not isinstance(targets, str) else targets,
        "fan_in_fan_out": True,
        **(config or {}),
    }
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    tensors = {}
    for i in range(layers):
        module = f"base_model.model.transformer.h.{i}.attn.c_attn"
        tensors[f"{module}.lora_A.weight"] = np.zeros((rank, hidden))
        tensors[f"{module}.lora_B.weight"] = np.zeros((3 * hidden, rank))
    write_safetensors(folder / "adapter_model.safetensors", tensors)
    return folder

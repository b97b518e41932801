"""Second run with one more adapter, as a share of the first run's time.

Builds (or reuses) the demo assets; run 1 evaluates base + LoRA with a fresh response
cache; run 2 adds a second adapter (the LoRA with its weights scaled, so its content
hash differs) and reuses the cache: base and the first adapter are served from SQLite,
only the new adapter is computed. Prints both wall times and their ratio.

Run: ``python benchmarks/cache_reuse.py [--limit 300]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import fteval
from fteval.demo.assets import build_demo_assets


def scaled_copy(adapter: Path, target: Path, factor: float) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(adapter, target)
    weights = load_file(target / "adapter_model.safetensors")
    save_file({k: v * factor for k, v in weights.items()}, target / "adapter_model.safetensors")
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    assets = build_demo_assets()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        second = scaled_copy(assets.adapter_dir, root / "lora_b", 0.5)
        common = {"tasks": [str(assets.task_file)], "limit": args.limit, "device": "cpu",
                  "cache_dir": str(root / "cache"), "progress": False}  # fmt: skip
        started = time.monotonic()
        fteval.evaluate(str(assets.base_dir), adapters={"lora": str(assets.adapter_dir)},
                        out=root / "first", **common)  # fmt: skip
        first = time.monotonic() - started
        started = time.monotonic()
        fteval.evaluate(str(assets.base_dir),
                        adapters={"lora": str(assets.adapter_dir), "lora_b": str(second)},
                        out=root / "second", **common)  # fmt: skip
        again = time.monotonic() - started
        stats = json.loads((root / "second" / "manifest.json").read_text())["response_cache"]
    print(f"first run (base + lora): {first:.1f} s")
    print(f"second run (base + lora + lora_b): {again:.1f} s = {again / first:.2f} x the first")
    print(f"cache: {stats}")


if __name__ == "__main__":
    main()

"""Build the demo assets and report each arm's accuracy and the build's wall times.

Reproduces the figures quoted for ``fteval demo``: the first (building) call, a second
(cached) call, and the test accuracy of base / LoRA / full fine-tune, scored by
loglikelihood of each choice after the prompt with a minimal scorer of our own (independent
of fteval's backends)::

    python benchmarks/demo_accuracy.py                  # build in a temp dir, then delete it
    python benchmarks/demo_accuracy.py --cache-dir DIR  # keep (or reuse) the build in DIR
    python benchmarks/demo_accuracy.py --seed 1         # another training seed
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from fteval.demo._scoring import accuracy
from fteval.demo.assets import DemoAssets, build_demo_assets
from fteval.demo.train import TrainSettings


def _rows(assets: DemoAssets, split: str) -> list[dict[str, str]]:
    task = yaml.safe_load(assets.task_file.read_text(encoding="utf-8"))
    path = assets.task_file.parent / task["data"][split]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _arm_accuracies(assets: DemoAssets, splits: list[str]) -> dict[str, dict[str, float]]:
    """Accuracy (0..1) per arm and split, plus scoring wall time per arm in seconds."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task = yaml.safe_load(assets.task_file.read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(assets.base_dir)
    loaders = {
        "base": lambda: AutoModelForCausalLM.from_pretrained(assets.base_dir),
        "lora": lambda: PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(assets.base_dir), assets.adapter_dir
        ),
        "full": lambda: AutoModelForCausalLM.from_pretrained(assets.full_dir),
    }
    out: dict[str, dict[str, float]] = {}
    for arm, load in loaders.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers 5 deprecations
            model = load()
        out[arm] = {
            split: accuracy(
                model,
                tokenizer,
                _rows(assets, split),
                template=task["template"],
                choices=task["choices"],
                delimiter=task["target_delimiter"],
            )
            for split in splits
        }
        out[arm]["seconds"] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print a table (or JSON) and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, help="build here (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (0 = shipped)")
    parser.add_argument("--splits", nargs="+", default=["test", "validation"])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    settings = TrainSettings(seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="fteval-demo-bench-") as tmp:
        cache = args.cache_dir or Path(tmp)
        start = time.perf_counter()
        assets = build_demo_assets(cache, progress=not args.quiet, settings=settings)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = build_demo_assets(cache, progress=False, settings=settings)
        second = time.perf_counter() - start
        info = json.loads((assets.root / "build.json").read_text(encoding="utf-8"))
        arms = _arm_accuracies(assets, args.splits)
    figures = {
        "first_call_seconds": first,
        "first_call_built": not assets.cached,
        "second_call_seconds": second,
        "second_call_cached": again.cached,
        "stage_seconds": {k: v["seconds"] for k, v in info["stages"].items()},
        "split_sizes": info["split_sizes"],
        "settings": info["settings"],
        "accuracy": arms,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return figures
    built = "built" if figures["first_call_built"] else "cached"
    print(f"first call ({built}): {first:.1f} s", end="")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in figures["stage_seconds"].items())
    print(f"  [{stages}]")
    print(f"second call (cached={again.cached}): {second:.2f} s")
    print(f"split sizes: {figures['split_sizes']}")
    header = "arm   " + "".join(f"{s:>12}" for s in args.splits) + "   score time"
    print(header)
    for arm, acc in arms.items():
        cells = "".join(f"{acc[s]:>12.3f}" for s in args.splits)
        print(f"{arm:<6}{cells}   {acc['seconds']:8.1f} s")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])

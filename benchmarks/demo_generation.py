"""Generation costs on the demo models: decode steps vs tokens, metric time share.

Builds (or reuses) the demo assets, writes a generation task over the demo test split
(generate the intent after the prompt; references are the gold intent), runs base, LoRA
and full fine-tune through ``fteval.evaluate`` and prints:

* decode passes, row-steps executed and tokens generated (finished rows leave the batch,
  so row-steps stay close to generated tokens);
* inference and metric-scoring seconds, and scoring as a share of the run.

Run: ``python benchmarks/demo_generation.py [--limit 200] [--batch-size 32]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

import fteval
from fteval.demo.assets import build_demo_assets
from fteval.report import render_terminal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    assets = build_demo_assets()
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "intent_generation.yaml"
        task.write_text(yaml.safe_dump({
            "name": "intent_generation", "type": "generate",
            "data": str(assets.data_dir / "test.jsonl"), "id_field": "id",
            "template": "Message: {text}\nIntent:", "reference_field": "label",
            "stop": ["\n"], "max_new_tokens": 16,
            "metrics": ["exact_match", "bleu", "chrf", "rougeL", "meteor", "bertscore"],
        }))  # fmt: skip
        started = time.monotonic()
        results = fteval.evaluate(
            str(assets.base_dir), adapters={"lora": str(assets.adapter_dir)},
            full=str(assets.full_dir), tasks=[str(task)], out=Path(tmp) / "run",
            limit=args.limit, batch_size=args.batch_size, device="cpu", cache_dir="off",
            progress=False,
        )  # fmt: skip
        wall = time.monotonic() - started
        manifest = json.loads((Path(tmp) / "run" / "manifest.json").read_text())
    print(render_terminal(results))
    counters = manifest["decode_counters"]
    timings = manifest["timings_s"]
    inference = sum(timings["inference"].values())
    print(f"decode passes {counters['decode_passes']}, prefill passes {counters['prefill_passes']}")
    ratio = counters["row_steps"] / max(1, counters["generated_tokens"])
    print(f"row-steps executed {counters['row_steps']} vs tokens generated "
          f"{counters['generated_tokens']} (ratio {ratio:.2f})")  # fmt: skip
    metric_s = timings["scoring"] + timings["results"]
    print(f"wall {wall:.1f} s; inference {inference - timings['scoring']:.1f} s; metrics "
          f"{timings['scoring']:.1f} s per sample + {timings['results']:.1f} s aggregates, CIs "
          f"and tests = {metric_s / wall:.0%} of the run")  # fmt: skip


if __name__ == "__main__":
    main()

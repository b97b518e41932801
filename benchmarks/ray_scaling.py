"""Wall time of one fteval run in one process and on Ray with 1 and 2 workers (this machine).

A randomly initialised GPT-2-shaped base (``--layers``, ``--width``), a LoRA adapter and a
full fine-tune, saved locally; a multiple-choice task of ``--items`` items with 4 answer
texts. Each setting runs the same config (HF backend, CPU, float32, response cache off)
into its own run directory and the script prints its wall time.

Float sums on a CPU depend on the thread count, so the runs compared byte for byte all use
``--threads`` torch threads per process (default 1): the single process, and each Ray
worker. The script checks that every Ray run directory holds the single-process run's
samples.jsonl bytes and its results.json apart from what each run measures of itself
(timings, memory, the thread probe's timings). A single process with every CPU's threads
is timed too, as what one process can do on its own. The run is cut into 8 chunks per arm
(``flush_every``), the unit of work handed to a worker.

    python benchmarks/ray_scaling.py [--items 400] [--layers 4] [--width 256] [--workers 1 2]

The timing is only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

CHOICES = ["login problem", "billing question", "refund request", "shipping delay"]


def build_models(root: Path, layers: int, width: int) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = ByT5Tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=512, n_embd=width, n_layer=layers,
        n_head=max(1, width // 64), bos_token_id=1, eos_token_id=1,
    )  # fmt: skip
    paths = {name: root / name for name in ("base", "lora", "full")}
    base = GPT2LMHeadModel(config)
    base.save_pretrained(paths["base"])
    tokenizer.save_pretrained(paths["base"])
    full = GPT2LMHeadModel(config)
    full.load_state_dict(base.state_dict())
    with torch.no_grad():
        for param in full.parameters():
            param.add_(0.02 * torch.randn_like(param))
    full.save_pretrained(paths["full"])
    tokenizer.save_pretrained(paths["full"])
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_proj"],
                      fan_in_fan_out=True, init_lora_weights=False)  # fmt: skip
    peft_model = get_peft_model(GPT2LMHeadModel.from_pretrained(paths["base"]), lora)
    peft_model.save_pretrained(paths["lora"])
    adapter_config = paths["lora"] / "adapter_config.json"
    data = json.loads(adapter_config.read_text())
    data["base_model_name_or_path"] = str(paths["base"])
    adapter_config.write_text(json.dumps(data))
    return paths


def build_task(root: Path, items: int) -> Path:
    import yaml

    rows = [
        {"id": f"r{i}", "text": f"ticket {i}: my order #{i * 7919 % 1000} has a problem",
         "label": CHOICES[i % len(CHOICES)]}
        for i in range(items)
    ]  # fmt: skip
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "tickets", "data": "data.jsonl", "id_field": "id",
        "template": "Support ticket: {text}\nCategory:", "choices": CHOICES,
        "label_field": "label", "metrics": ["acc"],
    }  # fmt: skip
    path = root / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(paths: dict[str, Path], task: Path, out: Path, flush_every: int, **extra) -> float:
    from fteval.config import build_config
    from fteval.pipeline.run import execute

    config = build_config(
        {
            "base": str(paths["base"]),
            "adapters": {"lora": str(paths["lora"])},
            "full": str(paths["full"]),
            "tasks": [str(task)],
            "out": str(out),
            "device": "cpu",
            "dtype": "float32",
            "cache_dir": "off",
            "flush_every": flush_every,
            "bootstrap_resamples": 200,
            "permutations": 200,
            **extra,
        }
    )
    began = time.perf_counter()
    execute(config, progress=False)
    return time.perf_counter() - began


MEASURED_COST = ("eval_wall_s", "tokens_per_s", "peak_memory_bytes", "memory_kind", "note")
MEASURED_IDENTITY = ("threads_policy",)  # holds the probe's timings


def _unmeasured(path: Path) -> dict:
    """results.json without what a run measures of itself (timings, memory)."""
    results = json.loads(path.read_text())
    for row in results.get("cost", []):
        for key in MEASURED_COST:
            row.pop(key, None)
    for arm in results.get("arms", []):
        for key in MEASURED_IDENTITY:
            arm.get("identity", {}).pop(key, None)
    return results


def same(a: Path, b: Path) -> bool:
    """Byte-equal samples, and equal results apart from what each run measures."""
    samples = (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
    return samples and _unmeasured(a / "results.json") == _unmeasured(b / "results.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = parser.parse_args()
    import ray

    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="fteval-ray-") as folder:
        root = Path(os.environ.get("FTEVAL_BENCH_DIR") or folder)
        paths = build_models(root, args.layers, args.width)
        task = build_task(root, args.items)
        chunk = max(8, args.items // 8)  # 8 chunks per arm: work for every worker
        all_threads = run(paths, task, root / "all", chunk, threads=cpus)
        single = run(paths, task, root / "single", chunk, threads=args.threads)
        rows: list[tuple[str, float, bool | None]] = [
            (f"one process, {cpus} threads", all_threads, None),
            (f"one process, {args.threads} thread(s)", single, True),
        ]
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
        try:
            for workers in args.workers:
                out = root / f"ray{workers}"
                seconds = run(
                    paths, task, out, chunk, ray="local", ray_workers=workers,
                    threads=args.threads,
                )  # fmt: skip
                name = f"Ray, {workers} worker(s) x {args.threads} thread(s)"
                rows.append((name, seconds, same(out, root / "single")))
        finally:
            ray.shutdown()
    print(f"{args.items} items x 4 choices x 3 arms; GPT-2 {args.layers}x{args.width}; {cpus} CPUs")
    print(f"{'setting':<34} {'wall s':>8}  same run directory as one process")
    for name, seconds, equal in rows:
        shown = (
            "(reference)"
            if equal is True and name.startswith("one")
            else ("-" if equal is None else ("yes" if equal else "NO"))
        )
        print(f"{name:<34} {seconds:>8.1f}  {shown}")


if __name__ == "__main__":
    main()

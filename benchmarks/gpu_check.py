"""GPU check: the HF backend on CUDA gives the CPU's numbers, in every serving mode.

Run on a machine with a CUDA GPU (CI has none)::

    python benchmarks/gpu_check.py --out /tmp/gpu-check

It builds a small random GPT-2 (byte tokenizer), a LoRA adapter and a full fine-tune in a
temp folder, then runs the same three-way ``fteval run`` (a choice task, a generation task
and a perplexity task) on the CPU in float32 and on CUDA in float32, float16 and
bfloat16, with the response cache off, and prints per dtype:

* max |Δ log-likelihood| of every choice vs the CPU float32 run (float32 must agree to
  1e-3; 16-bit runs are reported, with the share of items whose prediction changed);
* whether greedy generations equal the CPU's (float32 must, 16-bit reported);
* batch size 1 vs 32 on CUDA float32 (scores must not depend on batch size);
* wall time of each run.

Exit status 1 when a must-hold check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "billing",
    "refund",
    "login",
    "shipping",
    "cancel",
    "account",
    "card",
    "order",
    "delivery",
    "password",
]
LABELS = ["billing", "refund", "login", "shipping"]


def build_models(root: Path, *, layers: int, width: int) -> dict[str, Path]:
    """base/, lora/ (non-zero LoRA), full/ (perturbed copy), saved with save_pretrained."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = ByT5Tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=512, n_embd=width, n_layer=layers,
        n_head=max(1, width // 64), bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
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
    lora = LoraConfig(
        r=8, lora_alpha=16, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
        init_lora_weights=False, task_type="CAUSAL_LM",
    )  # fmt: skip
    peft_model = get_peft_model(GPT2LMHeadModel.from_pretrained(paths["base"]), lora)
    peft_model.save_pretrained(paths["lora"])
    adapter_config = paths["lora"] / "adapter_config.json"
    data = json.loads(adapter_config.read_text())
    data["base_model_name_or_path"] = str(paths["base"])
    adapter_config.write_text(json.dumps(data))
    return paths


def write_tasks(root: Path, n: int) -> list[Path]:
    """A choice task, a generation task and a perplexity task over synthetic rows."""
    import random

    rng = random.Random(0)
    rows = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
        rows.append({"id": f"r{i}", "text": words, "label": LABELS[i % 4], "ref": words[:20]})
    data = root / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    choice = root / "choice.yaml"
    choice.write_text(
        f"name: intents\ndata: {data}\nid_field: id\ntemplate: 'Message: {{text}}\\nIntent:'\n"
        f"choices: {json.dumps(LABELS)}\nlabel_field: label\nmetrics: [acc, acc_norm]\n"
    )
    generate = root / "generate.yaml"
    generate.write_text(
        f"name: echo\ntype: generate\ndata: {data}\nid_field: id\ntemplate: '{{text}} ->'\n"
        "reference_field: ref\nmax_new_tokens: 24\nmetrics: [exact_match, chrf]\n"
    )
    rolling = root / "rolling.yaml"
    rolling.write_text(
        f"name: text\ntype: perplexity\ndata: {data}\nid_field: id\ntext_field: text\n"
        "metrics: [perplexity]\n"
    )
    return [choice, generate, rolling]


def run_fteval(models: dict[str, Path], tasks: list[Path], out: Path, **flags: str) -> float:
    """One three-way ``fteval run``; returns its wall time in seconds."""
    command = [
        sys.executable, "-m", "fteval", "run", "--base", str(models["base"]),
        "--adapter", f"lora={models['lora']}", "--full", str(models["full"]),
        "--out", str(out), "--cache-dir", "off", "--quiet", "--bootstrap", "200",
        "--permutations", "200",
    ]  # fmt: skip
    for task in tasks:
        command += ["--task", str(task)]
    for key, value in flags.items():
        command += [f"--{key.replace('_', '-')}", value]
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"fteval run {flags} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - began


def load_samples(run: Path) -> dict[tuple[str, str, str], dict]:
    samples = {}
    for line in (run / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        samples[(record["task"], record["arm"], record["example_id"])] = record
    return samples


def compare(reference: dict, other: dict) -> dict[str, float]:
    """max |Δ| of choice log-likelihoods and rolling log-likelihoods; prediction and
    generation agreement, as shares."""
    ll_delta, roll_delta, same_pred, same_gen, n_choice, n_gen = 0.0, 0.0, 0, 0, 0, 0
    for key, ref in reference.items():
        got = other[key]
        if ref.get("choice_logprobs") is not None:
            n_choice += 1
            for a, b in zip(ref["choice_logprobs"], got["choice_logprobs"]):
                ll_delta = max(ll_delta, abs(a - b))
            same_pred += ref["prediction"] == got["prediction"]
        elif ref.get("generation") is not None:
            n_gen += 1
            same_gen += ref["generation"] == got["generation"]
        elif isinstance(ref.get("prediction"), dict) and "logprob" in ref["prediction"]:
            roll_delta = max(
                roll_delta, abs(ref["prediction"]["logprob"] - got["prediction"]["logprob"])
            )
    return {
        "max_abs_dll_choice": ll_delta,
        "max_abs_dll_rolling": roll_delta,
        "same_prediction": same_pred / max(1, n_choice),
        "same_generation": same_gen / max(1, n_gen),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="folder for the runs and the summary")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    out = Path(args.out or tempfile.mkdtemp(prefix="fteval-gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="fteval-gpu-models-"))
    models = build_models(root, layers=args.layers, width=args.width)
    tasks = write_tasks(root, args.items)
    runs = {
        "cpu-float32": {"device": "cpu", "dtype": "float32", "batch_size": "32"},
        "cuda-float32": {"device": "cuda", "dtype": "float32", "batch_size": "32"},
        "cuda-float32-bs1": {"device": "cuda", "dtype": "float32", "batch_size": "1"},
        "cuda-bfloat16": {"device": "cuda", "dtype": "bfloat16", "batch_size": "32"},
        "cuda-float16": {"device": "cuda", "dtype": "float16", "batch_size": "32"},
    }
    summary: dict[str, dict] = {"device": torch.cuda.get_device_name(0), "runs": {}}
    for name, flags in runs.items():
        seconds = run_fteval(models, tasks, out / name, **flags)
        summary["runs"][name] = {"wall_s": round(seconds, 2), "flags": flags}
        print(f"{name}: {seconds:.1f} s", flush=True)
    reference = load_samples(out / "cpu-float32")
    failures = []
    for name in runs:
        if name == "cpu-float32":
            continue
        facts = compare(reference, load_samples(out / name))
        summary["runs"][name].update(facts)
        print(name, json.dumps(facts), flush=True)
        if "float32" in name and (
            facts["max_abs_dll_choice"] > 1e-3 or facts["same_generation"] < 1.0
        ):
            failures.append(f"{name} disagrees with the CPU: {facts}")
    bs = compare(load_samples(out / "cuda-float32"), load_samples(out / "cuda-float32-bs1"))
    summary["batch_size_1_vs_32_cuda"] = bs
    print("cuda float32, batch 1 vs 32:", json.dumps(bs))
    if bs["max_abs_dll_choice"] > 1e-4 or bs["same_generation"] < 1.0:
        failures.append(f"batch size changes CUDA scores: {bs}")
    for name in runs:
        manifest = json.loads((out / name / "manifest.json").read_text())
        serving = {a["name"]: a["identity"].get("adapter_serving") for a in manifest["arms"]}
        summary["runs"][name]["adapter_serving"] = serving.get("lora")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for failure in failures:
        print("FAIL:", failure)
    print("gpu check:", "ok" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())

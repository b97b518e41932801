"""What-it-cost facts of a run on a GPU: a tiny three-way evaluation on CUDA.

Builds a small GPT-2 (byte tokenizer), a LoRA adapter and a perturbed full fine-tune,
evaluates them on a 60-item choice task with ``device="cuda"``, and prints each arm's cost
row. Checks that peak memory is the GPU's (``memory_kind`` ``cuda``), reset per arm (the
adapter arm's peak is not the base's plus the full model's), and no smaller than the
weights each arm holds on the GPU.

    python benchmarks/cost_on_gpu.py            # needs a CUDA GPU
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def build(root: Path) -> dict[str, Path]:
    """base/, lora/ and full/ under ``root`` (save_pretrained, safetensors)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = ByT5Tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=256,
        n_layer=4,
        n_head=4,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    paths = {name: root / name for name in ("base", "lora", "full")}
    base = GPT2LMHeadModel(config)
    base.save_pretrained(paths["base"])
    tokenizer.save_pretrained(paths["base"])
    with torch.no_grad():
        for param in base.parameters():
            param.add_(0.05 * torch.randn_like(param))
    base.save_pretrained(paths["full"])
    tokenizer.save_pretrained(paths["full"])
    model = GPT2LMHeadModel.from_pretrained(paths["base"])
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["c_attn", "c_proj"],
        fan_in_fan_out=True,
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, lora).save_pretrained(paths["lora"])
    adapter_config = json.loads((paths["lora"] / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = str(paths["base"])
    (paths["lora"] / "adapter_config.json").write_text(json.dumps(adapter_config))
    return paths


def task_file(root: Path) -> Path:
    labels = ("login", "billing", "refund")
    rows = [
        {"id": f"r{i}", "text": f"message number {i} about {labels[i % 3]}", "label": labels[i % 3]}
        for i in range(60)
    ]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "task.yaml").write_text(
        'name: intents\ndata: data.jsonl\nid_field: id\ntemplate: "Message: {text}\\nIntent:"\n'
        "choices: [login, billing, refund]\nlabel_field: label\nmetrics: [acc]\n"
    )
    return root / "task.yaml"


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to check")
        return 0
    from fteval.api import evaluate

    root = Path(tempfile.mkdtemp(prefix="fteval-gpu-cost-"))
    paths = build(root)
    results = evaluate(
        str(paths["base"]),
        adapters={"lora": str(paths["lora"])},
        full=str(paths["full"]),
        tasks=[str(task_file(root))],
        out=root / "run",
        device="cuda",
        progress=False,
        cache_dir="off",
        bootstrap_resamples=200,
        permutations=200,
    )
    for row in results["cost"]:
        print(json.dumps(row))
    weights = {r["arm"]: r["total_params"] * 4 for r in results["cost"]}  # float32 bytes
    problems = []
    for row in results["cost"]:
        if row["memory_kind"] != "cuda":
            problems.append(f"{row['arm']}: memory_kind {row['memory_kind']}, expected cuda")
        elif row["peak_memory_bytes"] < weights[row["arm"]]:
            problems.append(f"{row['arm']}: peak {row['peak_memory_bytes']} < weights")
    print("\n".join(problems) or "ok: every arm's peak is the GPU's, at least its weights")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Every built-in task on tiny models: items, wall time, each arm's headline score.

Builds tiny models in a temporary folder (a 2-layer GPT-2 with a byte tokenizer and a
1,024-token window, a non-zero LoRA adapter, a perturbed full fine-tune, and a separate
judge model), then runs ``fteval run`` once per task through ``--data`` on the shared
public data (``--data-root``), with ``--limit`` items per task, and prints a Markdown
table: task, items, wall time, base / LoRA / full headline score, and the exact command
(model paths shown as ``$BASE``, ``$LORA``, ``$FULL``, ``$JUDGE``). The scores of random
tiny models are near chance: the table shows that each task runs end to end and what it
costs, not model quality. HumanEval needs bubblewrap (``make system-deps``).

Run: ``python benchmarks/builtin_tasks.py [--limit 20] [--data-root /work/shared/data]
[--tasks sst2,gsm8k]``. Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE_TOKENS = 32
TASKS: dict[str, tuple[str | None, str, list[str]]] = {
    # task: (path under the data root, headline metric, extra flags)
    "mmlu": ("mmlu", "acc_micro", []),
    "sst2": ("sst2/dev.tsv", "acc", []),
    "trec": ("trec/TREC_10.label", "acc", []),
    "trec50": ("trec/TREC_10.label", "acc", []),
    "squad": ("squad/dev-v1.1.json", "squad_f1", []),
    "cnn_dailymail": ("cnn_dailymail/cnndm_mini-dataset.tsv", "rougeL", []),
    "gsm8k": ("gsm8k/test.jsonl", "strict_match", ["--num-fewshot", "0"]),
    "humaneval": (None, "pass@1", []),
    "codexglue_java_cs": ("codexglue", "codexglue_bleu", []),
    "codexglue_refinement": ("codexglue", "codexglue_bleu", []),
    "alpaca_eval": ("alpaca_eval/alpaca_eval.jsonl", "win_rate", ["--judge", "$JUDGE"]),
}
GENERATED = {"squad", "cnn_dailymail", "gsm8k", "humaneval", "codexglue_java_cs",
             "codexglue_refinement", "alpaca_eval"}  # fmt: skip


def build_models(root: Path) -> dict[str, Path]:
    """base, lora, full and judge folders (saved with save_pretrained)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = ByT5Tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=64, n_layer=2,
                        n_head=2, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    paths = {name: root / name for name in ("base", "lora", "full", "judge")}
    torch.manual_seed(0)
    base = GPT2LMHeadModel(config)
    for name, model in (("base", base), ("full", GPT2LMHeadModel(config)),
                        ("judge", GPT2LMHeadModel(config))):  # fmt: skip
        if name == "full":
            model.load_state_dict(base.state_dict())
            with torch.no_grad():
                for param in model.parameters():
                    param.add_(0.05 * torch.randn_like(param))
        model.save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    lora = get_peft_model(
        GPT2LMHeadModel.from_pretrained(paths["base"]),
        LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
                   init_lora_weights=False, task_type="CAUSAL_LM"),
    )  # fmt: skip
    lora.save_pretrained(paths["lora"])
    adapter_config = paths["lora"] / "adapter_config.json"
    data = json.loads(adapter_config.read_text())
    data["base_model_name_or_path"] = str(paths["base"])
    adapter_config.write_text(json.dumps(data))
    return paths


def command(task: str, data_root: Path, limit: int) -> list[str]:
    """The ``fteval run`` arguments of one task (model paths as $NAME placeholders)."""
    path, _, extra = TASKS[task]
    argv = ["fteval", "run", "--base", "$BASE", "--adapter", "lora=$LORA", "--full", "$FULL",
            "--task", task, "--limit", str(limit), "--quiet", "--cache-dir", "off"]  # fmt: skip
    if path is not None:
        argv += ["--data", f"{task}={data_root / path}"]
    if task in GENERATED:
        argv += ["--task-option", f"{task}:max_new_tokens={GENERATE_TOKENS}"]
    return argv + extra


def run(task: str, argv: list[str], models: dict[str, Path], out: Path) -> dict:
    concrete = [_fill(a, models) for a in argv[1:]] + ["--out", str(out)]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "fteval", *concrete], capture_output=True,
                          text=True, check=False)  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"], "wall": wall}
    results = json.loads((out / "results.json").read_text())
    metric = TASKS[task][1]
    scores = {}
    for row in results["scores"]:
        if row["task"] == task and row["metric"] == metric:
            scores[row["arm"]] = row["value"] * row.get("scale", 1.0)
    items = max((r["n"] for r in results["scores"] if r["task"] == task), default=0)
    if task == "mmlu":
        items = sum(t["n_examples"] for t in results["tasks"])
    return {"scores": scores, "wall": wall, "items": items, "metric": metric}


def _fill(arg: str, models: dict[str, Path]) -> str:
    for name, path in models.items():
        arg = arg.replace(f"${name.upper()}", str(path))
    return arg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20, help="items per task")
    parser.add_argument("--data-root", default="/work/shared/data")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks")
    args = parser.parse_args()
    data_root = Path(args.data_root)
    print("| task | items | wall s | metric | base | lora | full | command |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        models = build_models(Path(tmp))
        for task in args.tasks.split(","):
            argv = command(task, data_root, args.limit)
            result = run(task, argv, models, Path(tmp) / f"run-{task}")
            shown = " ".join(shlex.quote(a) if "$" not in a else a for a in argv)
            if "error" in result:
                print(f"| {task} | - | {result['wall']:.1f} | failed: {result['error'][0]} "
                      f"| | | | `{shown}` |")  # fmt: skip
                continue
            cells = [
                f"{result['scores'].get(arm, float('nan')):.1f}" for arm in ("base", "lora", "full")
            ]
            print(f"| {task} | {result['items']} | {result['wall']:.1f} | {result['metric']} | "
                  f"{' | '.join(cells)} | `{shown}` |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

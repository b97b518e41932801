"""How should one loaded base serve several LoRA arms? Measures four ways, on any device.

* ``switch``: PEFT ``set_adapter`` / ``disable_adapter`` (LoRA runs beside each layer);
* ``merge``: ``merge_adapter`` before an arm, ``unmerge_adapter`` after (W + BA - BA:
  the base weights come back with round-off, so the base arm is not exact);
* ``merge_restore``: merge, then restore the base weights from a saved copy (exact,
  but holds a second copy of every targeted weight);
* ``per_row``: base and every adapter in one batch, each row with its own adapter
  (PEFT's mixed batches: the base matmul once, each row's low-rank update added).

For each: seconds to serve the same work on base + N adapters, and the max |Δ logprob|
of the base arm after serving adapters (exactness). ``--shape prefill`` scores batches
of 96-token rows; ``--shape decode`` times 32 one-token steps per batch on a KV cache,
where reading the weights dominates on a CPU and ``per_row`` reads them once per step for
every arm. The HF backend's measured rule (``hf_serving``) makes this comparison on small
probes at run time. Run: ``python benchmarks/adapter_serving.py [--adapters 3]
[--requests 256] [--shape decode] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel


def build(
    n_adapters: int, rank: int, width: int = 256, layers: int = 4
) -> tuple[object, list[str]]:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=384, n_positions=256, n_embd=width, n_layer=layers,
                        n_head=width // 64)  # fmt: skip
    model = GPT2LMHeadModel(config).eval()
    names = [f"a{i}" for i in range(n_adapters)]
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["c_attn", "c_proj", "c_fc"],
                      fan_in_fan_out=True, init_lora_weights=False)  # fmt: skip
    peft_model = get_peft_model(model, lora, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, lora)
    return peft_model.eval(), names


SHAPE = {"name": "prefill"}
DECODE_STEPS = 32


def score(model, batch: torch.Tensor, **extra) -> torch.Tensor:
    """The work on one batch: a scoring pass, or (decode) a prefill then one-token steps."""
    with torch.inference_mode():
        if SHAPE["name"] == "prefill":
            return (
                model(input_ids=batch, **extra).logits.float().log_softmax(-1)[:, -1].max(-1).values
            )
        out = model(input_ids=batch[:, :32], use_cache=True, **extra)
        step = out.logits[:, -1:].argmax(-1)
        for _ in range(DECODE_STEPS):
            out = model(input_ids=step, past_key_values=out.past_key_values, use_cache=True,
                        **extra)  # fmt: skip
            step = out.logits[:, -1:].argmax(-1)
        return out.logits.float().log_softmax(-1)[:, -1].max(-1).values


def run(strategy: str, model, names, batches) -> tuple[float, float]:
    reference = [score_base(model, b) for b in batches[:1]]
    started = time.perf_counter()
    saved = None
    if strategy == "per_row":
        arms = ["__base__", *names]
        model.set_adapter(names[0])
        for batch in batches:
            rows = [a for a in arms for _ in range(batch.shape[0])]
            score(model, batch.repeat(len(arms), 1), adapter_names=rows)
    for name in names if strategy != "per_row" else ():  # per_row served every arm above
        if strategy == "switch":
            model.set_adapter(name)
            for batch in batches:
                score(model, batch)
        else:
            model.set_adapter(name)
            if strategy == "merge_restore":
                saved = copy.deepcopy(model.get_base_model().state_dict())
            model.merge_adapter()
            with model.disable_adapter():
                for batch in batches:
                    score(model.get_base_model(), batch)
            if strategy == "merge":
                model.unmerge_adapter()
            else:
                model.unmerge_adapter()
                model.get_base_model().load_state_dict(saved)
    for batch in batches if strategy != "per_row" else ():
        score_base(model, batch)
    elapsed = time.perf_counter() - started
    drift = (score_base(model, batches[0]) - reference[0]).abs().max().item()
    return elapsed, drift


def score_base(model, batch):
    with model.disable_adapter():
        return score(model, batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", type=int, default=3)
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--shape", choices=["prefill", "decode"], default="prefill")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=int, default=256, help="768: GPT-2 small's")
    parser.add_argument("--layers", type=int, default=4, help="12: GPT-2 small's")
    args = parser.parse_args()
    SHAPE["name"] = args.shape
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(3, 259, (16, 96), generator=generator).to(args.device)
               for _ in range(args.requests // 16)]  # fmt: skip
    print(f"{args.adapters} adapters, rank {args.rank}, {args.requests} requests x 96 tokens, "
          f"{args.shape}, {args.device}, {torch.get_num_threads()} threads")  # fmt: skip
    for strategy in ("switch", "merge", "merge_restore", "per_row"):
        model, names = build(args.adapters, args.rank, args.width, args.layers)
        model = model.to(args.device)
        run(strategy, model, names, batches[:1])  # warm-up
        seconds, drift = run(strategy, model, names, batches)
        print(f"{strategy:14s} {seconds:7.2f} s   base drift after serving: {drift:.2e}")


if __name__ == "__main__":
    main()

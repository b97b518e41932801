"""How should one loaded base serve several LoRA arms on CPU? Measures three ways.

* ``switch``: PEFT ``set_adapter`` / ``disable_adapter`` (LoRA runs beside each layer);
* ``merge``: ``merge_adapter`` before an arm, ``unmerge_adapter`` after (W + BA - BA:
  the base weights come back with round-off, so the base arm is not exact);
* ``merge_restore``: merge, then restore the base weights from a saved copy (exact,
  but holds a second copy of every targeted weight).

For each: seconds to score the same requests on base + N adapters, and the max
|Δ logprob| of the base arm after serving adapters (exactness). Run:
``python benchmarks/adapter_serving.py [--adapters 3] [--requests 256]``.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel


def build(n_adapters: int, rank: int) -> tuple[object, list[str]]:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=384, n_positions=256, n_embd=256, n_layer=4, n_head=4)
    model = GPT2LMHeadModel(config).eval()
    names = [f"a{i}" for i in range(n_adapters)]
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["c_attn", "c_proj", "c_fc"],
                      fan_in_fan_out=True, init_lora_weights=False)  # fmt: skip
    peft_model = get_peft_model(model, lora, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, lora)
    return peft_model.eval(), names


def score(model, batch: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=batch).logits.float().log_softmax(-1)[:, -1].max(-1).values


def run(strategy: str, model, names, batches) -> tuple[float, float]:
    reference = [score_base(model, b) for b in batches[:1]]
    started = time.perf_counter()
    saved = None
    for name in names:
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
    for batch in batches:
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
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(3, 259, (16, 96), generator=generator)
               for _ in range(args.requests // 16)]  # fmt: skip
    print(f"{args.adapters} adapters, rank {args.rank}, {args.requests} requests x 96 tokens, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    for strategy in ("switch", "merge", "merge_restore"):
        model, names = build(args.adapters, args.rank)
        run(strategy, model, names, batches[:1])  # warm-up
        seconds, drift = run(strategy, model, names, batches)
        print(f"{strategy:14s} {seconds:7.2f} s   base drift after serving: {drift:.2e}")


if __name__ == "__main__":
    main()

"""Each saving of the HF scorer, measured alone, on any device: the same numbers, less time.

Scores synthetic multiple-choice rows (one context of ``--context`` tokens, choices of 1,
3, 6 and 11 tokens) with a randomly initialised GPT-2-small- or Llama-shaped model three
ways and prints the time of each and the largest difference from the plain path:

* ``plain``: one row per request, logits at every position (the reference);
* ``head``: the LM head only at scored positions, batches by token budget, no sharing;
* ``fast``: the above, and each shared context once (choices on its KV cache).

Run: ``python benchmarks/fast_scoring.py [--device cuda] [--dtype bfloat16]
[--shape llama] [--items 256] [--context 400]``. Timings mean something only on an idle
machine; ``benchmarks/vs_lmeval.py`` compares the whole tool with lm-evaluation-harness.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from fteval.backends.hf_fast import FastScorer, WorkCounters
from fteval.backends.hf_scoring import ModelInput, budget_batches, score_batch

CHOICE_TOKENS = (1, 3, 6, 11)


def make_model(shape: str, vocab: int, dtype: torch.dtype, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if shape == "gpt2":
        config = GPT2Config(vocab_size=vocab, n_positions=2048, n_layer=12, n_embd=768,
                            n_head=12, initializer_range=0.08)  # fmt: skip
        model = GPT2LMHeadModel(config)
    else:
        config = LlamaConfig(vocab_size=vocab, max_position_embeddings=2048, num_hidden_layers=12,
                             hidden_size=768, intermediate_size=2048, num_attention_heads=12,
                             initializer_range=0.08, tie_word_embeddings=True)  # fmt: skip
        model = LlamaForCausalLM(config)
    return model.to(device=device, dtype=dtype).eval()


def make_rows(vocab: int, items: int, context: int) -> list[ModelInput]:
    generator = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(items):
        spread = int(torch.randint(-context // 4, context // 4 + 1, (1,), generator=generator))
        ids = tuple(torch.randint(5, vocab, (context + spread,), generator=generator).tolist())
        for length in CHOICE_TOKENS:
            choice = tuple(torch.randint(5, vocab, (length,), generator=generator).tolist())
            rows.append(ModelInput(ids + choice[:-1], choice, 0))
    return rows


def plain(model, rows, device, batch_size) -> list[tuple[float, bool]]:
    results: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
    lengths = [len(r.input_ids) for r in rows]
    for batch in budget_batches(lengths, max_tokens=10**12, max_rows=batch_size,
                                max_padding=10**12):  # fmt: skip
        for i, value in zip(batch, score_batch(model, [rows[i] for i in batch], 0, device)):
            results[i] = value
    return results


def timed(run, device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    began = time.perf_counter()
    value = run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return value, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--shape", default="gpt2", choices=["gpt2", "llama"])
    parser.add_argument("--vocab", type=int, default=50000)
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--context", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    model = make_model(args.shape, args.vocab, dtype, args.device)
    rows = make_rows(args.vocab, args.items, args.context)
    scorer = FastScorer(
        model,
        pad_id=0,
        device=args.device,
        max_tokens=args.batch_tokens,
        max_rows=args.batch_size,
        max_scored=max(1, (1 << 26) // args.vocab),
    )
    with torch.inference_mode():
        plain(model, rows[:4], args.device, args.batch_size)  # warm-up
        reference, plain_s = timed(lambda: plain(model, rows, args.device, args.batch_size),
                                   args.device)  # fmt: skip
        print(f"plain: {plain_s:.2f} s ({len(rows)} requests)")
        for name, share in (("head", False), ("fast", True)):
            counters = WorkCounters()
            got, seconds = timed(lambda share=share, c=counters: scorer.score(rows, c, share=share),
                                 args.device)  # fmt: skip
            worst = max(abs(a[0] - b[0]) for a, b in zip(got, reference))
            greedy = sum(a[1] == b[1] for a, b in zip(got, reference))
            print(f"{name}: {seconds:.2f} s = {seconds / plain_s:.2f} x plain; max |Δ logprob| "
                  f"{worst:.2e}; is_greedy equal on {greedy}/{len(rows)}; "
                  f"{counters.as_dict()}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Each saving of the HF scorer, measured alone, on any device: the same numbers, less time.

Scores synthetic multiple-choice rows (``--shared`` tokens every item starts with, as a
few-shot header, then an item context of ``--context`` tokens, choices of 1, 3, 6 and 11
tokens) with a randomly initialised GPT-2-small- or Llama-shaped model four ways and
prints the time of each, the largest difference from the plain path and the work done:

* ``plain``: one row per request, logits at every position (the reference);
* ``rows``: the LM head only at scored positions, batches by token budget, no sharing;
* ``shared_context``: the above, and each item's context once (choices on its KV cache);
* ``prefix_trie``: the above, and the prefix shared across items once (a token trie).

This is the check of the scorer's per-device rule (``hf_scorer``): on a GPU in bfloat16
the fast strategies must not be slower than ``plain``. Run: ``python
benchmarks/fast_scoring.py [--device cuda] [--dtype bfloat16] [--shape llama] [--items
256] [--context 100] [--shared 600]``. Timings mean something only on an idle machine;
``benchmarks/vs_lmeval.py`` compares the whole tool with lm-evaluation-harness.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from fteval.backends.closeness import max_difference
from fteval.backends.hf_forward import WorkCounters
from fteval.backends.hf_scorer import Scorer
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


def make_rows(vocab: int, items: int, context: int, shared: int) -> list[ModelInput]:
    generator = torch.Generator().manual_seed(0)
    header = tuple(torch.randint(5, vocab, (shared,), generator=generator).tolist())
    rows = []
    for _ in range(items):
        spread = int(torch.randint(-context // 4, context // 4 + 1, (1,), generator=generator))
        own = torch.randint(5, vocab, (context + spread,), generator=generator).tolist()
        ids = header + tuple(own)
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
    parser.add_argument("--context", type=int, default=100)
    parser.add_argument("--shared", type=int, default=400, help="tokens every item starts with")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--chunk-tokens", type=int, help="split longer trie nodes (CPU: 256)")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    model = make_model(args.shape, args.vocab, dtype, args.device)
    rows = make_rows(args.vocab, args.items, args.context, args.shared)
    arms = ["bench"] * len(rows)
    with torch.inference_mode():
        plain(model, rows[:4], args.device, args.batch_size)  # warm-up
        reference, plain_s = timed(lambda: plain(model, rows, args.device, args.batch_size),
                                   args.device)  # fmt: skip
        print(f"plain: {plain_s:.2f} s ({len(rows)} requests, {args.dtype} on {args.device})")
        for strategy, kind in (("shared_context", "loglikelihood_rolling"),
                               ("shared_context", "loglikelihood"),
                               ("prefix_trie", "loglikelihood")):  # fmt: skip
            scorer = Scorer(
                model, pad_id=0, device=args.device, max_tokens=args.batch_tokens,
                max_rows=args.batch_size, max_scored=max(1, (1 << 26) // args.vocab),
                chunk_tokens=args.chunk_tokens, strategy=strategy,
            )  # fmt: skip
            name = "rows" if kind != "loglikelihood" else strategy
            scorer.score(rows[:4], arms[:4], {"bench": WorkCounters()}, kind=kind)  # warm-up
            counters = {"bench": WorkCounters()}
            got, seconds = timed(
                lambda s=scorer, c=counters, k=kind: s.score(rows, arms, c, kind=k), args.device
            )
            worst = max_difference([a[0] for a in got], [b[0] for b in reference])
            greedy = sum(a[1] == b[1] for a, b in zip(got, reference))
            work = counters["bench"]
            ratio = work.executed_tokens / work.minimum_tokens
            print(f"{name}: {seconds:.2f} s = {seconds / plain_s:.2f} x plain; max |Δ logprob| "
                  f"{worst:.2e}; is_greedy equal on {greedy}/{len(rows)}; executed/minimum "
                  f"{ratio:.2f}; {work.as_dict()}")  # fmt: skip


if __name__ == "__main__":
    main()

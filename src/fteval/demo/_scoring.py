"""A minimal loglikelihood scorer for checking the demo models (not the project's backend).

Used while building (to report validation accuracy) and by ``benchmarks/demo_accuracy.py``.
It scores ``log P(delimiter + choice | prompt)`` exactly as the demo task asks, with a
byte-level tokenizer and no special tokens, so its figures are comparable with fteval's own
run on the same assets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

logger = logging.getLogger(__name__)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (ByT5 would otherwise append ``</s>``)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@torch.no_grad()
def choice_logprobs(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: Sequence[str],
    continuations: Sequence[str],
    *,
    batch_size: int = 64,
) -> list[list[float]]:
    """Sum of token log-probabilities of each continuation after each prompt.

    Args:
        model: a causal LM returning ``.logits`` of shape (batch, length, vocab).
        tokenizer: the model's tokenizer (called with ``add_special_tokens=False``).
        prompts: the contexts.
        continuations: the strings scored after every prompt (e.g. ``" login"``).
        batch_size: sequences per forward pass; results do not depend on it.

    Returns:
        ``[i][j]`` = log P(continuations[j] | prompts[i]), in nats (<= 0).
    """
    model.eval()
    cont_ids = [encode(tokenizer, c) for c in continuations]
    pairs: list[tuple[list[int], list[int]]] = []
    for prompt in prompts:
        prompt_ids = encode(tokenizer, prompt)
        pairs.extend((prompt_ids, ids) for ids in cont_ids)
    scores: list[float] = []
    for start in range(0, len(pairs), batch_size):
        scores.extend(_score_batch(model, pairs[start : start + batch_size]))
    width = len(continuations)
    return [scores[i * width : (i + 1) * width] for i in range(len(prompts))]


def _score_batch(
    model: torch.nn.Module, pairs: Sequence[tuple[list[int], list[int]]]
) -> list[float]:
    sequences = [p + c for p, c in pairs]
    length = max(len(s) for s in sequences)
    input_ids = torch.zeros((len(sequences), length), dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
    logprobs = torch.log_softmax(
        model(input_ids=input_ids, attention_mask=attention).logits.float(), dim=-1
    )
    out = []
    for row, (prompt, cont) in enumerate(pairs):
        # The token at position t is predicted by the logits at position t - 1.
        positions = torch.arange(len(prompt) - 1, len(prompt) + len(cont) - 1)
        targets = torch.tensor(cont)
        out.append(float(logprobs[row, positions, targets].sum()))
    return out


def accuracy(
    model: torch.nn.Module,
    tokenizer: Any,
    rows: Sequence[dict[str, str]],
    *,
    template: str,
    choices: Sequence[str],
    delimiter: str = " ",
) -> float:
    """Share (0..1) of ``rows`` whose ``label`` gets the highest choice loglikelihood."""
    prompts = [template.format(text=row["text"]) for row in rows]
    scores = choice_logprobs(model, tokenizer, prompts, [delimiter + c for c in choices])
    hits = sum(
        choices[max(range(len(choices)), key=s.__getitem__)] == row["label"]
        for s, row in zip(scores, rows)
    )
    return hits / len(rows) if rows else float("nan")

"""Batched decoding for the HF backend: our own loop over a KV cache.

It is written so that

* rows are left-padded with explicit position ids (padding never shifts positions);
* a row that has finished (stop string, EOS or ``max_new_tokens``) leaves the batch and
  costs no further decode steps (the cache is shrunk with ``batch_select_indices``);
* sampling draws from a per-row generator seeded by (run seed, prompt, sample index), so
  a sampled output does not depend on batch size or on the other rows;
* only the generated continuation is decoded, and it is cut at the first stop string.

Counters (``DecodeCounters``) report forward passes and row-steps actually executed
against tokens generated, so the cost of padding and finished rows is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fteval._util.hashing import stable_int
from fteval.backends.hf_fast import WorkCounters, cache_keyword, forward_at
from fteval.errors import BackendError
from fteval.records import GenerateRequest, GenerationResult


@dataclass
class DecodeCounters:
    """Work done by the decoder (integers, cumulative over calls)."""

    prefill_passes: int = 0
    decode_passes: int = 0  # forward passes after the prefill
    row_steps: int = 0  # sum over decode passes of rows in the batch
    generated_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class _Row:
    """One sequence being generated: a request's prompt and sample index."""

    request: int
    sample: int
    prompt: list[int]
    generator: Any
    tokens: list[int]
    text: str = ""
    finish: str | None = None


def row_seed(seed: int, prompt: str, sample: int) -> int:
    """The sampling seed of one (prompt, sample index): independent of batching."""
    return stable_int(seed, sample, prompt, bits=63)


def _cache_of(out: Any) -> Any:
    """The KV cache a forward pass with ``use_cache=True`` returned."""
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is None:
        raise RuntimeError("the model returned no KV cache although use_cache=True")
    return cache


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to (not including) the earliest stop string, and whether one occurred."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _next_tokens(logits: Any, rows: Sequence[_Row], request: GenerateRequest) -> list[int]:
    import torch

    sampling = request.sampling
    if sampling.temperature == 0:
        return logits.argmax(dim=-1).tolist()
    probs = (logits.float() / sampling.temperature).softmax(dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        keep = sorted_probs.cumsum(dim=-1) - sorted_probs < sampling.top_p
        keep[:, 0] = True
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return [
        int(torch.multinomial(probs[i].cpu(), 1, generator=row.generator).item())
        for i, row in enumerate(rows)
    ]


def generate_group(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    prompt_texts: Sequence[str],
    request: GenerateRequest,
    *,
    pad_id: int,
    eos_ids: set[int],
    device: str,
    counters: DecodeCounters,
    work: WorkCounters | None = None,
) -> list[list[str | Any]]:
    """Decode every prompt of a group that shares decoding settings.

    The prefill projects the LM head at each row's last position only.

    Args:
        model: the loaded model (adapter set by the caller), in eval mode.
        tokenizer: its tokenizer (decodes the generated ids).
        prompts: token ids of each prompt (already truncated to fit).
        prompt_texts: the prompts as text (for per-row seeds).
        request: the settings (stop, max_new_tokens, sampling) shared by the group.
        pad_id: the token id that pads rows on the left.
        eos_ids: token ids that end a row.
        device: where the ids go (the model's device).
        counters: forward passes and row-steps, updated in place.
        work: where tokens fed (padding included) and the minimum (each distinct prompt
            once, plus every token fed back) are added.

    Returns:
        Per prompt, ``sampling.n`` tuples of (text, n_tokens, finish_reason).
    """
    import torch

    n = request.sampling.n if request.sampling.temperature > 0 else 1
    rows = []
    for index, (prompt_ids, text) in enumerate(zip(prompts, prompt_texts)):
        for sample in range(n):
            generator = torch.Generator().manual_seed(row_seed(request.sampling.seed, text, sample))
            rows.append(_Row(index, sample, list(prompt_ids), generator, []))
    keyword = cache_keyword(model)
    width = max(len(r.prompt) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row.prompt) :] = torch.tensor(row.prompt, dtype=torch.long)
        mask[i, width - len(row.prompt) :] = 1
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    active = list(range(len(rows)))
    work = work if work is not None else WorkCounters()
    work.forward_passes += 1
    work.executed_tokens += len(rows) * width
    work.minimum_tokens += sum(len(p) for p in {tuple(p) for p in prompts})
    work.projected_positions += len(rows)
    with torch.inference_mode():
        last = [row * width + width - 1 for row in range(len(rows))]
        out, logits = forward_at(
            model, last, input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True
        )
        counters.prefill_passes += 1
        cache = _cache_of(out)
        del out
        next_position = positions[:, -1] + 1
        for _ in range(request.max_new_tokens):
            chosen = _next_tokens(logits, [rows[i] for i in active], request)
            still = []
            for slot, (row_index, token) in enumerate(zip(active, chosen)):
                row = rows[row_index]
                if token in eos_ids:
                    row.finish = "eos"
                    continue
                row.tokens.append(token)
                counters.generated_tokens += 1
                row.text, stopped = cut_at_stop(
                    tokenizer.decode(row.tokens, skip_special_tokens=True), request.stop
                )
                if stopped:
                    row.finish = "stop"
                elif len(row.tokens) >= request.max_new_tokens:
                    row.finish = "length"
                else:
                    still.append(slot)
            if not still:
                break
            keep = torch.tensor(still, dtype=torch.long, device=device)
            if len(still) < len(active):
                cache.batch_select_indices(keep)
                mask = mask.index_select(0, keep)
                next_position = next_position.index_select(0, keep)
                chosen = [chosen[s] for s in still]
            active = [active[s] for s in still]
            step_ids = torch.tensor(chosen, dtype=torch.long, device=device)[:, None]
            mask = torch.cat([mask, torch.ones_like(step_ids)], dim=-1)
            out = model(
                input_ids=step_ids, attention_mask=mask, position_ids=next_position[:, None],
                use_cache=True, **{keyword: cache},
            )  # fmt: skip
            counters.decode_passes += 1
            counters.row_steps += len(active)
            work.forward_passes += 1
            work.executed_tokens += len(active)
            work.minimum_tokens += len(active)
            work.projected_positions += len(active)
            cache = _cache_of(out)
            logits = out.logits[:, -1, :]
            next_position = next_position + 1
    for row in rows:
        if row.finish is None:
            row.finish = "length"
    grouped: list[list[Any]] = [[] for _ in prompts]
    for row in rows:
        grouped[row.request].append((row.text, len(row.tokens), row.finish))
    return [repeat_greedy(g, request) for g in grouped]


def chat_prompt(tokenizer: Any, text: str) -> str:
    """``text`` as one user turn in the tokenizer's chat template, ready for the reply.

    Raises:
        BackendError: the tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError("the task asks for the chat template, but the tokenizer has none")
    return str(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    )


def fit_prompt(
    ids: Sequence[int], *, prefix_token: int | None, max_length: int | None, max_new_tokens: int
) -> tuple[list[int], int]:
    """Prompt ids that leave room for ``max_new_tokens`` in the context window.

    Args:
        ids: the encoded prompt; an empty one becomes ``[prefix_token]`` when there is one.
        prefix_token: the token that stands for an empty prompt (None: none).
        max_length: the context window in tokens (None: unbounded).
        max_new_tokens: tokens the reply may take.

    Returns:
        The ids, cut from the left where needed, and the number of tokens cut (>= 0).

    Raises:
        BackendError: ``max_new_tokens`` fills the whole window.
    """
    ids = list(ids)
    if not ids and prefix_token is not None:
        ids = [prefix_token]
    if max_length is None:
        return ids, 0
    room = max_length - max_new_tokens
    if room < 1:
        raise BackendError(
            f"max_new_tokens={max_new_tokens} leaves no room for the prompt in a "
            f"context window of {max_length} tokens"
        )
    cut = max(0, len(ids) - room)
    return ids[cut:], cut


def repeat_greedy(samples: list[Any], request: GenerateRequest) -> list[Any]:
    """A request decoded once greedily stands for each of its ``sampling.n`` samples."""
    if len(samples) == 1 and request.sampling.n > 1:
        return samples * request.sampling.n
    return samples


def results_from_groups(
    groups: Sequence[list[Any]], truncated: Sequence[int]
) -> list[GenerationResult]:
    """GenerationResults from ``generate_group`` output, per request."""
    return [
        GenerationResult(
            texts=tuple(t for t, _, _ in group),
            n_tokens=tuple(k for _, k, _ in group),
            finish_reasons=tuple(f for _, _, f in group),
            truncated_tokens=cut,
        )
        for group, cut in zip(groups, truncated)
    ]

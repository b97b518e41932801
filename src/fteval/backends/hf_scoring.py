"""Token-level scoring for the HF backend: boundary-correct encoding, the plain reference
scorer, and how rows are grouped into batches. Scores never depend on the batching.

Boundary rule (as lm-evaluation-harness, so numbers are comparable with published ones):
trailing whitespace of the context moves to the start of the continuation; the pair is
encoded whole and the continuation's tokens are those after the context's own encoding.
An empty context is replaced by the model's BOS (or EOS) token. When the tokenizer merges
across the boundary so that the whole encoding shares *no* token with the context's own
(a one-token context merged into its continuation), the context is treated as empty: the
prefix token, then the whole encoding as the continuation.

BOS policy (``bos_token``): when given, it is put before every encoding (the context's,
the whole pair's, an empty context's), once.

Overlong inputs are cut from the left (the oldest context tokens go), and the number of
tokens dropped is reported per request. A continuation longer than the context window is
an error: it cannot be scored faithfully.

``score_batch`` is the plain path: one forward pass per row, logits at every position. It
is the reference the fast strategies (``hf_scorer``) are tested against, and the fallback when a
model fails their self-check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.errors import BackendError

# padded tokens per real token a batch may hold: keeps executed / minimum tokens <= 1.10
MAX_PADDING = 0.1


@dataclass(frozen=True)
class EncodedPair:
    """Token ids of a (context, continuation) request."""

    context: tuple[int, ...]
    continuation: tuple[int, ...]


def split_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace to the front of the continuation."""
    stripped = context.rstrip()
    return stripped, context[len(stripped) :] + continuation


def encode_pair(
    encode: Callable[[str], list[int]],
    context: str,
    continuation: str,
    prefix_token: int | None,
    *,
    bos_token: int | None = None,
) -> EncodedPair:
    """Encode a loglikelihood request at the token boundary described above.

    Args:
        encode: text -> token ids, without special tokens.
        context: the conditioning text (may be empty).
        continuation: the text scored (not empty).
        prefix_token: BOS/EOS id used when the context is empty (or merges away).
        bos_token: when not None, put before every encoding (the BOS policy).

    Raises:
        BackendError: the continuation is empty or encodes to no tokens, or the context
            is empty and there is no prefix token.
    """
    if not continuation:
        raise BackendError("a loglikelihood request has an empty continuation")
    context, continuation = split_trailing_space(context, continuation)
    lead = () if bos_token is None else (bos_token,)
    if context:
        whole = (*lead, *encode(context + continuation))
        context_ids = (*lead, *encode(context))
        # Tokenizers may merge across the boundary; the continuation is what follows the
        # context's own tokens in the whole encoding (lm-evaluation-harness's rule).
        cut = len(context_ids)
        if whole[:cut] != context_ids:
            cut = _common_prefix(whole, context_ids)
        if cut > 0:
            if not whole[cut:]:
                raise BackendError(
                    f"continuation {continuation!r} encodes to no tokens after the context"
                )
            return EncodedPair(whole[:cut], whole[cut:])
        continuation = context + continuation  # nothing of the context survives the merge
    start = lead or ((prefix_token,) if prefix_token is not None else ())
    if not start:
        raise BackendError("empty context and the tokenizer has no BOS or EOS token")
    continuation_ids = tuple(encode(continuation))
    if not continuation_ids:
        raise BackendError(f"continuation {continuation!r} encodes to no tokens")
    return EncodedPair(start, continuation_ids)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class ModelInput:
    """One row of a batch: the ids fed to the model and where the continuation sits."""

    input_ids: tuple[int, ...]
    target_ids: tuple[int, ...]
    truncated: int


def model_input(pair: EncodedPair, max_length: int) -> ModelInput:
    """The model input for a pair (all tokens but the last), cut from the left to fit."""
    sequence = pair.context + pair.continuation
    if len(pair.continuation) > max_length:
        raise BackendError(
            f"a continuation of {len(pair.continuation)} tokens exceeds the context window "
            f"of {max_length} tokens"
        )
    inputs = sequence[:-1]
    truncated = max(0, len(inputs) - max_length)
    return ModelInput(inputs[truncated:], pair.continuation, truncated)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches, longest first (memory errors surface at once)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def budget_batches(
    lengths: Sequence[int],
    *,
    max_tokens: int,
    max_rows: int,
    scored: Sequence[int] | None = None,
    max_scored: int | None = None,
    max_padding: float = MAX_PADDING,
    overhead: int = 0,
) -> list[list[int]]:
    """Indices grouped longest first into batches that respect four budgets.

    A batch is padded to its first (longest) row, so it holds ``rows x longest`` tokens,
    plus ``overhead`` per row (a cached prefix each row continues, copied per row); it
    grows while that stays within ``max_tokens``, its rows within ``max_rows``, the sum
    of ``scored`` within ``max_scored``, and its tokens within ``1 + max_padding`` times
    the real ones (so padding never costs more than that share, however few or uneven the
    rows). A row that alone exceeds a budget is a batch of its own.

    Args:
        lengths: tokens of each row (>= 1).
        max_tokens: padded tokens per batch (>= 1).
        max_rows: rows per batch (>= 1).
        scored: positions each row sends through the LM head (default: none counted).
        max_scored: most such positions per batch (default: no limit).
        max_padding: padded tokens per real token allowed in a batch (>= 0).
        overhead: tokens each row costs besides its own (>= 0): the width of the cache
            it continues.

    Returns:
        Batches of row indices; every index appears exactly once.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = used = real = 0
    for index in order:
        cost = scored[index] if scored is not None else 0
        rows = len(current) + 1
        full = current and (
            rows > max_rows
            or rows * (width + overhead) > max_tokens
            or (max_scored is not None and used + cost > max_scored)
            or rows * width > (1.0 + max_padding) * (real + lengths[index])
        )
        if full:
            batches.append(current)
            current, used, real = [], 0, 0
        if not current:
            width = lengths[index]
        current.append(index)
        used += cost
        real += lengths[index]
    if current:
        batches.append(current)
    return batches


def score_batch(
    model: Any, rows: Sequence[ModelInput], pad_id: int, device: str, **extra: Any
) -> list[tuple[float, bool]]:
    """Summed log-prob and greediness of each row's targets, from one forward pass.

    Rows are right-padded with ``pad_id`` under an attention mask; padding never reaches
    a real position (causal attention), so results do not depend on the batch. ``extra``
    goes to the forward pass (per-row adapter names).
    """
    import torch

    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row.input_ids)] = torch.tensor(row.input_ids, dtype=torch.long)
        mask[i, : len(row.input_ids)] = 1
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), **extra).logits
    results = []
    for i, row in enumerate(rows):
        end = len(row.input_ids)
        start = end - len(row.target_ids)
        span = logits[i, start:end].float().log_softmax(dim=-1)
        targets = torch.tensor(row.target_ids, dtype=torch.long, device=span.device)
        logprob = span.gather(-1, targets[:, None]).double().sum().item()  # no float32 sum error
        greedy = bool((span.argmax(dim=-1) == targets).all().item())
        results.append((float(logprob), greedy))
    return results


def rolling_windows(n_tokens: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows that predict each of ``n_tokens`` targets exactly once.

    Token 0 of the sequence is the prefix token; targets are positions 1..n_tokens. Each
    window ``(context_start, predict_start, end)`` feeds tokens ``[context_start, end)``
    and scores targets ``[predict_start, end)`` (positions in the full sequence), with at
    most ``max_length`` tokens of input.

    Args:
        n_tokens: number of target tokens (the text's tokens).
        max_length: the model's context window, in tokens.
        stride: new targets per window, 1..max_length; smaller strides give each
            prediction more context at more compute.
    """
    if not 1 <= stride <= max_length:
        raise ValueError(f"stride must be in 1..{max_length}, got {stride}")
    windows = []
    predict_start = 1
    while predict_start <= n_tokens:
        end = min(predict_start + stride, n_tokens + 1)
        context_start = max(0, end - 1 - max_length)
        windows.append((context_start, predict_start, end))
        predict_start = end
    return windows

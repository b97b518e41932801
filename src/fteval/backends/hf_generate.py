"""Batched decoding for the HF backend (the generator): our own loop over a KV cache.

It is written so that

* the tokens every prompt of a group starts with (a few-shot prefix) run once per arm
  (``shared_prefix``), and each row continues that prefix's cache;
* rows of several arms may share a batch, each with its own adapter (``RowAdapters``):
  one pass over the weights per decode step for base and adapters together;
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval._util.hashing import stable_int
from fteval.backends.hf_forward import (
    ONE_ARM,
    RowAdapters,
    WorkCounters,
    cache_keyword,
    cache_of,
    forward_at,
    select_cache_rows,
)
from fteval.backends.hf_models import LoadedModel
from fteval.backends.hf_scoring import ModelInput, length_sorted_batches
from fteval.backends.hf_trie import common_prefix, distinct_prefix_tokens
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


# a group's prompts share a prefix cache when they all start with at least this many tokens
MIN_SHARED_PREFIX = 16


def row_seed(seed: int, prompt: str, sample: int) -> int:
    """The sampling seed of one (prompt, sample index): independent of batching."""
    return stable_int(seed, sample, prompt, bits=63)


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


@dataclass(frozen=True)
class Prompt:
    """One prompt to decode: its arm, token ids (fitted to the window) and text."""

    arm: str
    ids: tuple[int, ...]
    text: str


@dataclass
class SharedPrefix:
    """The KV cache of the tokens every prompt of a group starts with, one row per arm.

    Attributes:
        length: the prefix's tokens.
        cache: the KV cache (rows: ``row_of`` arm).
        row_of: arm -> its row.
    """

    length: int
    cache: Any
    row_of: dict[str, int]


def shared_prefix(
    model: Any,
    prompts: Sequence[Prompt],
    *,
    device: str,
    chunk_tokens: int | None,
    adapters: RowAdapters = ONE_ARM,
    work: Mapping[str, WorkCounters] | None = None,
) -> SharedPrefix | None:
    """The cache of the prompts' longest common prefix (each prompt keeps at least one
    token of its own), computed once per arm; None when shorter than
    ``MIN_SHARED_PREFIX`` tokens or when one prompt only."""
    import torch

    if len(prompts) < 2:
        return None
    length = min(len(p.ids) for p in prompts) - 1
    first = prompts[0].ids
    for prompt in prompts[1:]:
        length = min(length, common_prefix(first, prompt.ids))
    if length < MIN_SHARED_PREFIX:
        return None
    arms = list(dict.fromkeys(p.arm for p in prompts))
    ids = torch.tensor([list(first[:length])] * len(arms), dtype=torch.long, device=device)
    keyword = cache_keyword(model)
    step = chunk_tokens or length
    cache = None
    with torch.inference_mode():
        for start in range(0, length, step):
            end = min(length, start + step)
            inputs: dict[str, Any] = {
                "input_ids": ids[:, start:end],
                "attention_mask": torch.ones((len(arms), end), dtype=torch.long, device=device),
                "position_ids": torch.arange(start, end, device=device)[None].expand(len(arms), -1),
                "use_cache": True,
                **adapters.kwargs(arms),
            }
            if cache is not None:
                inputs[keyword] = cache
            cache = cache_of(forward_at(model, [], **inputs)[0])
    for arm in arms:
        if work is not None:
            count = work[arm]
            count.forward_passes += -(-length // step)
            count.executed_tokens += length
    return SharedPrefix(length, cache, {arm: row for row, arm in enumerate(arms)})


def generate_group(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    request: GenerateRequest,
    *,
    pad_id: int,
    eos_ids: set[int],
    device: str,
    counters: DecodeCounters,
    work: Mapping[str, WorkCounters],
    adapters: RowAdapters = ONE_ARM,
    prefix: SharedPrefix | None = None,
) -> list[list[Any]]:
    """Decode every prompt of a group that shares decoding settings.

    The prefill projects the LM head at each row's last position only. With a shared
    prefix, each row continues its arm's row of the prefix's cache and feeds only its own
    tokens (left-padded after the prefix, under the mask, with explicit positions).

    Args:
        model: the loaded model (serving set by the caller), in eval mode.
        tokenizer: its tokenizer (decodes the generated ids).
        prompts: each prompt's arm, ids (already fitted to the window) and text (the
            per-row sampling seed's input).
        request: the settings (stop, max_new_tokens, sampling) shared by the group.
        pad_id: the token id that pads rows.
        eos_ids: token ids that end a row.
        device: where the ids go (the model's device).
        counters: forward passes and row-steps, updated in place.
        work: per arm, where tokens fed (padding included) are added.
        adapters: per-row adapter names when prompts of several arms share the batch.
        prefix: the cache of the tokens every prompt starts with (None: none).

    Returns:
        Per prompt, ``sampling.n`` tuples of (text, n_tokens, finish_reason).
    """
    import torch

    n = request.sampling.n if request.sampling.temperature > 0 else 1
    rows = []
    for index, prompt in enumerate(prompts):
        for sample in range(n):
            generator = torch.Generator().manual_seed(
                row_seed(request.sampling.seed, prompt.text, sample)
            )
            rows.append(_Row(index, sample, list(prompt.ids), generator, []))
    keyword = cache_keyword(model)
    skip = prefix.length if prefix is not None else 0
    feeds = [row.prompt[skip:] for row in rows]
    arms = [prompts[row.request].arm for row in rows]
    width = max(len(f) for f in feeds)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, feed in enumerate(feeds):
        ids[i, width - len(feed) :] = torch.tensor(feed, dtype=torch.long)
        mask[i, width - len(feed) :] = 1
    positions = skip + (mask.cumsum(dim=-1) - 1).clamp(min=0)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    inputs: dict[str, Any] = {"input_ids": ids, "position_ids": positions, "use_cache": True}
    if prefix is not None:
        source = torch.tensor([prefix.row_of[arm] for arm in arms], dtype=torch.long, device=device)
        mask = torch.cat([torch.ones((len(rows), skip), dtype=torch.long, device=device), mask], 1)
        inputs[keyword] = select_cache_rows(prefix.cache, source)
    inputs["attention_mask"] = mask
    for arm in dict.fromkeys(arms):
        work[arm].forward_passes += 1
    for arm in arms:
        work[arm].executed_tokens += width
        work[arm].projected_positions += 1
    active = list(range(len(rows)))
    with torch.inference_mode():
        last = [row * width + width - 1 for row in range(len(rows))]
        out, logits = forward_at(model, last, **inputs, **adapters.kwargs(arms))
        counters.prefill_passes += 1
        cache = cache_of(out)
        del out
        next_position = positions[:, -1] + 1
        for _ in range(request.max_new_tokens):
            chosen = _next_tokens(logits, [rows[i] for i in active], request)
            still = _advance(rows, active, chosen, tokenizer, request, eos_ids, counters)
            if not still:
                break
            keep = torch.tensor(still, dtype=torch.long, device=device)
            if len(still) < len(active):
                cache.batch_select_indices(keep)
                mask = mask.index_select(0, keep)
                next_position = next_position.index_select(0, keep)
                chosen = [chosen[s] for s in still]
            active = [active[s] for s in still]
            step_arms = [arms[i] for i in active]
            step_ids = torch.tensor(chosen, dtype=torch.long, device=device)[:, None]
            mask = torch.cat([mask, torch.ones_like(step_ids)], dim=-1)
            out = model(
                input_ids=step_ids, attention_mask=mask, position_ids=next_position[:, None],
                use_cache=True, **{keyword: cache}, **adapters.kwargs(step_arms),
            )  # fmt: skip
            counters.decode_passes += 1
            counters.row_steps += len(active)
            for arm in dict.fromkeys(step_arms):
                work[arm].forward_passes += 1
            for arm in step_arms:
                work[arm].executed_tokens += 1
                work[arm].minimum_tokens += 1
                work[arm].projected_positions += 1
            cache = cache_of(out)
            logits = out.logits[:, -1, :]
            next_position = next_position + 1
    for row in rows:
        if row.finish is None:
            row.finish = "length"
    grouped: list[list[Any]] = [[] for _ in prompts]
    for row in rows:
        grouped[row.request].append((row.text, len(row.tokens), row.finish))
    return [repeat_greedy(g, request) for g in grouped]


def _advance(
    rows: Sequence[_Row],
    active: Sequence[int],
    chosen: Sequence[int],
    tokenizer: Any,
    request: GenerateRequest,
    eos_ids: set[int],
    counters: DecodeCounters,
) -> list[int]:
    """Append each active row's chosen token; the slots of the rows still going."""
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
    return still


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


class Generator:
    """Decodes requests for one loaded model: groups by settings, shared prefixes once,
    batches longest first.

    Args:
        loaded: the model, its tokenizer and their facts.
        device: where the inputs go.
        batch_size: prompts per arm in one batch (results do not depend on it).
        chunk_tokens: a shared prefix runs in chunks of this many tokens (None: whole).
        counters: the backend's decode counters.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        device: str,
        batch_size: int,
        chunk_tokens: int | None,
        counters: DecodeCounters,
    ) -> None:
        self.loaded = loaded
        self.device = device
        self.batch_size = batch_size
        self.chunk_tokens = chunk_tokens
        self.counters = counters

    def prompt(self, arm: str, request: GenerateRequest) -> tuple[Prompt, int]:
        """The request's prompt ids cut from the left to leave room for
        ``max_new_tokens``, and the tokens cut."""
        loaded = self.loaded
        text = chat_prompt(loaded.tokenizer, request.prompt) if request.chat else request.prompt
        ids = loaded.encode(text)
        if loaded.bos is not None and ids[:1] != [loaded.bos]:
            ids = [loaded.bos, *ids]  # a chat template may already start with BOS text
        fitted, cut = fit_prompt(
            ids,
            prefix_token=loaded.prefix_token,
            max_length=loaded.max_length,
            max_new_tokens=request.max_new_tokens,
        )
        return Prompt(arm, tuple(fitted), request.prompt), cut

    def generate(
        self,
        items: Sequence[tuple[str, GenerateRequest]],
        work: Mapping[str, WorkCounters],
        *,
        adapters: RowAdapters = ONE_ARM,
        progress: Callable[[int], Any] | None = None,
    ) -> list[GenerationResult]:
        """Each (arm, request)'s result, in order.

        Args:
            items: the requests with the arm that answers each.
            work: per arm, where the token work is added.
            adapters: per-row adapter names when several arms share batches.
            progress: called with the number of requests finished after each batch.
        """
        report = progress or (lambda done: None)
        results: list[GenerationResult | None] = [None] * len(items)
        groups: dict[tuple, list[int]] = {}
        for index, (_, request) in enumerate(items):
            key = (request.stop, request.max_new_tokens, request.sampling, request.chat)
            groups.setdefault(key, []).append(index)
        eos = self.loaded.eos_ids()
        arms = len({arm for arm, _ in items})
        for members in groups.values():
            fitted = [self.prompt(*items[i]) for i in members]
            prompts = [prompt for prompt, _ in fitted]
            self._count_minimum(prompts, work)
            prefix = shared_prefix(
                self.loaded.model, prompts, device=self.device, chunk_tokens=self.chunk_tokens,
                adapters=adapters, work=work,
            )  # fmt: skip
            lengths = [len(p.ids) for p in prompts]
            for batch in length_sorted_batches(lengths, self.batch_size * arms):
                request = items[members[batch[0]]][1]
                decoded = generate_group(
                    self.loaded.model, self.loaded.tokenizer, [prompts[b] for b in batch],
                    request, pad_id=self.loaded.pad_id, eos_ids=eos, device=self.device,
                    counters=self.counters, work=work, adapters=adapters, prefix=prefix,
                )  # fmt: skip
                made = results_from_groups(decoded, [fitted[b][1] for b in batch])
                for b, result in zip(batch, made):
                    results[members[b]] = result
                report(len(batch))
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise BackendError(f"generation produced no result for requests {missing[:5]}")
        return results  # type: ignore[return-value]

    @staticmethod
    def _count_minimum(prompts: Sequence[Prompt], work: Mapping[str, WorkCounters]) -> None:
        """Per arm: each distinct prefix of its prompts once (their token trie)."""
        arms = [p.arm for p in prompts]
        inputs = [ModelInput(p.ids, (), 0) for p in prompts]
        for arm, minimum in distinct_prefix_tokens(inputs, arms).items():
            work[arm].minimum_tokens += minimum

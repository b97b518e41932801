"""Fast log-likelihood scoring for the HF backend: less work, the same numbers.

Three savings over the plain path (``hf_scoring.score_batch``), each tested to give the
plain path's log-likelihoods within 1e-5 in float32, at any batch size:

* **The LM head only where a token is scored.** A forward pre-hook on the model's output
  embedding gathers the hidden states of the scored positions before the projection, so
  the head — and whatever the model does to its logits afterwards (soft-capping, scaling)
  — runs on those rows only. No logits, and no full-vocabulary softmax, over the prompt.
* **Each shared context once.** Requests whose inputs share their *context part* (every
  token up to the one that predicts the continuation's first token) form a group: the
  context runs once, its last position scores every choice's first token, and the rest of
  each longer choice runs on top of the context's KV cache. Single-token choices (MMLU
  letters) cost nothing beyond their context.
* **Batches by token budget.** Rows are sorted by length and batched while rows x width
  stays within ``max_tokens``, the rows within ``max_rows`` and the projected positions
  within ``max_scored`` (which bounds the logits' memory), so padding stays small.

Rows whose choices continue on the cache are left-padded with explicit position ids (as in
batched generation), so a choice's tokens follow their context directly. A model whose
forward takes no ``position_ids`` keeps the head-only projection but not the sharing. Before
first use, ``FastScorer.verify`` scores a probe both ways; a model whose fast scores differ
from its plain ones is scored by the plain path, and ``path`` says why.

``WorkCounters`` count what ran: forward passes, tokens fed (padding included), the
minimum any scorer must feed (each distinct context part once, plus each continuation's
tokens but its last), and the positions projected by the LM head.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fteval.backends.closeness import max_difference
from fteval.backends.hf_scoring import ModelInput, budget_batches, score_batch
from fteval.errors import BackendError

logger = logging.getLogger(__name__)

# max |fast - plain| per scored token accepted by the self-check (float32, 16-bit dtypes);
# a misplaced position or mask shifts log-probabilities by whole nats, far above these.
VERIFY_TOLERANCE = {"float32": 1e-4, "16-bit": 0.1}


@dataclass
class WorkCounters:
    """Token work of one arm and request kind (cumulative integers).

    Attributes:
        forward_passes: model calls.
        executed_tokens: rows x padded width, summed over the calls.
        minimum_tokens: what any scorer must feed: each distinct context part once,
            plus every continuation's tokens but its last (rolling: each window once).
        projected_positions: positions whose logits the LM head computed.
    """

    forward_passes: int = 0
    executed_tokens: int = 0
    minimum_tokens: int = 0
    projected_positions: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters, JSON-ready."""
        return dict(vars(self))


def cache_keyword(model: Any) -> str:
    """``cache`` (transformers >= 5.x) or ``past_key_values`` (older)."""
    return "cache" if _accepts(model, "cache") else "past_key_values"


def _accepts(model: Any, name: str) -> bool:
    """Whether the model's forward (or, under a PEFT wrapper, the base's) names ``name``."""
    for candidate in (model, getattr(model, "get_base_model", lambda: model)()):
        if name in inspect.signature(candidate.forward).parameters:
            return True
    return False


@contextlib.contextmanager
def _gathering(model: Any, index: Any, shape: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """Within the block, the model's LM head sees only the hidden states at ``index``
    (flat positions into ``shape`` = (rows, width)); ``state["gathered"]`` says whether
    it did (a model that projects elsewhere, or twice, is left alone)."""
    state: dict[str, Any] = {"calls": 0, "gathered": False}
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        yield state
        return

    def hook(module: Any, args: tuple, kwargs: dict) -> Any:
        state["calls"] += 1
        hidden = args[0] if args else None
        if state["calls"] > 1 or hidden is None or hidden.dim() != 3:
            return None
        if tuple(hidden.shape[:2]) != shape:
            return None
        flat = hidden.reshape(-1, hidden.shape[-1]).index_select(0, index)
        state["gathered"] = True
        return (flat[None], *args[1:]), kwargs

    handle = head.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield state
    finally:
        handle.remove()


def forward_at(model: Any, positions: Sequence[int], **inputs: Any) -> tuple[Any, Any]:
    """Run ``model(**inputs)`` and return (output, logits at ``positions``).

    Args:
        model: a causal LM (PEFT-wrapped or not).
        positions: flat indices ``row * width + column`` into ``inputs["input_ids"]``.
        **inputs: the forward's keyword arguments.

    Returns:
        The model output and float32 logits ``[len(positions), vocab]``, computed by the
        LM head on those positions only where the model allows it (else gathered from
        the full logits, the same numbers).
    """
    import torch

    ids = inputs["input_ids"]
    shape = (int(ids.shape[0]), int(ids.shape[1]))
    index = torch.tensor(list(positions), dtype=torch.long, device=ids.device)
    with _gathering(model, index, shape) as state:
        out = model(**inputs)
    logits = out.logits
    if state["gathered"] and state["calls"] == 1 and tuple(logits.shape[:2]) == (1, len(index)):
        return out, logits[0].float()
    if state["calls"] <= 1 and not state["gathered"] and tuple(logits.shape[:2]) == shape:
        return out, logits.reshape(-1, logits.shape[-1]).index_select(0, index).float()
    raise BackendError(
        f"{type(model).__name__}: the LM head ran {state['calls']} times in one forward pass "
        f"(logits of shape {tuple(logits.shape)}); pass scoring='plain' for this model"
    )


def select_cache_rows(cache: Any, rows: Any) -> Any:
    """A new cache holding the batch rows ``rows`` (repeats allowed) of ``cache``,
    which is left unchanged."""
    if isinstance(cache, tuple):  # the legacy layout: per layer, (key, value, ...)
        return tuple(tuple(t.index_select(0, rows) for t in layer) for layer in cache)
    layers = getattr(cache, "layers", None)
    if isinstance(layers, list):
        selected = copy.copy(cache)
        selected.layers = [copy.copy(layer) for layer in layers]
    else:  # an older cache object: copy it whole
        selected = copy.deepcopy(cache)
    selected.reorder_cache(rows)  # replaces each layer's tensors, never writes into them
    return selected


@dataclass
class _Row:
    """A first-pass row: tokens fed, what they score, and the choices continuing on it.

    ``scored``: (position in the row, target token, request index);
    ``continuing``: requests whose remaining tokens run on this row's KV cache.
    """

    ids: tuple[int, ...]
    scored: list[tuple[int, int, int]]
    continuing: list[int] = field(default_factory=list)

    @property
    def positions(self) -> list[int]:
        return sorted({p for p, _, _ in self.scored})


class FastScorer:
    """Log-likelihood rows scored with the savings of the module docstring.

    Args:
        model: the loaded causal LM (in eval mode).
        pad_id: token id written into padding (masked out of attention).
        device: where the inputs go.
        max_tokens: rows x width budget of one forward pass.
        max_rows: most rows in one forward pass (the user's batch size).
        max_scored: most positions the LM head projects in one forward pass.
        chunk_tokens: a row alone in its batch and longer than this runs in chunks of
            this many tokens, each on the cache of those before (the same numbers, with
            activations and logits bounded by the chunk; None: never chunk).
    """

    def __init__(
        self,
        model: Any,
        *,
        pad_id: int,
        device: str,
        max_tokens: int,
        max_rows: int,
        max_scored: int,
        chunk_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.max_tokens = max_tokens
        self.max_rows = max_rows
        self.max_scored = max_scored
        self.chunk_tokens = chunk_tokens
        self.shares_contexts = _accepts(model, "position_ids")
        self.path = "fast" if self.shares_contexts else "fast (no shared contexts: no position_ids)"
        self.plain = False

    # ---- the self-check ----

    def verify(self, probe_ids: Sequence[int], dtype: str) -> None:
        """Score a probe both ways; on a mismatch, fall back to the plain path for good.

        Args:
            probe_ids: a few dozen token ids of ordinary text.
            dtype: the model's dtype name (sets the tolerance).
        """
        rows = _probe_rows(list(probe_ids))
        if not rows:
            return
        plain = score_batch(self.model, rows, self.pad_id, self.device)
        chunk_tokens, self.chunk_tokens = self.chunk_tokens, 3  # the probe's rows get chunked
        try:
            fast = self._score(rows, share=True, counters=WorkCounters(), report=lambda n: None)
            fast_alone = [self._score([row], share=True, counters=WorkCounters(),
                                      report=lambda n: None)[0] for row in rows]  # fmt: skip
        except (RuntimeError, TypeError, ValueError, AttributeError, NotImplementedError,
                BackendError) as error:  # fmt: skip
            # a model the fast path cannot drive (its cache, its head): the plain path can
            self._fall_back(f"the fast path failed on a probe: {type(error).__name__}: {error}")
            return
        finally:
            self.chunk_tokens = chunk_tokens
        tolerance = VERIFY_TOLERANCE["float32" if dtype == "float32" else "16-bit"]
        expected = [value for value, _ in plain]
        tokens = [len(row.target_ids) for row in rows]
        worst = max(
            max_difference([value for value, _ in got], expected, scale=tokens)
            for got in (fast, fast_alone)
        )
        if worst > tolerance:  # a NaN on either path is an infinite difference
            self._fall_back(f"the fast path differed by {worst:.3g} per token on a probe")

    def _fall_back(self, why: str) -> None:
        self.plain = True
        self.path = f"plain ({why})"
        logger.warning("%s: scoring by the %s", type(self.model).__name__, self.path)

    # ---- scoring ----

    def score(
        self,
        rows: Sequence[ModelInput],
        counters: WorkCounters,
        *,
        share: bool = True,
        progress: Callable[[int], Any] | None = None,
    ) -> list[tuple[float, bool]]:
        """Summed log-prob and greediness of each row's targets, in row order.

        Args:
            rows: model inputs (``hf_scoring.model_input`` or rolling windows).
            counters: where the work is added.
            share: group rows by shared context part (choice tasks); off for rolling
                windows, which never share one.
            progress: called with the number of rows finished after each batch.
        """
        counters.minimum_tokens += _minimum_tokens(rows, share)
        report = progress or (lambda done: None)
        if self.plain:
            return self._score_plain(rows, counters, report)
        return self._score(rows, share=share, counters=counters, report=report)

    def _score_plain(
        self, rows: Sequence[ModelInput], counters: WorkCounters, report: Callable[[int], Any]
    ) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
        lengths = [len(r.input_ids) for r in rows]
        for batch in budget_batches(lengths, max_tokens=self.max_tokens, max_rows=self.max_rows):
            width = max(lengths[i] for i in batch)
            counters.forward_passes += 1
            counters.executed_tokens += len(batch) * width
            counters.projected_positions += len(batch) * width
            for i, value in zip(batch, score_batch(self.model, [rows[i] for i in batch],
                                                   self.pad_id, self.device)):  # fmt: skip
                results[i] = value
            report(len(batch))
        return results

    def _score(
        self,
        rows: Sequence[ModelInput],
        *,
        share: bool,
        counters: WorkCounters,
        report: Callable[[int], Any],
    ) -> list[tuple[float, bool]]:
        logprobs = [0.0] * len(rows)
        greedy = [True] * len(rows)
        first = _first_pass_rows(rows, share=share and self.shares_contexts)
        batches = budget_batches(
            [len(r.ids) for r in first],
            scored=[len(r.positions) for r in first],
            max_tokens=self.max_tokens,
            max_rows=self.max_rows,
            max_scored=self.max_scored,
        )
        for batch in batches:
            members = [first[i] for i in batch]
            self._run_batch(members, rows, logprobs, greedy, counters)
            report(sum(len({r for _, _, r in row.scored}) for row in members))
        return list(zip(logprobs, greedy))

    def _run_batch(
        self,
        batch: Sequence[_Row],
        rows: Sequence[ModelInput],
        logprobs: list[float],
        greedy: list[bool],
        counters: WorkCounters,
    ) -> None:
        import torch

        if len(batch) == 1 and self._chunked(batch[0]):
            self._run_chunked(batch[0], rows, logprobs, greedy, counters)
            return
        continuing = [(r, b) for b, row in enumerate(batch) for r in row.continuing]
        left = bool(continuing)
        ids, mask, positions, offsets = _pad([row.ids for row in batch], self.pad_id, left=left)
        flat: list[int] = []
        targets: list[tuple[int, int, int]] = []
        for b, row in enumerate(batch):
            where = {p: len(flat) + k for k, p in enumerate(row.positions)}
            flat.extend(b * ids.shape[1] + offsets[b] + p for p in row.positions)
            targets.extend((where[p], token, r) for p, token, r in row.scored)
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": left}
        if positions is not None:
            inputs["position_ids"] = positions
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.inference_mode():
            out, logits = forward_at(self.model, flat, **inputs)
            _accumulate(logits, targets, logprobs, greedy)
            counters.forward_passes += 1
            counters.executed_tokens += int(ids.numel())
            counters.projected_positions += len(flat)
            if continuing:
                cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
                if cache is None:
                    raise BackendError(f"{type(self.model).__name__} returned no KV cache")
                del out, logits
                self._continue(cache, inputs["attention_mask"], continuing, rows,
                               logprobs, greedy, counters)  # fmt: skip

    def _chunked(self, row: _Row) -> bool:
        return (
            self.chunk_tokens is not None
            and self.shares_contexts
            and len(row.ids) > self.chunk_tokens
        )

    def _run_chunked(
        self,
        row: _Row,
        rows: Sequence[ModelInput],
        logprobs: list[float],
        greedy: list[bool],
        counters: WorkCounters,
    ) -> None:
        """One long row, ``chunk_tokens`` at a time, each chunk on the cache of the ones
        before it; then its continuing requests on the whole row's cache."""
        import torch

        assert self.chunk_tokens is not None
        length = len(row.ids)
        mask = torch.ones((1, length), dtype=torch.long, device=self.device)
        keyword = cache_keyword(self.model)
        by_position: dict[int, list[tuple[int, int]]] = {}
        for position, token, request in row.scored:
            by_position.setdefault(position, []).append((token, request))
        cache = None
        with torch.inference_mode():
            for start in range(0, length, self.chunk_tokens):
                end = min(length, start + self.chunk_tokens)
                scored = [p for p in row.positions if start <= p < end]
                inputs: dict[str, Any] = {
                    "input_ids": torch.tensor([row.ids[start:end]], device=self.device),
                    "attention_mask": mask[:, :end],
                    "position_ids": torch.arange(start, end, device=self.device)[None],
                    "use_cache": True,
                }
                if cache is not None:
                    inputs[keyword] = cache
                out, logits = forward_at(self.model, [p - start for p in scored], **inputs)
                cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
                if cache is None:
                    raise BackendError(f"{type(self.model).__name__} returned no KV cache")
                targets = [(k, t, r) for k, p in enumerate(scored) for t, r in by_position[p]]
                _accumulate(logits, targets, logprobs, greedy)
                del out, logits
                counters.forward_passes += 1
                counters.executed_tokens += end - start
                counters.projected_positions += len(scored)
            if row.continuing:
                continuing = [(r, 0) for r in row.continuing]
                self._continue(cache, mask, continuing, rows, logprobs, greedy, counters)

    def _continue(
        self,
        cache: Any,
        context_mask: Any,
        continuing: Sequence[tuple[int, int]],
        rows: Sequence[ModelInput],
        logprobs: list[float],
        greedy: list[bool],
        counters: WorkCounters,
    ) -> None:
        """Score the tokens after the first of each continuing request on its context's cache."""
        import torch

        feeds = [rows[r].target_ids[:-1] for r, _ in continuing]
        # each row copies its context's cache: count the context in the rows' budget
        fit = max(1, self.max_tokens // (int(context_mask.shape[1]) + max(map(len, feeds))))
        batches = budget_batches(
            [len(f) for f in feeds],
            scored=[len(f) for f in feeds],
            max_tokens=self.max_tokens,
            max_rows=min(self.max_rows, fit),
            max_scored=self.max_scored,
        )
        context_lengths = context_mask.sum(dim=1)
        keyword = cache_keyword(self.model)
        for batch in batches:
            members = [continuing[i] for i in batch]
            ids, mask, _, _ = _pad([feeds[i] for i in batch], self.pad_id, left=False)
            width = ids.shape[1]
            source = torch.tensor([b for _, b in members], dtype=torch.long, device=self.device)
            start = context_lengths.index_select(0, source)
            flat: list[int] = []
            targets: list[tuple[int, int, int]] = []
            for k, (r, _) in enumerate(members):
                n = len(feeds[batch[k]])
                flat.extend(k * width + j for j in range(n))
                targets.extend((len(flat) - n + j, rows[r].target_ids[j + 1], r) for j in range(n))
            inputs = {
                "input_ids": ids.to(self.device),
                "attention_mask": torch.cat(
                    [context_mask.index_select(0, source), mask.to(self.device)], dim=1
                ),
                "position_ids": start[:, None] + torch.arange(width, device=self.device)[None],
                "use_cache": True,
                keyword: select_cache_rows(cache, source),
            }
            _, logits = forward_at(self.model, flat, **inputs)
            _accumulate(logits, targets, logprobs, greedy)
            counters.forward_passes += 1
            counters.executed_tokens += int(ids.numel())
            counters.projected_positions += len(flat)


def _accumulate(
    logits: Any, targets: Sequence[tuple[int, int, int]], logprobs: list[float], greedy: list[bool]
) -> None:
    """Add each (logit row, target token, request) log-probability and greediness."""
    import torch

    if not targets:
        return
    where = torch.tensor([t[0] for t in targets], dtype=torch.long, device=logits.device)
    tokens = torch.tensor([t[1] for t in targets], dtype=torch.long, device=logits.device)
    # log_softmax = logit - logsumexp, a row block at a time: no second [N, vocab] tensor
    norms = torch.cat([block.logsumexp(dim=-1) for block in logits.split(_NORM_ROWS)])
    best = torch.cat([block.argmax(dim=-1) for block in logits.split(_NORM_ROWS)])
    values = (logits[where, tokens] - norms.index_select(0, where)).tolist()
    hits = best.index_select(0, where).eq(tokens).tolist()
    for (_, _, request), value, hit in zip(targets, values, hits):
        logprobs[request] += value
        greedy[request] = greedy[request] and bool(hit)


_NORM_ROWS = 128  # logit rows normalised at once (bounds the temporaries of logsumexp)


def _pad(
    sequences: Sequence[Sequence[int]], pad_id: int, *, left: bool
) -> tuple[Any, Any, Any, list[int]]:
    """ids, attention mask, position ids (left padding only, else None) and each row's
    offset (pad tokens before it)."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    offsets = []
    for i, seq in enumerate(sequences):
        offset = width - len(seq) if left else 0
        ids[i, offset : offset + len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, offset : offset + len(seq)] = 1
        offsets.append(offset)
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0) if left else None
    return ids, mask, positions, offsets


def context_part(row: ModelInput) -> tuple[int, ...]:
    """The tokens of ``row``'s input up to the one predicting its first target."""
    return row.input_ids[: len(row.input_ids) - (len(row.target_ids) - 1)]


def _first_pass_rows(rows: Sequence[ModelInput], *, share: bool) -> list[_Row]:
    """One row per distinct context part shared by several requests (their first tokens
    scored at its end, the rest continuing on its cache); one row per other request."""
    groups: dict[tuple[int, ...], list[int]] = {}
    if share:
        for index, row in enumerate(rows):
            groups.setdefault(context_part(row), []).append(index)
    first = []
    for index, row in enumerate(rows):
        members = groups.get(context_part(row), [index]) if share else [index]
        if len(members) > 1:
            if members[0] != index:
                continue
            last = len(context_part(row)) - 1
            scored = [(last, rows[m].target_ids[0], m) for m in members]
            continuing = [m for m in members if len(rows[m].target_ids) > 1]
            first.append(_Row(context_part(row), scored, continuing))
        else:
            start = len(row.input_ids) - len(row.target_ids)
            scored = [(start + j, token, index) for j, token in enumerate(row.target_ids)]
            first.append(_Row(row.input_ids, scored))
    return first


def _minimum_tokens(rows: Sequence[ModelInput], share: bool) -> int:
    """Each distinct context part once, plus each continuation's tokens but its last."""
    if not share:
        return sum(len(r.input_ids) for r in rows)
    contexts = {context_part(r) for r in rows}
    return sum(len(c) for c in contexts) + sum(len(r.target_ids) - 1 for r in rows)


def _probe_rows(ids: list[int]) -> list[ModelInput]:
    """Probe requests: one context with choices of 1, 2 and 4 tokens, a shorter context
    with two choices, and a lone request."""
    if len(ids) < 12:
        return []
    context, rest = tuple(ids[:8]), ids[8:]
    rows = [ModelInput(context + tuple(rest[: n - 1]), tuple(rest[:n]), 0) for n in (1, 2, 4)]
    rows += [ModelInput(context[:5] + tuple(rest[1:2]), tuple(rest[1:3]), 0)]
    rows += [ModelInput(context[:5], (rest[2],), 0)]
    rows += [ModelInput(tuple(ids[2:7]) + tuple(ids[9:11]), tuple(ids[9:12]), 0)]
    return rows

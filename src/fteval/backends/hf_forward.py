"""Forward passes for the HF scorer and generator: the LM head only where it is read, KV
caches selected by row, per-row adapters, and the work counters.

* ``forward_at`` runs the model with a forward pre-hook on its output embedding that
  gathers the hidden states of the positions asked for before the projection, so the LM
  head — and whatever the model does to its logits afterwards (soft-capping, scaling) —
  runs on those rows only.
* ``select_cache_rows`` makes a new KV cache from rows of another (repeats allowed),
  leaving the source unchanged: a shared prefix's cache is continued by many rows.
* ``RowAdapters`` says which adapter each row of a mixed batch runs with (PEFT's
  ``adapter_names``): the base matmul once for every row, each row's low-rank update
  added for its own adapter.
* ``WorkCounters`` count what ran against the minimum any scorer must run.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.errors import BackendError

BASE_ROWS = "__base__"  # PEFT's adapter name for a row of a mixed batch that runs the base
_NORM_ROWS = 128  # logit rows normalised at once (bounds the temporaries of logsumexp)


@dataclass
class WorkCounters:
    """Token work of one arm and request kind (cumulative integers).

    Attributes:
        forward_passes: model calls that held a row of this arm.
        executed_tokens: tokens fed for this arm, padding included (a row's padded
            width, summed over the calls; a cached prefix is not fed again).
        minimum_tokens: what any scorer must feed: each distinct prefix of the rows'
            inputs once (the nodes of their token trie); generation adds every token fed
            back.
        projected_positions: positions whose logits the LM head computed.
    """

    forward_passes: int = 0
    executed_tokens: int = 0
    minimum_tokens: int = 0
    projected_positions: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters, JSON-ready."""
        return dict(vars(self))


@dataclass(frozen=True)
class RowAdapters:
    """The adapter each row of a batch runs with, by the row's arm.

    Attributes:
        names: arm -> PEFT adapter name (``BASE_ROWS`` for the base arm); None: one arm
            at a time, the model as its serving left it (no per-row names passed).
    """

    names: Mapping[str, str] | None = None

    def kwargs(self, arms: Sequence[str]) -> dict[str, Any]:
        """Forward keyword arguments for rows of ``arms`` (empty for one arm at a time)."""
        if self.names is None:
            return {}
        return {"adapter_names": [self.names[arm] for arm in arms]}


ONE_ARM = RowAdapters()


def cache_keyword(model: Any) -> str:
    """``cache`` (transformers >= 5.x) or ``past_key_values`` (older)."""
    return "cache" if accepts(model, "cache") else "past_key_values"


def accepts(model: Any, name: str) -> bool:
    """Whether the model's forward (or, under a PEFT wrapper, the base's) names ``name``."""
    for candidate in (model, getattr(model, "get_base_model", lambda: model)()):
        if name in inspect.signature(candidate.forward).parameters:
            return True
    return False


def cache_of(out: Any) -> Any:
    """The KV cache a forward pass with ``use_cache=True`` returned.

    Raises:
        BackendError: the model returned none.
    """
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is None:
        raise BackendError(f"{type(out).__name__}: the model returned no KV cache")
    return cache


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

    Raises:
        BackendError: the LM head ran more than once in the pass.
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
    """A new cache holding the batch rows ``rows`` (a long tensor; repeats allowed) of
    ``cache``, which is left unchanged.

    A continuation appends to the new cache by concatenation, never in place, so a
    selection of every row in order shares the source's tensors instead of copying them.
    """
    if isinstance(cache, tuple):  # the legacy layout: per layer, (key, value, ...)
        return tuple(tuple(t.index_select(0, rows) for t in layer) for layer in cache)
    layers = getattr(cache, "layers", None)
    if isinstance(layers, list):
        selected = copy.copy(cache)
        selected.layers = [copy.copy(layer) for layer in layers]
        if _is_identity(rows, _cache_rows(layers)):
            return selected
    else:  # an older cache object: copy it whole
        selected = copy.deepcopy(cache)
    selected.reorder_cache(rows)  # replaces each layer's tensors, never writes into them
    return selected


def _cache_rows(layers: Sequence[Any]) -> int | None:
    keys = getattr(layers[0], "keys", None) if layers else None
    return int(keys.shape[0]) if keys is not None and keys.dim() > 0 else None


def _is_identity(rows: Any, count: int | None) -> bool:
    import torch

    if count is None or int(rows.numel()) != count:
        return False
    return bool(torch.equal(rows.cpu(), torch.arange(count)))


def accumulate(
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


def right_padded(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """``[rows, width]`` ids padded on the right with ``pad_id``, and their 0/1 mask."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[i, : len(seq)] = 1
    return ids, mask

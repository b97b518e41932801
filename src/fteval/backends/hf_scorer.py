"""Log-likelihood scoring for the HF backend: three strategies, the same numbers.

* ``plain``: one row per request, logits at every position (``hf_scoring.score_batch``);
  the reference every other strategy is checked against.
* ``shared_context``: the LM head only at scored positions, and each item's context once
  (its choices continue on the context's KV cache).
* ``prefix_trie``: the above, and each prefix shared *across* items once: the rows form a
  token trie (``hf_trie``), each node runs on its parent's KV cache, and every row
  continues from the deepest shared prefix. In 5-shot MMLU the description and the five
  solved examples run once per arm instead of once per item.

Scores equal the plain path's within 1e-5 in float32 and do not depend on batch size or
on the cache budget.

**Execution of the trie.** Depth first, a batch at a time: a batch of sibling nodes runs
on rows of its parent batch's cache (selected per row), right-padded, with explicit
position ids and an attention mask carried along (padding inside a cache is masked). A
batch's width plus its anchor's cache width, times its rows, stays within
``max_tokens``; its rows within ``max_rows``; its projected positions within
``max_scored``; its padding within 10 %. A batch's cache is kept for its children only
while every kept cache together stays within ``cache_tokens``; otherwise it is evicted
and its children run from the nearest kept ancestor, recomputing the evicted tokens
(recompute rather than swap). On the CPU, nodes longer than ``chunk_tokens`` are split
into chains, so a long prefix runs in chunks with bounded activations.

**Choosing.** ``strategy="auto"`` first self-checks the prefix trie against the plain path
on a probe (``verify``: shared prefixes across items, chained chunks and an eviction all
exercised); a model the trie cannot drive, or whose scores differ, is scored plainly for
good. Then, per request kind, a rule per device. On an accelerator it is measured: the
first call's leading rows (at most one plain batch of ``max_tokens``) are scored both
ways and timed, and the faster strategy serves the rest (kept per situation in the
``RuleBook``, so later runs recall it and repeat their numbers bit for bit). The measured
runs' work that is not reused is counted apart (``calibration_tokens``), not in
``executed_tokens``: when the fast strategy wins it runs over every row, the measured ones
included, so a prefix they share with the rest is computed once. On
the CPU the prefix trie is taken untimed: there time follows the tokens fed and the
positions projected, and the trie never has more of either (``benchmarks/vs_lmeval.py``
and ``benchmarks/fast_scoring.py`` measure it). The rule and its timings are recorded
per arm and kind in the manifest (``token_counts.*.scoring_rule``).

A model whose forward takes no ``position_ids`` cannot continue a cache at given
positions: it keeps the head-only projection, one row per request (``rows``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fteval.backends.closeness import max_difference
from fteval.backends.hf_forward import (
    ONE_ARM,
    RowAdapters,
    WorkCounters,
    accepts,
    accumulate,
    cache_keyword,
    cache_of,
    forward_at,
    right_padded,
    select_cache_rows,
)
from fteval.backends.hf_rules import RuleBook
from fteval.backends.hf_scoring import ModelInput, budget_batches, score_batch
from fteval.backends.hf_trie import Node, build_forest, distinct_prefix_tokens
from fteval.errors import BackendError

logger = logging.getLogger(__name__)
clock = time.perf_counter  # what a measured rule is timed with (seconds)

STRATEGIES = ("auto", "prefix_trie", "shared_context", "plain")
# max |fast - plain| per scored token accepted by the self-check (float32, 16-bit dtypes);
# a misplaced position or mask shifts log-probabilities by whole nats, far above these.
VERIFY_TOLERANCE = {"float32": 1e-4, "16-bit": 0.1}
_FAILURES = (RuntimeError, TypeError, ValueError, AttributeError, NotImplementedError, BackendError)


@dataclass
class _Anchor:
    """A batch's KV cache kept for the nodes below it: each node's row, the mask."""

    cache: Any
    mask: Any
    row_of: dict[Node, int]

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def tokens(self) -> int:
        return int(self.mask.shape[0]) * self.width


@dataclass
class _Run:
    """One scoring call's state: results, counters, cache tokens held, progress."""

    logprobs: list[float]
    greedy: list[bool]
    counters: Mapping[str, WorkCounters]
    adapters: RowAdapters
    remaining: list[int]
    report: Callable[[int], Any]
    held: int = 0

    def finish(self, targets: Sequence[tuple[int, int, int]]) -> None:
        done = 0
        for _, _, request in targets:
            self.remaining[request] -= 1
            done += self.remaining[request] == 0
        if done:
            self.report(done)


class Scorer:
    """Scores log-likelihood rows by a strategy of the module docstring.

    Args:
        model: the loaded causal LM (in eval mode; PEFT-wrapped or not).
        pad_id: token id written into padding (masked out of attention).
        device: where the inputs go.
        max_tokens: (anchor width + row width) x rows budget of one forward pass.
        max_rows: most rows in one forward pass (the user's batch size).
        max_scored: most positions the LM head projects in one forward pass.
        chunk_tokens: on the CPU, nodes longer than this run as chains of chunks (None:
            never split).
        cache_tokens: KV cache (rows x width, summed) kept at once for later nodes.
        strategy: one of ``STRATEGIES``.
        measure: under ``auto``, time the fast strategy against the plain path on the
            first call's leading rows (accelerators); False: the fast strategy (the CPU,
            where time follows the tokens fed and the fast paths never feed more).
        rulebook: where measured rules are kept and recalled (default: not kept).
        situation: what a kept rule is keyed by besides the request kind (device,
            model, dtype, batch settings).
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
        cache_tokens: int | None = None,
        strategy: str = "auto",
        measure: bool = False,
        rulebook: RuleBook | None = None,
        situation: Mapping[str, Any] | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise BackendError(f"scoring must be one of {STRATEGIES}, got {strategy!r}")
        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.max_tokens = max_tokens
        self.max_rows = max_rows
        self.max_scored = max_scored
        self.chunk_tokens = chunk_tokens
        self.cache_tokens = cache_tokens if cache_tokens is not None else 4 * max_tokens
        self.asked = strategy
        self.shares = accepts(model, "position_ids")
        self.fallback: str | None = None if self.shares else "no position_ids"
        self.rules: dict[str, dict[str, Any]] = {}
        self.measure = measure
        self.rulebook = rulebook or RuleBook(keep=False)
        self.situation = dict(situation or {})
        self._keyword = cache_keyword(model)

    # ---- the self-check ----

    def verify(self, probe_ids: Sequence[int], dtype: str) -> None:
        """Score a probe by the prefix trie and plainly; on a mismatch, plain for good.

        The probe's rows share a prefix across two items, each item has choices of 1, 2
        and 4 tokens, and one row shares nothing; it runs with chunks of 3 tokens and a
        cache budget that forces an eviction, and each row alone as well.

        Args:
            probe_ids: a few dozen token ids of ordinary text.
            dtype: the model's dtype name (sets the tolerance).
        """
        if self.asked == "plain" or not self.shares:
            return
        rows = probe_rows(list(probe_ids))
        if not rows:
            return
        arms = ["probe"] * len(rows)
        plain = score_batch(self.model, rows, self.pad_id, self.device)
        saved = self.chunk_tokens, self.cache_tokens
        self.chunk_tokens, self.cache_tokens = 3, 12
        try:
            together = self._run(rows, arms, "prefix_trie", _scratch(), _ignore, ONE_ARM)
            alone = [self._run([r], ["probe"], "prefix_trie", _scratch(), _ignore, ONE_ARM)[0]
                     for r in rows]  # fmt: skip
        except _FAILURES as error:
            # a model the fast path cannot drive (its cache, its head): the plain path can
            self._fall_back(f"the fast path failed on a probe: {type(error).__name__}: {error}")
            return
        finally:
            self.chunk_tokens, self.cache_tokens = saved
        tolerance = VERIFY_TOLERANCE["float32" if dtype == "float32" else "16-bit"]
        expected = [value for value, _ in plain]
        tokens = [len(row.target_ids) for row in rows]
        worst = max(
            max_difference([value for value, _ in got], expected, scale=tokens)
            for got in (together, alone)
        )
        if worst > tolerance:  # a NaN on either path is an infinite difference
            self._fall_back(f"the fast path differed by {worst:.3g} per token on a probe")

    def _fall_back(self, why: str) -> None:
        self.fallback = why
        logger.warning("%s: scoring by the plain path (%s)", type(self.model).__name__, why)

    def path(self, kind: str) -> str:
        """The strategy that scores ``kind`` requests, and why (for the manifest)."""
        if self.asked == "plain":
            return "plain (asked for)"
        if self.fallback is not None and self.fallback != "no position_ids":
            return f"plain ({self.fallback})"
        rule = self.rules.get(kind)
        if rule is not None:
            return f"{rule['chosen']} ({rule['why']})"
        return self._fast_shape(kind) + (" (no position_ids)" if not self.shares else "")

    # ---- scoring ----

    def score(
        self,
        rows: Sequence[ModelInput],
        arms: Sequence[str],
        counters: Mapping[str, WorkCounters],
        *,
        kind: str,
        adapters: RowAdapters = ONE_ARM,
        progress: Callable[[int], Any] | None = None,
    ) -> list[tuple[float, bool]]:
        """Summed log-prob and greediness of each row's targets, in row order.

        Args:
            rows: model inputs (``hf_scoring.model_input`` or rolling windows).
            arms: each row's arm (rows of different arms never share a cache).
            counters: per arm, where the work is added.
            kind: the request kind (``loglikelihood`` shares prefixes; rolling windows
                run one per row); the measured rule is kept per kind.
            adapters: per-row adapter names when rows of several arms share a batch.
            progress: called with the number of rows finished after each batch.
        """
        for arm, minimum in distinct_prefix_tokens(rows, arms).items():
            counters[arm].minimum_tokens += minimum
        report = progress or (lambda done: None)
        return self._dispatch(rows, arms, kind, counters, report, adapters)

    def _dispatch(
        self,
        rows: Sequence[ModelInput],
        arms: Sequence[str],
        kind: str,
        counters: Mapping[str, WorkCounters],
        report: Callable[[int], Any],
        adapters: RowAdapters,
    ) -> list[tuple[float, bool]]:
        if not rows:
            return []
        if self.asked == "plain" or (self.fallback and self.fallback != "no position_ids"):
            return self._score_plain(rows, arms, counters, report, adapters)
        shape = self._fast_shape(kind)
        if self.asked != "auto":
            return self._run(rows, arms, shape, counters, report, adapters)
        if kind not in self.rules:
            if not self.measure:
                self.rules[kind] = {
                    "chosen": shape,
                    "why": "not timed on this device: time "
                    "follows the tokens fed, and no fast path feeds more",
                }
                return self._run(rows, arms, shape, counters, report, adapters)
            return self._measure(rows, arms, kind, counters, report, adapters)
        if self.rules[kind]["chosen"] == "plain":
            return self._score_plain(rows, arms, counters, report, adapters)
        return self._run(rows, arms, shape, counters, report, adapters)

    def _fast_shape(self, kind: str) -> str:
        if not self.shares or kind != "loglikelihood":
            return "rows"
        return "shared_context" if self.asked == "shared_context" else "prefix_trie"

    def _measure(
        self,
        rows: Sequence[ModelInput],
        arms: Sequence[str],
        kind: str,
        counters: Mapping[str, WorkCounters],
        report: Callable[[int], Any],
        adapters: RowAdapters,
    ) -> list[tuple[float, bool]]:
        """The measured rule: the leading rows (one plain batch's worth) both ways, unless
        the rule is kept from an earlier run in the same situation."""
        count, fed = 1, len(rows[0].input_ids)
        while count < len(rows) and fed + len(rows[count].input_ids) <= self.max_tokens:
            fed += len(rows[count].input_ids)
            count += 1
        head, head_arms = rows[:count], arms[:count]
        shape = self._fast_shape(kind)
        runs: dict[str, tuple[list[tuple[float, bool]], dict[str, WorkCounters]]] = {}

        def measure() -> dict[str, Any]:
            seconds = {}
            for path in ("plain", shape):
                work = {arm: WorkCounters() for arm in counters}
                began = clock()
                if path == "plain":
                    got = self._score_plain(head, head_arms, work, _ignore, adapters)
                else:
                    got = self._run(head, head_arms, shape, work, _ignore, adapters)
                seconds[path] = clock() - began
                runs[path] = (got, work)
            worst = max_difference([v for v, _ in runs[shape][0]], [v for v, _ in runs["plain"][0]],
                                   scale=[len(r.target_ids) for r in head])  # fmt: skip
            chosen = shape if seconds[shape] <= seconds["plain"] else "plain"
            why = (f"measured on {count} rows: {shape} {seconds[shape]:.4g} s, "
                   f"plain {seconds['plain']:.4g} s")  # fmt: skip
            if worst > VERIFY_TOLERANCE["16-bit"]:
                chosen, why = "plain", f"the fast path differed by {worst:.3g} per token"
            return {
                "chosen": chosen,
                "why": why,
                "rows_measured": count,
                "fast_s": round(seconds[shape], 6),
                "plain_s": round(seconds["plain"], 6),
            }

        rule = self.rulebook.recall_or_measure({**self.situation, "rule": "scoring",
                                                "kind": kind, "shape": shape}, measure)  # fmt: skip
        if rule["recalled"]:
            rule["why"] = f"{rule['why']}; recalled (measured {rule.get('measured_at')})"
        self.rules[kind] = rule
        logger.info("scoring %s requests by %s (%s)", kind, rule["chosen"], rule["why"])
        if not runs:  # recalled: nothing scored yet
            return self._dispatch(rows, arms, kind, counters, report, adapters)
        if rule["chosen"] != "plain":
            # the trie then runs over every row, so a prefix the measured rows share with
            # the rest is not computed twice; both measured runs count apart
            rule["calibration_tokens"] = sum(
                w.executed_tokens for _, work in runs.values() for w in work.values()
            )
            return self._run(rows, arms, shape, counters, report, adapters)
        rule["calibration_tokens"] = sum(w.executed_tokens for w in runs[shape][1].values())
        for arm, work in runs["plain"][1].items():
            counters[arm].forward_passes += work.forward_passes
            counters[arm].executed_tokens += work.executed_tokens
            counters[arm].projected_positions += work.projected_positions
        report(count)
        rest = self._dispatch(rows[count:], arms[count:], kind, counters, report, adapters)
        return [*runs["plain"][0], *rest]

    def _score_plain(
        self,
        rows: Sequence[ModelInput],
        arms: Sequence[str],
        counters: Mapping[str, WorkCounters],
        report: Callable[[int], Any],
        adapters: RowAdapters,
    ) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
        lengths = [len(r.input_ids) for r in rows]
        for batch in budget_batches(lengths, max_tokens=self.max_tokens, max_rows=self.max_rows):
            width = max(lengths[i] for i in batch)
            batch_arms = [arms[i] for i in batch]
            for arm in dict.fromkeys(batch_arms):
                counters[arm].forward_passes += 1
            for arm in batch_arms:
                counters[arm].executed_tokens += width
                counters[arm].projected_positions += width
            values = score_batch(self.model, [rows[i] for i in batch], self.pad_id, self.device,
                                 **adapters.kwargs(batch_arms))  # fmt: skip
            for i, value in zip(batch, values):
                results[i] = value
            report(len(batch))
        return results

    def _run(
        self,
        rows: Sequence[ModelInput],
        arms: Sequence[str],
        shape: str,
        counters: Mapping[str, WorkCounters],
        report: Callable[[int], Any],
        adapters: RowAdapters,
    ) -> list[tuple[float, bool]]:
        run = _Run(
            [0.0] * len(rows), [True] * len(rows), counters, adapters,
            [len(r.target_ids) for r in rows], report,
        )  # fmt: skip
        chunk = self.chunk_tokens if self.shares else None
        roots = build_forest(rows, arms, shape, max_node_tokens=chunk)
        self._descend([], roots, run, owned=False)
        return list(zip(run.logprobs, run.greedy))

    # ---- the trie, depth first ----

    def _descend(
        self, box: list[_Anchor], nodes: Sequence[Node], run: _Run, *, owned: bool
    ) -> None:
        """Run ``nodes`` (children of the anchor's nodes, or roots) a batch at a time,
        each batch followed by the nodes below it.

        ``box`` holds the anchor (empty: the roots). When ``owned``, this call holds the
        anchor's only reference and its tokens in ``run.held``, and lets go of both as
        soon as no batch of ``nodes`` needs it, before going down the last one.
        """
        anchor = box.pop() if box else None
        owned = owned and anchor is not None
        try:
            starts = [_row_start(node, anchor) for node in nodes]
            feeds = [node.tokens_from(start) for node, start in zip(nodes, starts)]
            overhead = anchor.width if anchor is not None else 0
            batches = budget_batches(
                [len(f) for f in feeds],
                scored=[len(node.positions) for node in nodes],
                max_tokens=self.max_tokens,
                max_rows=self.max_rows,
                max_scored=self.max_scored,
                overhead=overhead,
            )
            for number, batch in enumerate(batches):
                members = [nodes[i] for i in batch]
                below = [child for node in members for child in node.children]
                size = len(batch) * (overhead + max(len(feeds[i]) for i in batch))
                keep = bool(below) and run.held + size <= self.cache_tokens
                kept = self._forward(anchor, members, [feeds[i] for i in batch],
                                     [starts[i] for i in batch], keep, run)  # fmt: skip
                if not below:
                    continue
                last = number == len(batches) - 1
                if kept is not None:  # the nodes below continue on this batch's cache
                    if last and owned:  # no sibling batch left: let go before going down
                        run.held -= anchor.tokens  # type: ignore[union-attr]
                        anchor, owned = None, False
                    run.held += kept.tokens
                    handed, kept = [kept], None
                    self._descend(handed, below, run, owned=True)
                elif last and owned:  # evicted: they recompute its tokens from the anchor
                    handed, anchor, owned = [anchor], None, False  # type: ignore[list-item]
                    self._descend(handed, below, run, owned=True)
                else:
                    self._descend([anchor] if anchor is not None else [], below, run, owned=False)
        finally:
            if owned and anchor is not None:
                run.held -= anchor.tokens

    def _forward(
        self,
        anchor: _Anchor | None,
        nodes: Sequence[Node],
        feeds: Sequence[tuple[int, ...]],
        starts: Sequence[int],
        keep: bool,
        run: _Run,
    ) -> _Anchor | None:
        """One forward pass over ``feeds`` (right-padded) on the anchor's rows; scores the
        nodes' positions; returns the batch's cache when ``keep``."""
        import torch

        ids, new_mask = right_padded(feeds, self.pad_id)
        width = int(ids.shape[1])
        flat: list[int] = []
        targets: list[tuple[int, int, int]] = []
        for b, (node, start) in enumerate(zip(nodes, starts)):
            where = {}
            for p in node.positions:
                where[p] = len(flat)
                flat.append(b * width + p - start)
            targets.extend((where[p], token, r) for p, token, r in node.scored)
        inputs: dict[str, Any] = {"input_ids": ids.to(self.device)}
        if self.shares:
            positions = torch.tensor(list(starts), dtype=torch.long)[:, None] + torch.arange(width)
            inputs["position_ids"] = positions.to(self.device)
        mask = new_mask.to(self.device)
        if anchor is not None:
            source = torch.tensor([anchor.row_of[_anchored(n, anchor)] for n in nodes],
                                  dtype=torch.long, device=self.device)  # fmt: skip
            mask = torch.cat([anchor.mask.index_select(0, source), mask], dim=1)
            inputs[self._keyword] = select_cache_rows(anchor.cache, source)
        inputs["attention_mask"] = mask
        inputs["use_cache"] = keep or anchor is not None
        arms = [node.arm for node in nodes]
        inputs.update(run.adapters.kwargs(arms))
        with torch.inference_mode():
            out, logits = forward_at(self.model, flat, **inputs)
            accumulate(logits, targets, run.logprobs, run.greedy)
        self._count(run, nodes, width)
        run.finish(targets)
        if not keep:
            return None
        return _Anchor(cache_of(out), mask, {node: b for b, node in enumerate(nodes)})

    @staticmethod
    def _count(run: _Run, nodes: Sequence[Node], width: int) -> None:
        """Per arm: one pass, the padded width of each of its rows, its projections."""
        for arm in dict.fromkeys(node.arm for node in nodes):
            run.counters[arm].forward_passes += 1
        for node in nodes:
            run.counters[node.arm].executed_tokens += width
            run.counters[node.arm].projected_positions += len(node.positions)


def _anchored(node: Node, anchor: _Anchor) -> Node:
    """The ancestor of ``node`` that has a row in ``anchor``."""
    parent = node.parent
    while parent is not None and parent not in anchor.row_of:
        parent = parent.parent
    if parent is None:
        raise BackendError("a trie node has no ancestor in its anchor batch")
    return parent


def _row_start(node: Node, anchor: _Anchor | None) -> int:
    """Absolute position of the first token a node's row feeds: its anchored ancestor's
    end (the tokens before it are in the anchor's cache), or 0 without an anchor."""
    return 0 if anchor is None else _anchored(node, anchor).end


def _scratch() -> dict[str, WorkCounters]:
    return {"probe": WorkCounters()}


def _ignore(done: int) -> None:
    """A progress callback that shows nothing."""


def probe_rows(ids: list[int]) -> list[ModelInput]:
    """Probe requests: two items sharing a prefix, each with choices of 1, 2 and 4 tokens;
    a shorter context with two choices; and a row that shares nothing."""
    if len(ids) < 16:
        return []
    prefix, rest = tuple(ids[:6]), ids[6:]
    rows = []
    for item in (tuple(rest[:2]), tuple(rest[2:5])):
        context = prefix + item
        choices = ids[10:14]
        rows += [ModelInput(context + tuple(choices[: n - 1]), tuple(choices[:n]), 0)
                 for n in (1, 2, 4)]  # fmt: skip
    rows += [ModelInput(prefix[:5] + tuple(rest[1:2]), tuple(rest[1:3]), 0)]
    rows += [ModelInput(prefix[:5], (rest[2],), 0)]
    rows += [ModelInput(tuple(ids[2:7]) + tuple(ids[9:11]), tuple(ids[9:12]), 0)]
    return rows

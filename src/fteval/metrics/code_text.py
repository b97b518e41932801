"""Metrics of generated code as text: CodeXGLUE's BLEU, exact match, and CodeBLEU.

* ``codexglue_bleu``: the smoothed BLEU-4 of CodeXGLUE's evaluators (code-to-code
  translation and code refinement, ``evaluator/bleu.py``: the tensorflow/nmt
  ``compute_bleu`` with ``smooth=True``). Tokens are the whitespace-split, stripped
  lines; each order's precision is ``(matches + 1) / (possible + 1)`` (add-one, every
  order); the brevity penalty is ``exp(1 - ref_len / hyp_len)`` when the output is
  shorter than the references (shortest reference per item), else 1. Per-item statistics
  are the clipped matches and possible n-grams of each order plus both lengths, so the
  corpus score from summed rows equals the evaluator's corpus score (reported unrounded,
  0-100; the evaluator rounds to 2 decimals), and bootstrap CIs resample it correctly.
  An empty corpus of outputs (no tokens at all) scores 0.
* ``codexglue_em``: 1 when the stripped output equals a stripped reference (the
  evaluators' exact match, ``xMatch``).
* ``codebleu``: CodeBLEU (Ren et al. 2020) from the ``codebleu`` package, weights
  0.25 each: n-gram BLEU, weighted n-gram BLEU, AST match, data-flow match. Each
  component is a corpus ratio; the per-item statistics are each component's numerator
  and denominator as the package computes them, so ``from_totals`` of the summed rows
  equals ``codebleu.calc_codebleu`` on the whole corpus (tests check it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.metrics._textutil import (
    prediction_strings,
    reference_lists,
    require,
    version_of,
)
from fteval.metrics.base import MeanMetric, Metric, check_lengths
from fteval.metrics.registry import register_class
from fteval.version import __version__

MAX_ORDER = 4


def _ngrams(tokens: Sequence[str], max_order: int) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for order in range(1, max_order + 1):
        for i in range(len(tokens) - order + 1):
            counts[tuple(tokens[i : i + order])] += 1
    return counts


def bleu_statistics(references: Sequence[str], hypothesis: str) -> list[float]:
    """One item's statistics: matches[1..4], possible[1..4], shortest ref length, hyp length."""
    refs = [r.strip().split() for r in references]
    hyp = hypothesis.strip().split()
    merged: Counter[tuple[str, ...]] = Counter()
    for ref in refs:
        merged |= _ngrams(ref, MAX_ORDER)
    overlap = _ngrams(hyp, MAX_ORDER) & merged
    matches = [0.0] * MAX_ORDER
    for ngram, count in overlap.items():
        matches[len(ngram) - 1] += count
    possible = [float(max(0, len(hyp) - order + 1)) for order in range(1, MAX_ORDER + 1)]
    return [*matches, *possible, float(min(len(r) for r in refs)), float(len(hyp))]


class CodeXGLUEBLEU(Metric):
    """CodeXGLUE's smoothed corpus BLEU-4, 0-100 (see the module docstring)."""

    name: ClassVar[str] = "codexglue_bleu"
    unit: ClassVar[str] = "points"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        rows = [bleu_statistics(r, p) for r, p in zip(refs, preds)]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), 2 * MAX_ORDER + 2)

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        matches = totals[..., :MAX_ORDER]
        possible = totals[..., MAX_ORDER : 2 * MAX_ORDER]
        ref_len = totals[..., 2 * MAX_ORDER]
        hyp_len = totals[..., 2 * MAX_ORDER + 1]
        geo_mean = np.exp(np.log((matches + 1.0) / (possible + 1.0)).mean(axis=-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ref_len > 0, hyp_len / np.where(ref_len > 0, ref_len, 1), 0.0)
            penalty = np.where(
                ratio > 1.0, 1.0, np.where(ratio > 0, np.exp(1.0 - 1.0 / ratio), 0.0)
            )
        score = 100.0 * geo_mean * penalty
        return np.where(np.asarray(n) > 0, score, np.nan)

    def signature(self) -> str:
        return f"codexglue_bleu|order:4|smooth:add-one|tok:whitespace|fteval:{__version__}"


class CodeExactMatch(MeanMetric):
    """1 when the stripped output equals a stripped reference (CodeXGLUE's xMatch)."""

    name: ClassVar[str] = "codexglue_em"
    binary_outcome: ClassVar[bool] = True
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "proportion"

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        hits = [float(any(p.strip() == r.strip() for r in rs)) for rs, p in zip(refs, preds)]
        return np.asarray(hits, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return f"codexglue_em|strip:yes|case:sensitive|fteval:{__version__}"


CODEBLEU_LANGS = ("java", "c_sharp", "python", "javascript", "php", "go", "ruby", "c", "cpp")


class CodeBLEU(Metric):
    """CodeBLEU from the ``codebleu`` package, in [0, 1] (see the module docstring).

    Args:
        lang: the programming language of the references (``java``, ``c_sharp``...).
    """

    name: ClassVar[str] = "codebleu"
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "points"
    _k = 2 * MAX_ORDER + 2 + 2 * MAX_ORDER + 2 + 2 + 2

    def __init__(self, *, lang: str = "java") -> None:
        if lang not in CODEBLEU_LANGS:
            raise ValueError(f"codebleu: unknown lang={lang!r}; choose one of {CODEBLEU_LANGS}")
        from fteval.metrics import _codebleu

        self.lang = lang
        self._parts = _codebleu.Components(lang)

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        rows = [self._parts.statistics(r, p) for r, p in zip(refs, preds)]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self._k)

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        from fteval.metrics import _codebleu

        totals = np.asarray(totals, dtype=np.float64)
        flat = totals.reshape(-1, self._k)
        counts = np.broadcast_to(np.asarray(n, dtype=np.float64), totals.shape[:-1]).reshape(-1)
        out = np.array(
            [_codebleu.score(row.tolist()) if c > 0 else math.nan for row, c in zip(flat, counts)]
        )
        return out.reshape(totals.shape[:-1])

    def signature(self) -> str:
        return (
            f"codebleu|lang:{self.lang}|weights:0.25,0.25,0.25,0.25"
            f"|codebleu:{version_of('codebleu')}|fteval:{__version__}"
        )


register_class("codexglue_bleu", CodeXGLUEBLEU)
register_class("codexglue_em", CodeExactMatch)
register_class("codebleu", CodeBLEU)
_ = require  # re-exported helper kept for symmetry with the other metric modules

"""Per-item sufficient statistics of CodeBLEU, computed with the ``codebleu`` package.

``codebleu.calc_codebleu`` returns corpus scores only. Each of its four components is a
ratio of corpus sums, so this module records each item's part of every sum, using the
package's own functions (n-gram precision, weighted recall, brevity penalty, comment
removal, data-flow extraction, tree-sitter parsing); ``score`` applies the package's
corpus formulas to summed rows. Layout of a row (30 numbers): BLEU numerators[4],
denominators[4], hypothesis length, closest reference length; the same 10 for the
weighted n-gram match; syntax matches, syntax total; data-flow matches, data-flow total.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fteval.metrics._textutil import require

ORDERS = 4
WEIGHTS = (0.25, 0.25, 0.25, 0.25)
EPSILON = 0.1  # the package's default smoothing: method1 adds 0.1 to zero numerators


class Components:
    """Computes one item's CodeBLEU statistics for a language."""

    def __init__(self, lang: str) -> None:
        codebleu = require("codebleu", "codebleu", "CodeBLEU", extra="code")
        from codebleu import bleu, dataflow_match, weighted_ngram_match
        from codebleu.codebleu import PACKAGE_DIR
        from codebleu.parser import remove_comments_and_docstrings
        from codebleu.utils import get_tree_sitter_language
        from tree_sitter import Parser

        self.lang = lang
        self._bleu = bleu
        self._weighted = weighted_ngram_match
        self._dataflow = dataflow_match
        self._clean = remove_comments_and_docstrings
        try:
            language = get_tree_sitter_language(lang)
        except Exception as error:  # tree-sitter grammars raise several types
            raise ValueError(
                f"codebleu: no tree-sitter grammar for {lang!r} ({error}); install "
                "tree-sitter-java<0.22 / tree-sitter-c-sharp<0.22 (pip install 'fteval[code]')"
            ) from None
        self._parser = Parser()
        self._parser.language = language
        self._dfg = [self._parser, dataflow_match.dfg_function[lang]]
        keywords = (PACKAGE_DIR / "keywords" / f"{lang}.txt").read_text(encoding="utf-8")
        self._keywords = [x.strip() for x in keywords.splitlines()]
        self.version = getattr(codebleu, "__version__", "")

    def statistics(self, references: Sequence[str], prediction: str) -> list[float]:
        """The 30 numbers of one item (see the module docstring)."""
        refs = [r.strip() for r in references]
        hyp = prediction.strip()
        hyp_tokens = hyp.split()
        ref_tokens = [r.split() for r in refs]
        lengths = [len(t) for t in ref_tokens]
        row = self._ngram(ref_tokens, lengths, hyp_tokens, self._bleu.modified_precision)
        weighted_refs = [
            [t, {tok: 1 if tok in self._keywords else 0.2 for tok in t}] for t in ref_tokens
        ]
        # The package measures a weighted reference's length as len([tokens, weights]),
        # i.e. 2, in its brevity penalty; kept, so the numbers are the package's.
        row += self._ngram(
            weighted_refs, [2] * len(weighted_refs), hyp_tokens, self._weighted.modified_recall
        )
        row += self._syntax(refs, hyp)
        row += self._dataflow_counts(refs, hyp)
        return row

    def _ngram(self, refs: Any, lengths: list[int], hyp: list[str], counter: Any) -> list[float]:
        numerators, denominators = [], []
        for n in range(1, ORDERS + 1):
            num, den = counter(refs, hyp, n)
            numerators.append(float(num))
            denominators.append(float(den))
        closest = min(lengths, key=lambda length: (abs(length - len(hyp)), length))
        return [*numerators, *denominators, float(len(hyp)), float(closest)]

    def _strip_comments(self, code: str) -> str:
        try:
            return self._clean(code, self.lang)
        except Exception:  # the package keeps the code as it is when this fails
            return code

    def _subtrees(self, code: str) -> list[str]:
        root = self._parser.parse(bytes(code, "utf8")).root_node
        out, stack = [], [root]
        while stack:
            node = stack.pop()
            out.append(str(node))
            stack.extend(child for child in node.children if len(child.children) != 0)
        return out

    def _syntax(self, refs: list[str], hyp: str) -> list[float]:
        matches = total = 0
        candidate = hyp
        for reference in refs:
            candidate = self._strip_comments(candidate)
            cand = self._subtrees(candidate)
            ref = self._subtrees(self._strip_comments(reference))
            matches += sum(1 for tree in ref if tree in cand)
            total += len(ref)
        return [float(matches), float(total)]

    def _dataflow_counts(self, refs: list[str], hyp: str) -> list[float]:
        matches = total = 0
        candidate = hyp
        for reference in refs:
            candidate = self._strip_comments(candidate)
            cand = self._dataflow.normalize_dataflow(
                self._dataflow.get_data_flow(candidate, self._dfg)
            )
            ref = self._dataflow.normalize_dataflow(
                self._dataflow.get_data_flow(self._strip_comments(reference), self._dfg)
            )
            if ref:
                total += len(ref)
                for flow in ref:
                    if flow in cand:
                        matches += 1
                        cand.remove(flow)
        return [float(matches), float(total)]


def _corpus_bleu(stats: Sequence[float]) -> float:
    """The package's corpus BLEU (method1 smoothing) from summed counts."""
    numerators = list(stats[:ORDERS])
    denominators = list(stats[ORDERS : 2 * ORDERS])
    hyp_len, ref_len = stats[2 * ORDERS], stats[2 * ORDERS + 1]
    if numerators[0] == 0:
        return 0.0
    if hyp_len > ref_len:
        penalty = 1.0
    elif hyp_len == 0:
        penalty = 0.0
    else:
        penalty = math.exp(1 - ref_len / hyp_len)
    smoothed = [(n + EPSILON if n == 0 else n, d) for n, d in zip(numerators, denominators)]
    return penalty * math.exp(
        math.fsum(w * math.log(n / d) for w, (n, d) in zip(WEIGHTS, smoothed))
    )


def components(row: Sequence[float]) -> dict[str, float]:
    """The four components from summed statistics (the package's corpus values)."""
    width = 2 * ORDERS + 2
    syntax_matches, syntax_total = row[2 * width], row[2 * width + 1]
    flow_matches, flow_total = row[2 * width + 2], row[2 * width + 3]
    return {
        "ngram_match_score": _corpus_bleu(row[:width]),
        "weighted_ngram_match_score": _corpus_bleu(row[width : 2 * width]),
        "syntax_match_score": syntax_matches / syntax_total if syntax_total else math.nan,
        "dataflow_match_score": flow_matches / flow_total if flow_total else 0.0,
    }


def score(row: Sequence[float]) -> float:
    """CodeBLEU from summed statistics, as the ``codebleu`` package computes it.

    The data-flow part follows the package exactly, including its rule that a data-flow
    score of 0 counts as 1: a corpus whose references have no data flow, **and also one
    whose every data flow is unmatched**, gets the full data-flow weight (0.25). A
    candidate that shares no data flow with its reference therefore scores higher than
    one that shares a few; read ``dataflow_match_score`` beside CodeBLEU.
    """
    parts = components(row)
    dataflow = parts["dataflow_match_score"] or 1.0
    return (
        WEIGHTS[0] * parts["ngram_match_score"]
        + WEIGHTS[1] * parts["weighted_ngram_match_score"]
        + WEIGHTS[2] * parts["syntax_match_score"]
        + WEIGHTS[3] * dataflow
    )

"""Text-overlap metrics: BLEU, chrF, ROUGE, exact match, SQuAD EM/F1 (METEOR: ``meteor``).

Each target is one reference string or a list of references (counts may vary by item);
each prediction is the generated string. Values come from the field's reference
implementations, and tests/metrics prove fteval's numbers equal theirs:

* ``bleu``, ``chrf``: sacrebleu. The per-item statistics are sacrebleu's own sufficient
  statistics (n-gram matches and totals, lengths), so the corpus score from summed rows
  equals ``sacrebleu.corpus_bleu``/``corpus_chrf`` exactly, and bootstrap/permutation
  tests resample corpus BLEU correctly. An item's own value equals ``sentence_bleu``
  (which uses ``effective_order``) / ``sentence_chrf``. Range 0-100 (scale 1).
* ``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``: rouge-score's F-measure per item
  (max over references, as ``RougeScorer.score_multi``), averaged. Range [0, 1].
* ``exact_match``: 1 when the normalised prediction equals a normalised reference.
* ``squad_em``, ``squad_f1``: the official SQuAD v1.1 evaluation (normalisation: lower
  case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace; max over
  references). Range [0, 1]; shown x100.

Edge cases (empty, whitespace-only or punctuation-only strings never raise):

* ``bleu``: an empty/whitespace prediction has no n-grams: item BLEU 0 and it adds its
  reference length to the corpus brevity penalty. Punctuation-only text tokenizes to
  punctuation tokens (13a) and is scored like words. Empty reference and empty
  prediction: 0.
* ``chrf``: no character n-grams on either side gives 0; an empty prediction scores 0.
* ``rouge*``: a side with no tokens (empty, whitespace, punctuation, emoji only) scores 0.
* ``exact_match``: two strings that normalise to the same (possibly empty) string match,
  so an empty prediction matches an empty reference (1), and nothing else.
* ``squad_em``: as exact match after SQuAD normalisation ("the" alone normalises to "",
  so it matches an empty prediction). ``squad_f1``: 0 whenever either side has no tokens
  after normalisation (official v1.1 behaviour), even when both are empty.
* A target that is None or an empty list of references raises (a data error).
"""

from __future__ import annotations

import copy
import logging
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import numpy as np

from fteval._util.options import Range
from fteval.metrics._textutil import (
    UnicodeTokenizer,
    is_mostly_non_ascii,
    prediction_strings,
    reference_lists,
    require,
    version_of,
)
from fteval.metrics.base import MeanMetric, Metric, check_lengths
from fteval.metrics.registry import register_class
from fteval.records import is_empty_prediction
from fteval.version import __version__

# n-gram orders above this are typos: the work grows with the order, the signal does not
MAX_NGRAM_ORDER = 64

logger = logging.getLogger(__name__)

__all__ = [
    "BLEU",
    "CHRF",
    "ExactMatch",
    "Rouge",
    "Rouge1",
    "Rouge2",
    "RougeL",
    "RougeLsum",
    "SquadEM",
    "SquadF1",
    "count_empty",
    "squad_normalize",
]


def count_empty(predictions: Sequence[Any]) -> int:
    """How many predictions are empty or whitespace-only (None counts as empty).

    Reports show this next to text metrics: a model that stops generating scores 0 on
    most metrics, and the count says why.
    """
    return sum(1 for p in predictions if is_empty_prediction(p))


# --------------------------------------------------------------------------- sacrebleu


class _SacrebleuMetric(Metric):
    """sacrebleu's sufficient statistics per item; its own aggregate on the sums."""

    unit: ClassVar[str] = "points"  # BLEU and chrF are 0-100 scores, not percentages
    _corpus: Any  # the sacrebleu metric object for the corpus score
    _item: Any  # the sacrebleu metric object for per-item (sentence) scores
    _k: int

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        scorer = self._corpus
        rows = []
        # The same steps as sacrebleu's _extract_corpus_statistics, per item: it needs
        # equal-length reference streams, and calling it would overwrite num_refs.
        for ref_list, pred in zip(refs, preds):
            info = scorer._extract_reference_info([scorer._preprocess_segment(r) for r in ref_list])
            rows.append(scorer._compute_segment_statistics(scorer._preprocess_segment(pred), info))
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self._k)

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        return _score_rows(self._corpus, totals, n, self._k)

    def item_values(self, stats: np.ndarray) -> np.ndarray:
        stats = np.asarray(stats, dtype=np.float64)
        return np.asarray(_score_rows(self._item, stats, np.ones(len(stats)), self._k))

    def _sacrebleu_signature(self) -> str:
        # sacrebleu fills nrefs after scoring; a metric object is data-independent, so the
        # reference count is left out (the records hold the targets).
        probe = copy.copy(self._corpus)
        probe.num_refs = 1
        signature = probe.get_signature()
        signature.update("nrefs", None)
        return signature.format()


def _score_rows(scorer: Any, totals: np.ndarray, n: int | np.ndarray, k: int) -> np.ndarray:
    """Sacrebleu's score for each row of ``totals`` (shape [..., k]); NaN where n == 0."""
    totals = np.asarray(totals, dtype=np.float64)
    if totals.shape[-1] != k:
        raise ValueError(f"expected statistics with {k} columns, got shape {totals.shape}")
    batch = totals.shape[:-1]
    flat = totals.reshape(-1, k)
    counts = np.broadcast_to(np.asarray(n, dtype=np.float64), batch).reshape(-1)
    out = np.full(len(flat), np.nan)
    for i, (row, count) in enumerate(zip(flat, counts)):
        if count > 0:
            out[i] = scorer._compute_score_from_stats(row.tolist()).score
    return out.reshape(batch)


class BLEU(_SacrebleuMetric):
    """Corpus BLEU (sacrebleu), 0-100.

    Args:
        tokenize: a sacrebleu tokenizer: ``13a`` (default), ``intl``, ``zh``, ``char``,
            ``none``, ``ja-mecab``/``ko-mecab``/``spm``/``flores*`` (need extra packages).
        lowercase: case-insensitive BLEU.
        smooth_method: ``exp`` (default), ``floor``, ``add-k`` or ``none``.
        smooth_value: for ``floor``/``add-k``; None = sacrebleu's default.
        max_ngram_order: highest n-gram order (4).
    """

    name: ClassVar[str] = "bleu"

    def __init__(
        self,
        *,
        tokenize: str = "13a",
        lowercase: bool = False,
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        max_ngram_order: Annotated[int, Range(le=MAX_NGRAM_ORDER)] = 4,
    ) -> None:
        sacrebleu = require("sacrebleu", "sacrebleu", "BLEU")
        tokenizers = sorted(sacrebleu.BLEU.TOKENIZERS)
        if tokenize not in tokenizers:
            raise ValueError(f"bleu: unknown tokenize={tokenize!r}; choose one of {tokenizers}")
        smooth_methods = sorted(sacrebleu.BLEU.SMOOTH_DEFAULTS)
        if smooth_method not in smooth_methods:
            raise ValueError(
                f"bleu: unknown smooth_method={smooth_method!r}; choose one of {smooth_methods}"
            )
        if max_ngram_order < 1:
            raise ValueError(f"bleu: max_ngram_order must be >= 1, got {max_ngram_order}")
        if smooth_value is not None and smooth_method not in ("floor", "add-k"):
            raise ValueError(
                f"bleu: smooth_value applies to smooth_method 'floor' or 'add-k' only, "
                f"not {smooth_method!r} (value: {smooth_value})"
            )
        options = {
            "tokenize": tokenize,
            "lowercase": lowercase,
            "smooth_method": smooth_method,
            "smooth_value": smooth_value,
            "max_ngram_order": max_ngram_order,
        }
        try:
            # force=True: the "looks tokenized" warning is sacrebleu CLI advice, not a score.
            self._corpus = sacrebleu.BLEU(effective_order=False, force=True, **options)
            self._item = sacrebleu.BLEU(effective_order=True, force=True, **options)
        except (ImportError, RuntimeError) as error:
            raise ValueError(
                f"bleu: tokenize={tokenize!r} is not usable here ({error}); "
                "install what sacrebleu asks for or choose '13a', 'intl', 'zh' or 'char'"
            ) from error
        self.tokenize = tokenize
        self.max_ngram_order = max_ngram_order
        self._k = 2 + 2 * max_ngram_order

    def signature(self) -> str:
        # sacrebleu's signature leaves the n-gram order out; a non-default one is named
        order = f"|ngram:{self.max_ngram_order}" if self.max_ngram_order != 4 else ""
        return (
            f"bleu|{self._sacrebleu_signature()}{order}|item:sentence_bleu(eff:yes)"
            f"|fteval:{__version__}"
        )


class CHRF(_SacrebleuMetric):
    """Corpus chrF (sacrebleu), 0-100; ``word_order=2`` gives chrF++.

    Args:
        char_order: character n-gram order (6).
        word_order: word n-gram order (0; 2 = chrF++).
        beta: recall weight (2).
        lowercase: case-insensitive.
        whitespace: keep whitespace in character n-grams (sacrebleu default: no).
        eps_smoothing: chrF++.py-style epsilon smoothing instead of effective order.
    """

    name: ClassVar[str] = "chrf"

    def __init__(
        self,
        *,
        char_order: Annotated[int, Range(le=MAX_NGRAM_ORDER)] = 6,
        word_order: Annotated[int, Range(le=MAX_NGRAM_ORDER)] = 0,
        beta: int = 2,
        lowercase: bool = False,
        whitespace: bool = False,
        eps_smoothing: bool = False,
    ) -> None:
        sacrebleu = require("sacrebleu", "sacrebleu", "chrF")
        if char_order < 1 or word_order < 0:
            raise ValueError(
                f"chrf: need char_order >= 1 and word_order >= 0, got {char_order} and {word_order}"
            )
        if beta < 0:
            raise ValueError(f"chrf: beta must be >= 0 (0 weighs precision only), got {beta}")
        self._corpus = sacrebleu.CHRF(
            char_order=char_order,
            word_order=word_order,
            beta=beta,
            lowercase=lowercase,
            whitespace=whitespace,
            eps_smoothing=eps_smoothing,
        )
        self._item = self._corpus  # sentence chrF uses the same settings
        self.beta = beta
        self._k = 3 * (char_order + word_order)

    def signature(self) -> str:
        # sacrebleu's signature leaves beta out; a non-default one is named
        beta = f"|beta:{self.beta}" if self.beta != 2 else ""
        return f"chrf|{self._sacrebleu_signature()}{beta}|fteval:{__version__}"


# ------------------------------------------------------------------------------- ROUGE

ROUGE_TOKENIZERS = ("auto", "rouge", "unicode")
LSUM_SPLITS = ("newline", "nltk")


class Rouge(MeanMetric):
    """Mean per-item ROUGE F-measure (rouge-score), in [0, 1].

    Args:
        use_stemmer: Porter-stem tokens longer than 3 characters (rouge-score's option).
        tokenizer: ``"rouge"``: rouge-score's default tokenizer, which lower-cases and
            deletes every character outside ``a-z0-9`` (accents, non-Latin scripts).
            ``"unicode"``: :class:`~fteval.metrics._textutil.UnicodeTokenizer` (letters,
            marks and digits of any script; each Han/kana character a token; equal to
            rouge-score's tokens on ASCII text). ``"auto"`` (default): rouge-score's
            tokenizer, but a reference whose letters are mostly outside ``a-z0-9``
            raises ValueError instead of silently scoring (near) 0: pick ``"unicode"``
            or, to accept the deletion, ``"rouge"``.
        lsum_split: how rougeLsum finds sentences: ``"newline"`` (rouge-score's default:
            one sentence per line; text without newlines is one sentence) or ``"nltk"``
            (nltk's punkt sentence splitter; needs nltk's ``punkt_tab`` data).

    Predictions are never rejected (they are model output); with the rouge-score
    tokenizer, predictions that are mostly non-ASCII are counted in a log warning,
    because deleting their words inflates precision.
    """

    name: ClassVar[str] = "rouge"
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "points"
    rouge_type: ClassVar[str]

    def __init__(
        self, *, use_stemmer: bool = False, tokenizer: str = "auto", lsum_split: str = "newline"
    ) -> None:
        if not hasattr(type(self), "rouge_type"):
            raise TypeError("use Rouge1, Rouge2, RougeL or RougeLsum (Rouge is their base)")
        rouge_scorer = require("rouge_score.rouge_scorer", "rouge-score", "ROUGE")
        if tokenizer not in ROUGE_TOKENIZERS:
            raise ValueError(
                f"{self.name}: unknown tokenizer={tokenizer!r}; choose one of {ROUGE_TOKENIZERS}"
            )
        if lsum_split not in LSUM_SPLITS:
            raise ValueError(
                f"{self.name}: unknown lsum_split={lsum_split!r}; choose one of {LSUM_SPLITS}"
            )
        if lsum_split != "newline" and self.rouge_type != "rougeLsum":
            raise ValueError(f"{self.name}: lsum_split applies to rougeLsum only")
        if lsum_split == "nltk":
            _require_punkt(self.name)
        self.use_stemmer = use_stemmer
        self.tokenizer = tokenizer
        self.lsum_split = lsum_split
        custom = UnicodeTokenizer(use_stemmer) if tokenizer == "unicode" else None
        self._scorer = rouge_scorer.RougeScorer(
            [self.rouge_type],
            use_stemmer=use_stemmer,
            split_summaries=lsum_split == "nltk",
            tokenizer=custom,
        )

    def check_targets(self, targets: Sequence[Any]) -> None:
        """Raise ValueError if ``tokenizer="auto"`` would delete most of a reference.

        Cheap; callers may run it on a task's targets before any model loads.
        """
        if self.tokenizer != "auto":
            return
        for row, refs in enumerate(reference_lists(self.name, targets)):
            for ref in refs:
                if is_mostly_non_ascii(ref):
                    shown = ref if len(ref) <= 60 else ref[:57] + "..."
                    raise ValueError(
                        f"{self.name}: the reference of item {row} ({shown!r}) is mostly "
                        "outside a-z0-9, which rouge-score's default tokenizer deletes, so "
                        "its ROUGE would be (near) 0. Pass tokenizer='unicode' (any script; "
                        "per-character for Chinese/Japanese) or tokenizer='rouge' to keep "
                        "rouge-score's ASCII-only behaviour."
                    )

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        self.check_targets(targets)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        if self.tokenizer != "unicode":
            mangled = sum(1 for p in preds if is_mostly_non_ascii(p))
            if mangled:
                logger.warning(
                    "%s: %d of %d predictions are mostly outside a-z0-9; rouge-score's "
                    "default tokenizer deletes those words, which raises their precision. "
                    "Use tokenizer='unicode' for non-English output.",
                    self.name,
                    mangled,
                    len(preds),
                )
        values = [
            self._scorer.score_multi(ref_list, pred)[self.rouge_type].fmeasure
            for ref_list, pred in zip(refs, preds)
        ]
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        # "auto" only adds a check that raises; its numbers are rouge-score's tokenizer's.
        tok = "rouge-score-default" if self.tokenizer != "unicode" else "unicode"
        parts = [
            self.name,
            "f-measure",
            f"tok:{tok}",
            f"stem:{'porter' if self.use_stemmer else 'no'}",
        ]
        if self.rouge_type == "rougeLsum":
            parts.append(f"sent-split:{self.lsum_split}")
        parts += [
            "multi-ref:max",
            f"rouge-score:{version_of('rouge-score')}",
            f"fteval:{__version__}",
        ]
        return "|".join(parts)


class Rouge1(Rouge):
    """ROUGE-1 F-measure (unigram overlap), in [0, 1]."""

    name: ClassVar[str] = "rouge1"
    rouge_type: ClassVar[str] = "rouge1"


class Rouge2(Rouge):
    """ROUGE-2 F-measure (bigram overlap), in [0, 1]."""

    name: ClassVar[str] = "rouge2"
    rouge_type: ClassVar[str] = "rouge2"


class RougeL(Rouge):
    """ROUGE-L F-measure (longest common subsequence over the whole text), in [0, 1]."""

    name: ClassVar[str] = "rougeL"
    rouge_type: ClassVar[str] = "rougeL"


class RougeLsum(Rouge):
    """ROUGE-Lsum F-measure (summary-level LCS over sentences), in [0, 1].

    Sentences are lines (``lsum_split="newline"``, rouge-score's default) or nltk punkt
    sentences (``lsum_split="nltk"``). Text without newlines is one sentence, and then
    rougeLsum equals rougeL.
    """

    name: ClassVar[str] = "rougeLsum"
    rouge_type: ClassVar[str] = "rougeLsum"


def _require_punkt(metric: str) -> None:
    nltk = require("nltk", "nltk", "rougeLsum with lsum_split='nltk'")
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError as error:
        raise ValueError(
            f"{metric}: lsum_split='nltk' needs nltk's punkt_tab data "
            "(python -m nltk.downloader punkt_tab); or use lsum_split='newline' with "
            "one sentence per line"
        ) from error


# ------------------------------------------------------------------------- exact match

_ASCII_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCT or unicodedata.category(char).startswith("P")


class ExactMatch(MeanMetric):
    """1 when the normalised prediction equals a normalised reference, else 0.

    Normalisation, in this order (each step optional):

    1. ``ignore_regex``: delete every match of the pattern(s) (Python ``re``).
    2. ``lowercase``.
    3. ``strip_punctuation``: delete Unicode punctuation (categories P*) and ASCII
       ``string.punctuation`` (which also holds symbols such as ``$+<=>^`|~``).
    4. ``strip_articles``: delete the English words a/an/the (any case).
    5. ``normalize_whitespace`` (default True): collapse whitespace runs to one space and
       strip both ends, so a trailing newline in a generation does not matter.
    """

    name: ClassVar[str] = "exact_match"
    unit: ClassVar[str] = "proportion"
    binary_outcome: ClassVar[bool] = True
    scale: ClassVar[float] = 100.0

    def __init__(
        self,
        *,
        lowercase: bool = False,
        strip_punctuation: bool = False,
        strip_articles: bool = False,
        normalize_whitespace: bool = True,
        ignore_regex: str | Sequence[str] | None = None,
    ) -> None:
        patterns = [ignore_regex] if isinstance(ignore_regex, str) else list(ignore_regex or [])
        try:
            self._ignore = [re.compile(p) for p in patterns]
        except re.error as error:
            raise ValueError(
                f"exact_match: invalid ignore_regex {error.pattern!r}: {error}"
            ) from error
        self.lowercase = lowercase
        self.strip_punctuation = strip_punctuation
        self.strip_articles = strip_articles
        self.normalize_whitespace = normalize_whitespace
        self.ignore_regex = tuple(patterns)

    def normalize(self, text: str) -> str:
        """``text`` after the configured normalisation (see class docstring)."""
        for pattern in self._ignore:
            text = pattern.sub("", text)
        if self.lowercase:
            text = text.lower()
        if self.strip_punctuation:
            text = "".join(c for c in text if not _is_punctuation(c))
        if self.strip_articles:
            text = re.sub(r"\b(a|an|the)\b", " ", text, flags=re.IGNORECASE)
        if self.normalize_whitespace:
            text = " ".join(text.split())
        return text

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        hits = []
        for ref_list, pred in zip(refs, preds):
            norm = self.normalize(pred)
            hits.append(float(any(self.normalize(r) == norm for r in ref_list)))
        return np.asarray(hits, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        def yes(flag: bool) -> str:
            return "yes" if flag else "no"

        ignore = ",".join(repr(p) for p in self.ignore_regex) or "none"
        return (
            f"exact_match|lower:{yes(self.lowercase)}|punct:{yes(self.strip_punctuation)}"
            f"|articles:{yes(self.strip_articles)}|ws:{yes(self.normalize_whitespace)}"
            f"|ignore:{ignore}|multi-ref:any|fteval:{__version__}"
        )


# ------------------------------------------------------------------------------- SQuAD


def squad_normalize(text: str) -> str:
    """The official SQuAD v1.1 answer normalisation.

    Lower-case, delete ASCII punctuation (``string.punctuation``), replace the words
    a/an/the by a space, then collapse whitespace.
    """
    text = "".join(c for c in text.lower() if c not in _ASCII_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _squad_f1(prediction: str, reference: str) -> float:
    pred_tokens = squad_normalize(prediction).split()
    ref_tokens = squad_normalize(reference).split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision = 1.0 * same / len(pred_tokens)
    recall = 1.0 * same / len(ref_tokens)
    return (2 * precision * recall) / (precision + recall)


def _squad_em(prediction: str, reference: str) -> float:
    return float(squad_normalize(prediction) == squad_normalize(reference))


class _SquadMetric(MeanMetric):
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "points"

    @staticmethod
    def _pair(prediction: str, reference: str) -> float:
        """The item's score against one reference (max over references is taken)."""
        raise NotImplementedError

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        pair = type(self)._pair
        values = [max(pair(pred, r) for r in ref_list) for ref_list, pred in zip(refs, preds)]
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return f"{self.name}|norm:squad-v1.1|multi-ref:max|fteval:{__version__}"


class SquadEM(_SquadMetric):
    """SQuAD v1.1 exact match: 1 when the normalised answer equals a normalised reference."""

    name: ClassVar[str] = "squad_em"
    unit: ClassVar[str] = "proportion"
    binary_outcome: ClassVar[bool] = True
    _pair = staticmethod(_squad_em)


class SquadF1(_SquadMetric):
    """SQuAD v1.1 token F1 (bag of normalised words), max over references, in [0, 1]."""

    name: ClassVar[str] = "squad_f1"
    _pair = staticmethod(_squad_f1)


# ---------------------------------------------------------------------------- registry


register_class("bleu", BLEU)
register_class("chrf", CHRF)
for _cls in (Rouge1, Rouge2, RougeL, RougeLsum):
    register_class(_cls.name, _cls)
register_class("exact_match", ExactMatch)
register_class("squad_em", SquadEM)
register_class("squad_f1", SquadF1)

# METEOR lives in its own module (WordNet discovery); importing it registers "meteor".
from fteval.metrics import meteor as _meteor  # noqa: E402, F401

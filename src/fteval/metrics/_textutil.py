"""Shared helpers for text metrics: input checks, lazy imports, a Unicode tokenizer.

Private to ``fteval.metrics``; the public names live in ``text``, ``meteor`` and
``semantic``.
"""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType
from typing import Any

from fteval._util.versions import installed_version
from fteval.errors import MissingDependencyError
from fteval.records import as_reference_list


def require(module: str, package: str, purpose: str, extra: str | None = "metrics") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    Args:
        module: the import name (``sacrebleu``, ``rouge_score.rouge_scorer``...).
        package: the distribution to install, shown in the message.
        purpose: what needs it, e.g. ``"BLEU"``.
        extra: the fteval extra that installs it; None for a core dependency of fteval
            (torch, transformers), whose message names the package itself.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        root = module.split(".")[0]
        if error.name is not None and error.name.split(".")[0] != root:
            raise  # the package is there but one of its own imports is broken
        raise MissingDependencyError(package, extra, purpose) from error


def version_of(distribution: str) -> str:
    """The installed version of ``distribution`` for a signature, or ``"unknown"``."""
    return installed_version(distribution) or "unknown"


def reference_lists(metric: str, targets: Sequence[Any]) -> list[list[str]]:
    """Each target as a non-empty list of reference strings.

    A string is one reference; a list/tuple holds several (counts may vary by item).

    Raises:
        TypeError: a target is None or holds a non-string reference.
        ValueError: a target is an empty list (no reference to score against).
    """
    out: list[list[str]] = []
    for row, target in enumerate(targets):
        if target is None:
            raise TypeError(f"{metric}: target of item {row} is None; expected a string")
        if not isinstance(target, str) and isinstance(target, Sequence):
            bad = [t for t in target if not isinstance(t, str)]
            if bad:
                raise TypeError(
                    f"{metric}: item {row} has a non-string reference {bad[0]!r}; "
                    "references must be strings"
                )
        refs = as_reference_list(target)
        if not refs:
            raise ValueError(f"{metric}: item {row} has an empty list of references")
        out.append(refs)
    return out


def prediction_strings(metric: str, predictions: Sequence[Any]) -> list[str]:
    """The predictions, checked to be strings (a generation, possibly empty)."""
    for row, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise TypeError(
                f"{metric}: prediction of item {row} is {type(prediction).__name__} "
                f"{prediction!r}; expected a string (use '' for an empty generation)"
            )
    return list(predictions)


# Scripts written without spaces between words: each character is one token, the
# usual convention for character-level ROUGE on Chinese and Japanese.
_NO_SPACE_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}"
_TOKEN_PATTERN = (
    rf"[{_NO_SPACE_SCRIPTS}]"
    rf"|(?:(?![{_NO_SPACE_SCRIPTS}])[\p{{L}}\p{{M}}\p{{N}}])+"
)


@lru_cache(maxsize=1)
def _token_regex() -> Any:
    regex = require("regex", "regex", "the Unicode tokenizer")
    return regex.compile(_TOKEN_PATTERN)


def unicode_tokens(text: str) -> list[str]:
    """Lower-cased word tokens of any script.

    NFKC-normalises, lower-cases, then keeps runs of letters, combining marks and
    digits (``\\p{L}\\p{M}\\p{N}``); each Han/Hiragana/Katakana character is a token of
    its own. Punctuation, symbols and emoji are separators and never tokens. For
    ASCII text the result equals rouge-score's default tokenizer (without stemming).
    """
    return _token_regex().findall(unicodedata.normalize("NFKC", text).lower())


class UnicodeTokenizer:
    """A rouge-score compatible tokenizer (``tokenize(text) -> list[str]``) for any script.

    Tokens are :func:`unicode_tokens`. With ``use_stemmer`` the Porter stemmer is applied
    exactly as rouge-score does (tokens longer than 3 characters), but only to ASCII
    tokens: Porter is an English stemmer.
    """

    name = "unicode"

    def __init__(self, use_stemmer: bool = False) -> None:
        self._stemmer = None
        if use_stemmer:
            porter = require("nltk.stem.porter", "nltk", "ROUGE stemming")
            self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (see class docstring)."""
        tokens = unicode_tokens(text)
        if self._stemmer is None:
            return tokens
        return [self._stemmer.stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]


def is_mostly_non_ascii(text: str) -> bool:
    """True when most letters/digits of ``text`` fall outside ``a-z0-9`` once lower-cased.

    Those are the characters rouge-score's default tokenizer deletes; a text for which
    this is True would be scored on less than half of its words (often on nothing).
    """
    kept = dropped = 0
    for char in text.lower():
        if char.isalnum():
            if char.isascii():
                kept += 1
            else:
                dropped += 1
    return dropped > kept

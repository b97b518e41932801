"""METEOR (nltk's ``meteor_score``) with an explicit tokenizer and a located WordNet.

The score of an item is nltk's ``meteor_score(references, hypothesis)``: exact, Porter
stem and WordNet synonym matching, best over the references, in [0, 1]; the corpus score
is the mean over items (as Hugging Face ``evaluate``'s meteor). nltk wants pre-tokenised
input, so the tokenizer is an explicit option and part of the signature:

* ``"treebank"`` (default): nltk's ``NLTKWordTokenizer`` (the word tokenizer inside
  ``nltk.word_tokenize``, without sentence splitting; needs no data files).
* ``"punkt"``: ``nltk.word_tokenize`` (punkt sentence split, then the same word
  tokenizer; what ``evaluate`` uses); needs nltk's ``punkt_tab`` data.
* ``"whitespace"``: ``str.split()``.
* ``"unicode"``: fteval's Unicode tokenizer (letters/marks/digits of any script, one
  token per Han/kana character; punctuation dropped).

nltk lower-cases tokens itself. WordNet is English; other languages get exact (and
accidental stem) matches only.

WordNet 3.0 is looked for, in order:

1. ``wordnet_dir=`` if given (a WordNet ``dict`` directory or nltk ``corpora/wordnet``);
2. nltk's own copy in an nltk_data folder (``nltk.data.path``, e.g. after
   ``python -m nltk.downloader wordnet``);
3. a WordNet 3.0 ``dict`` directory: ``$WNSEARCHDIR``, ``$WNHOME/dict``,
   ``/usr/share/wordnet`` (Debian/Ubuntu ``wordnet-base``), ``/usr/local/WordNet-3.0/dict``.
   Such a directory lacks nltk's ``lexnames`` file, and nltk only reads regular files
   under an nltk_data root, so its files are copied once (about 36 MB) into a private
   nltk_data layout, ``<cache>/nltk_data/corpora/wordnet/``, with ``lexnames`` written
   from lexnames(5WN); ``<cache>`` is ``$FTEVAL_CACHE_DIR``, else
   ``$XDG_CACHE_HOME/fteval``, else ``~/.cache/fteval``. That nltk_data folder is
   appended to ``nltk.data.path`` (nltk refuses corpus roots outside it).

When none exists, :class:`WordNetNotFoundError` names both ways to install it.

Edge cases: an empty, whitespace-only or (for ``unicode``) punctuation-only side has no
tokens and scores 0 (nltk's division-by-zero rule); punctuation tokens of the other
tokenizers are ordinary tokens that can match.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fteval._util.paths import user_cache_dir
from fteval.errors import FtevalError
from fteval.metrics._textutil import (
    prediction_strings,
    reference_lists,
    require,
    unicode_tokens,
    version_of,
)
from fteval.metrics.base import MeanMetric, check_lengths
from fteval.metrics.registry import register_class
from fteval.version import __version__

logger = logging.getLogger(__name__)

__all__ = ["METEOR", "WORDNET_DIRS", "WordNetNotFoundError", "WordNetSource", "find_wordnet"]

TOKENIZERS = ("treebank", "punkt", "whitespace", "unicode")

# WordNet dict directories searched after nltk_data (environment variables first).
WORDNET_DIRS: tuple[str, ...] = ("/usr/share/wordnet", "/usr/local/WordNet-3.0/dict")

# The files nltk's WordNetCorpusReader reads (``lexnames`` is generated when missing).
_REQUIRED = tuple(
    f"{kind}.{pos}" for kind in ("index", "data") for pos in ("adj", "adv", "noun", "verb")
) + tuple(f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb"))
_OPTIONAL = ("index.sense", "cntlist.rev")

# lexnames(5WN), WordNet 3.0: file number, lexicographer file, syntactic category
# (1 noun, 2 verb, 3 adjective, 4 adverb). Numbers are the line positions.
_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    """The 45-line ``lexnames`` file of WordNet 3.0 (tab-separated, as nltk reads it)."""
    return "".join(
        f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES)
    )


class WordNetNotFoundError(FtevalError, LookupError):
    """WordNet 3.0 was not found for METEOR."""


class WordNetSource:
    """Where WordNet comes from: ``kind`` is ``"nltk_data"`` or ``"dict"``.

    Attributes:
        kind: ``nltk_data`` (nltk's own corpus) or ``dict`` (a WordNet dict directory,
            read through a private nltk_data copy).
        path: the directory the reader opens (None for nltk's lazy ``wordnet`` corpus).
        origin: the directory the data came from, for messages and the signature.
    """

    def __init__(self, kind: str, path: Path | None, origin: str) -> None:
        self.kind = kind
        self.path = path
        self.origin = origin

    def __repr__(self) -> str:
        return f"WordNetSource(kind={self.kind!r}, path={self.path!r}, origin={self.origin!r})"


def cache_dir() -> Path:
    """Fteval's per-user cache directory (see the module docstring)."""
    return user_cache_dir()


def _dict_candidates(wordnet_dir: str | os.PathLike[str] | None) -> list[Path]:
    if wordnet_dir is not None:
        return [Path(wordnet_dir).expanduser()]
    found = []
    if os.environ.get("WNSEARCHDIR"):
        found.append(Path(os.environ["WNSEARCHDIR"]))
    if os.environ.get("WNHOME"):
        found.append(Path(os.environ["WNHOME"]) / "dict")
    return found + [Path(d) for d in WORDNET_DIRS]


def _is_wordnet_dict(path: Path) -> bool:
    return all((path / name).is_file() for name in _REQUIRED)


def _nltk_wordnet() -> Any:
    """Nltk's pointer to ``corpora/wordnet`` on ``nltk.data.path``, or None."""
    nltk = require("nltk", "nltk", "METEOR")
    for resource in ("corpora/wordnet", "corpora/wordnet.zip"):
        try:
            return nltk.data.find(resource)
        except LookupError:
            continue
    return None


def _private_copy_origin(pointer: Any) -> Path | None:
    """The WordNet dict a private copy was made from, when ``pointer`` is one of ours."""
    folder = getattr(pointer, "path", None)
    marker = Path(folder) / "fteval-source.json" if folder else None
    if marker is None or not marker.is_file():
        return None
    try:
        origin = Path(json.loads(marker.read_text())["origin"])
    except (OSError, ValueError, KeyError):
        return None
    return origin if _is_wordnet_dict(origin) else None


def find_wordnet(
    wordnet_dir: str | os.PathLike[str] | None = None,
    *,
    search_nltk_data: bool = True,
    search_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> WordNetSource:
    """Locate WordNet 3.0 for METEOR (see the module docstring for the order).

    Args:
        wordnet_dir: an explicit WordNet dict directory (searched alone when given).
        search_nltk_data: look in ``nltk.data.path`` (ignored when ``wordnet_dir`` is given).
        search_dirs: dict directories to try instead of the environment/defaults.

    Raises:
        WordNetNotFoundError: nothing usable was found; the message says how to get it.
    """
    if wordnet_dir is None and search_nltk_data:
        pointer = _nltk_wordnet()
        if pointer is not None:
            # Our own private copy, once on nltk.data.path, stays a "dict" source.
            origin = _private_copy_origin(pointer)
            if origin is not None:
                return WordNetSource("dict", origin.resolve(), str(origin))
            return WordNetSource("nltk_data", None, "nltk_data")
    if search_dirs is not None and wordnet_dir is None:
        candidates = [Path(d) for d in search_dirs]
    else:
        candidates = _dict_candidates(wordnet_dir)
    for candidate in candidates:
        if _is_wordnet_dict(candidate):
            return WordNetSource("dict", candidate.resolve(), str(candidate))
    tried = ", ".join(str(c) for c in candidates) or "(none)"
    raise WordNetNotFoundError(
        "METEOR needs WordNet 3.0, and none was found "
        f"(nltk_data folders: {'searched' if search_nltk_data else 'not searched'}; "
        f"WordNet dict directories tried: {tried}). Either download nltk's copy: "
        "python -m nltk.downloader wordnet (into a folder on nltk.data.path or $NLTK_DATA), "
        "or install a WordNet 3.0 dict directory: apt-get install wordnet-base "
        "(Debian/Ubuntu, gives /usr/share/wordnet) and pass wordnet_dir= or set WNSEARCHDIR."
    )


def _source_fingerprint(origin: Path) -> dict[str, list[int]]:
    stamp = {}
    for name in (*_REQUIRED, *_OPTIONAL):
        path = origin / name
        if path.is_file():
            info = path.stat()
            stamp[name] = [info.st_size, int(info.st_mtime)]
    return stamp


def _private_copy(origin: Path) -> Path:
    """A private nltk_data copy of the WordNet dict ``origin``; returns its nltk_data root.

    Built once (atomically, so concurrent processes are safe) and rebuilt when the
    source files change. nltk refuses symlinks and hard links into its corpora, so the
    files are copied.
    """
    root = cache_dir() / "nltk_data"
    target = root / "corpora" / "wordnet"
    marker = target / "fteval-source.json"
    wanted = {"origin": str(origin), "files": _source_fingerprint(origin)}
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == wanted:
                return root
        except (OSError, ValueError):
            pass
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    except OSError as error:
        raise FtevalError(
            f"METEOR: cannot write the WordNet copy under {target.parent} ({error}); "
            "set FTEVAL_CACHE_DIR to a writable folder"
        ) from error
    try:
        for name in wanted["files"]:
            shutil.copyfile(origin / name, staging / name)
        lexnames = origin / "lexnames"
        if lexnames.is_file():
            shutil.copyfile(lexnames, staging / "lexnames")
        else:
            (staging / "lexnames").write_text(lexnames_text())
        (staging / "fteval-source.json").write_text(json.dumps(wanted))
        old = None
        if target.exists():
            old = target.with_name(f".wordnet-old-{os.getpid()}")
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not marker.is_file():  # another process may have won the race
            raise
    logger.info("METEOR: copied WordNet from %s to %s", origin, target)
    return root


_reader_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load_reader(kind: str, origin: str) -> Any:
    """The WordNet corpus reader for a source, loaded once per process (a few seconds)."""
    nltk = require("nltk", "nltk", "METEOR")
    if kind == "nltk_data":
        wordnet = nltk.corpus.wordnet
        wordnet.ensure_loaded()
        return wordnet
    root = _private_copy(Path(origin))
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with warnings.catch_warnings():
        # "The multilingual functions are not available": METEOR needs English only.
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)


def wordnet_reader(source: WordNetSource) -> Any:
    """Nltk's WordNet reader for ``source`` (cached per process)."""
    origin = str(source.path) if source.path is not None else source.origin
    with _reader_lock:
        return _load_reader(source.kind, origin)


def _wordnet_version(source: WordNetSource) -> str:
    """The version in data.adj's licence header (nltk's own rule), without loading it."""
    if source.path is None:
        return wordnet_reader(source).get_version() or "unknown"
    with open(source.path / "data.adj", encoding="utf-8", errors="replace") as handle:
        for _, line in zip(range(60), handle):
            match = re.search(r"Word[nN]et (\d+\+?|\d+\.\d+) Copyright", line)
            if match:
                return match.group(1)
    return "unknown"


def _tokenizer(name: str) -> Callable[[str], list[str]]:
    if name == "whitespace":
        return str.split
    if name == "unicode":
        return unicode_tokens
    nltk = require("nltk", "nltk", "METEOR")
    if name == "punkt":
        try:
            nltk.data.find("tokenizers/punkt_tab/english/")
        except LookupError as error:
            raise ValueError(
                "meteor: word_tokenizer='punkt' needs nltk's punkt_tab data "
                "(python -m nltk.downloader punkt_tab); word_tokenizer='treebank' is the "
                "same word tokenizer without sentence splitting and needs no data"
            ) from error
        return nltk.word_tokenize
    return nltk.tokenize.NLTKWordTokenizer().tokenize


class METEOR(MeanMetric):
    """Mean per-item METEOR (nltk), in [0, 1].

    Args:
        word_tokenizer: ``treebank`` (default), ``punkt``, ``whitespace`` or ``unicode``
            (see the module docstring).
        alpha, beta, gamma: nltk's METEOR parameters (0.9, 3.0, 0.5).
        wordnet_dir: a WordNet 3.0 dict directory to use instead of searching.
    """

    name: ClassVar[str] = "meteor"
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "points"

    def __init__(
        self,
        *,
        word_tokenizer: str = "treebank",
        alpha: float = 0.9,
        beta: float = 3.0,
        gamma: float = 0.5,
        wordnet_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        require("nltk", "nltk", "METEOR")
        if word_tokenizer not in TOKENIZERS:
            raise ValueError(
                f"meteor: unknown word_tokenizer={word_tokenizer!r}; choose one of {TOKENIZERS}"
            )
        self.word_tokenizer = word_tokenizer
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self._tokenize = _tokenizer(word_tokenizer)
        self.source = find_wordnet(wordnet_dir)
        self._wordnet_version = _wordnet_version(self.source)

    @property
    def wordnet(self) -> Any:
        """Nltk's WordNet reader this metric uses (loaded on first use, then shared)."""
        return wordnet_reader(self.source)

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        from nltk.translate.meteor_score import meteor_score

        wordnet = self.wordnet
        values = [
            meteor_score(
                [self._tokenize(r) for r in ref_list],
                self._tokenize(pred),
                wordnet=wordnet,
                alpha=self.alpha,
                beta=self.beta,
                gamma=self.gamma,
            )
            for ref_list, pred in zip(refs, preds)
        ]
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        tok = "nltk-treebank" if self.word_tokenizer == "treebank" else self.word_tokenizer
        if self.word_tokenizer == "punkt":
            tok = "nltk-word_tokenize(punkt)"
        return (
            f"meteor|tok:{tok}|lower:yes|stem:porter"
            f"|wordnet:{self._wordnet_version}({self.source.kind})"
            f"|alpha:{self.alpha}|beta:{self.beta}|gamma:{self.gamma}|multi-ref:max"
            f"|nltk:{version_of('nltk')}|fteval:{__version__}"
        )


register_class("meteor", METEOR)

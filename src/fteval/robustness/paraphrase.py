"""WordNet synonym paraphrase that keeps each word's part of speech and every negation.

No statistical tagger is used (nltk's averaged-perceptron data is a separate download
that fteval cannot count on offline). A word's part of speech comes from WordNet 3.0
itself plus a few context rules, and a word whose part of speech stays ambiguous is
left alone — a substitute is made only when its part of speech is settled:

1. Closed-class words (determiners, pronouns, prepositions, conjunctions, auxiliaries,
   modals, wh-words, degree adverbs), words with an apostrophe, words under 3 letters,
   all-capital words (acronyms) and non-ASCII words are never substituted. Negations
   ("not", "no", "never", "n't" and forms such as "nothing", "nobody", "cannot") are
   never substituted, and nothing is inserted around them.
2. The candidate parts of speech are those of WordNet (noun, verb, adjective, adverb) for
   which ``morphy`` finds a lemma of the word; a word with two lemmas in one part of
   speech ("days": "days" or "day") is skipped.
3. Context rules, tried in order on the previous word: after a determiner or possessive,
   an adjective when the next word can be a noun, else a noun; after a modal or a form
   of "do", a verb in its base form; after "to" (an infinitive marker or a preposition),
   the more frequent of the verb and noun readings when it covers at least 2/3 of the
   word's tagged uses; after a form of "be" or a linking verb, an adjective (else a noun
   when that is the only reading), except that "-ing"/"-ed" forms there are skipped
   unless adjective is their only reading (progressive and passive verbs); after a
   degree adverb ("very", "too", ...), an adjective, else an adverb; a word ending in
   "-ly", an adverb.
4. Otherwise a word with exactly one candidate gets it, and a word one of whose readings
   covers at least 90% of its uses in WordNet's sense-tagged corpus (``cntlist``, at
   least 5 uses) gets that reading; any other word is skipped.

Inflection: verbs, adjectives and adverbs are substituted only in their base form (the
word equals its lemma); nouns also in a regular plural (``-s``/``-es``), the synonym
then taking the same regular plural. Synonyms are the single-word, lower-case lemmas of
the word's ``senses`` most frequent WordNet senses in that part of speech (WordNet lists
senses by frequency) that occur in the sense-tagged corpus at least once (so archaic
forms such as "twelvemonth" are not used); with the default of one sense the meaning is
kept as far as a synonym can keep it. After "a"/"an", a synonym must start with a vowel
exactly when the word did (the article stays right). Each eligible word is substituted
with probability ``rate``; the case of the original (lower, Title) is kept.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from fteval.errors import ConfigError
from fteval.robustness.perturb import WORD

NEGATIONS = frozenset(
    {
        "not", "no", "never", "n't", "nor", "none", "nobody", "nothing", "neither",
        "nowhere", "cannot", "without", "hardly", "barely", "scarcely",
    }
)  # fmt: skip

DETERMINERS = frozenset(
    {
        "a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her",
        "its", "our", "their", "every", "each", "some", "any", "another", "such", "what",
        "which", "whose", "many", "much", "few", "several", "all", "both", "either",
    }
)  # fmt: skip
VERB_CUES = frozenset(
    {
        "to", "can", "could", "will", "would", "shall", "should", "may", "might", "must",
        "do", "does", "did", "let", "lets",
    }
)  # fmt: skip
BE_FORMS = frozenset(
    {
        "is", "are", "was", "were", "be", "been", "being", "am", "seems", "seem", "seemed",
        "looks", "look", "looked", "feel", "feels", "felt", "become", "becomes", "became",
        "remain", "remains", "remained", "sounds", "sound", "sounded",
    }
)  # fmt: skip
DEGREE = frozenset(
    {
        "very", "too", "so", "quite", "really", "extremely", "rather", "pretty", "most",
        "more", "less", "least", "fairly", "incredibly", "highly", "truly", "overly",
        "somewhat", "utterly", "totally", "absolutely",
    }
)  # fmt: skip
CLOSED_CLASS = (
    NEGATIONS
    | DETERMINERS
    | VERB_CUES
    | BE_FORMS
    | DEGREE
    | frozenset(
        {
            "i",
            "me",
            "you",
            "he",
            "him",
            "she",
            "it",
            "we",
            "us",
            "they",
            "them",
            "myself",
            "yourself",
            "himself",
            "herself",
            "itself",
            "ourselves",
            "themselves",
            "mine",
            "yours",
            "hers",
            "ours",
            "theirs",
            "one",
            "ones",
            "who",
            "whom",
            "where",
            "when",
            "why",
            "how",
            "there",
            "here",
            "then",
            "than",
            "and",
            "but",
            "or",
            "if",
            "as",
            "because",
            "while",
            "although",
            "though",
            "unless",
            "until",
            "since",
            "so",
            "yet",
            "of",
            "in",
            "on",
            "at",
            "by",
            "for",
            "with",
            "about",
            "against",
            "between",
            "into",
            "through",
            "during",
            "before",
            "after",
            "above",
            "below",
            "from",
            "up",
            "down",
            "out",
            "off",
            "over",
            "under",
            "again",
            "further",
            "once",
            "have",
            "has",
            "had",
            "having",
            "get",
            "gets",
            "got",
            "also",
            "just",
            "only",
            "even",
            "still",
            "ever",
            "not",
            "own",
            "same",
            "other",
            "else",
            "s",
            "t",
            "like",
            "unlike",
            "upon",
            "onto",
            "via",
            "per",
            "among",
            "within",
            "along",
            "across",
            "behind",
            "beyond",
            "toward",
            "towards",
            "around",
            "near",
            "whether",
        }
    )
)


@lru_cache(maxsize=1)
def _wordnet() -> Any:
    """Nltk's WordNet 3.0 reader, located and loaded as METEOR does (once per process)."""
    from fteval.metrics.meteor import WordNetNotFoundError, find_wordnet, wordnet_reader

    try:
        return wordnet_reader(find_wordnet())
    except WordNetNotFoundError as error:
        raise ConfigError(
            "--perturb paraphrase needs WordNet 3.0: " + str(error).split("none was found ", 1)[-1]
        ) from None


def wordnet_version() -> str:
    """The WordNet version the paraphrases come from (for the signature)."""
    return str(_wordnet().get_version() or "unknown")


@lru_cache(maxsize=65536)
def _candidates(word: str) -> dict[str, str]:
    """Part of speech -> lemma, for each WordNet part of speech with one lemma of the word
    (a part of speech with two, "days" -> "days"/"day", is left out: the sense is open)."""
    wn = _wordnet()
    index = wn._lemma_pos_offset_map  # lemma -> pos -> synset offsets (nltk's own index)
    found = {}
    for pos in ("n", "v", "a", "r"):
        lemmas = list(dict.fromkeys(wn._morphy(word, pos)))
        if len(lemmas) == 1 and index.get(lemmas[0], {}).get(pos):
            found[pos] = lemmas[0]
    return found


_SS_TYPE = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}


@lru_cache(maxsize=1)
def _sense_counts() -> dict[tuple[str, str], int]:
    """(lemma, pos) -> tagged uses, summed over senses, from WordNet's ``cntlist.rev``
    (``sense_key sense_number count`` per line; empty when the copy lacks the file)."""
    counts: dict[tuple[str, str], int] = {}
    try:
        handle = _wordnet().open("cntlist.rev")
    except OSError:
        return counts
    with handle:
        for line in handle:
            key, _, rest = line.partition(" ")
            lemma, _, ss = key.partition("%")
            fields = rest.split()
            if not ss or len(fields) < 2 or not fields[1].isdigit():
                continue
            slot = (lemma.lower(), _SS_TYPE.get(ss[:1], ""))
            counts[slot] = counts.get(slot, 0) + int(fields[1])
    return counts


def _uses(lemma: str, pos: str) -> int:
    """How often ``lemma`` occurs as ``pos`` in WordNet's sense-tagged corpus (cntlist)."""
    return _sense_counts().get((lemma.lower(), pos), 0)


def _counts_available() -> bool:
    """Whether the WordNet copy has sense counts (``cntlist.rev``); else no count rule."""
    return bool(_sense_counts())


def _dominant(candidates: dict[str, str], among: Sequence[str], share: float) -> str | None:
    """The reading among ``among`` with at least ``share`` of the word's tagged uses."""
    if not _counts_available():
        return None
    uses = {pos: _uses(candidates[pos], pos) for pos in among if pos in candidates}
    total = sum(uses.values())
    if total < 5:
        return None
    best = max(uses, key=uses.__getitem__)
    return best if uses[best] >= share * total else None


def _eligible(word: str) -> bool:
    lower = word.lower()
    return (
        len(word) >= 3
        and word.isascii()
        and word.isalpha()
        and not (word.isupper() and len(word) > 1)
        and lower not in CLOSED_CLASS
    )


def part_of_speech(words: Sequence[str], index: int) -> str | None:
    """The WordNet part of speech (``n``, ``v``, ``a``, ``r``) of ``words[index]``, or
    None when it is not settled (see the module docstring's rules)."""
    word = words[index].lower()
    candidates = _candidates(word)
    if not candidates:
        return None
    previous = words[index - 1].lower() if index > 0 else ""
    following = words[index + 1].lower() if index + 1 < len(words) else ""
    if previous in DETERMINERS:
        if "a" in candidates and following and _is_noun_ahead(following):
            return "a"
        return "n" if "n" in candidates else None
    if previous == "to":
        reading = _dominant(candidates, ("v", "n"), 2 / 3)
        return None if reading == "v" and candidates["v"] != word else reading
    if previous in VERB_CUES:
        return "v" if candidates.get("v") == word else None
    if previous in BE_FORMS:
        if word.endswith(("ing", "ed")) and set(candidates) != {"a"}:
            return None
        if "a" in candidates:
            return "a"
        return "n" if set(candidates) == {"n"} else None
    if previous in DEGREE:
        return "a" if "a" in candidates else ("r" if "r" in candidates else None)
    if word.endswith("ly") and "r" in candidates:
        return "r"
    if len(candidates) == 1:
        return next(iter(candidates))
    return _dominant(candidates, tuple(candidates), 0.9)


def _is_noun_ahead(word: str) -> bool:
    return word not in CLOSED_CLASS and "n" in _candidates(word)


@lru_cache(maxsize=65536)
def synonyms(lemma: str, pos: str, senses: int = 1) -> tuple[str, ...]:
    """Single-word lower-case lemmas sharing one of ``lemma``'s ``senses`` most frequent
    senses in ``pos`` (WordNet orders senses by frequency), ``lemma`` itself excluded."""
    found: dict[str, None] = {}
    for synset in _wordnet().synsets(lemma, pos)[:senses]:
        for name in synset.lemma_names():
            if not (name.isalpha() and name.islower() and name != lemma):
                continue
            if _counts_available() and _uses(name, pos) == 0:
                continue  # never seen in the sense-tagged corpus: archaic or rare
            found[name] = None
    return tuple(found)


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _inflection(word: str, pos: str, lemma: str) -> str | None:
    """``base`` or ``plural`` (regular noun plurals only), or None: not substitutable."""
    if word == lemma:
        return "base"
    if pos == "n" and word == _plural(lemma):
        return "plural"
    return None


def _case_like(source: str, word: str) -> str:
    if source[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def paraphrase(
    text: str, rng: random.Random, *, rate: float = 0.5, senses: int = 1
) -> tuple[str, list[dict[str, Any]]]:
    """Substitute WordNet synonyms for content words (see the module docstring).

    Args:
        text: the input text (English).
        rng: the item's generator (seeded by the caller).
        rate: probability in [0, 1] that an eligible word is substituted.
        senses: how many of the word's most frequent senses synonyms come from (>= 1).

    Returns:
        The paraphrased text and one record per substitution: ``position`` (character
        offset in ``text``), ``word``, ``substitute``, ``pos``, ``lemma``, ``synonym``.
    """
    matches = list(WORD.finditer(text))
    words = [m.group(0) for m in matches]
    pieces: list[str] = []
    edits: list[dict[str, Any]] = []
    cursor = 0
    for index, match in enumerate(matches):
        word = words[index]
        new = _substitute(words, index, rng, rate, senses)
        if new is None:
            continue
        pos, lemma, synonym, substitute = new
        pieces += [text[cursor : match.start()], substitute]
        cursor = match.end()
        edits.append(
            {"position": match.start(), "word": word, "substitute": substitute, "pos": pos,
             "lemma": lemma, "synonym": synonym}
        )  # fmt: skip
    pieces.append(text[cursor:])
    return "".join(pieces), edits


def _substitute(
    words: Sequence[str], index: int, rng: random.Random, rate: float, senses: int
) -> tuple[str, str, str, str] | None:
    word = words[index]
    if not _eligible(word):
        return None
    pos = part_of_speech(words, index)
    if pos is None:
        return None
    lemma = _candidates(word.lower())[pos]
    form = _inflection(word.lower(), pos, lemma)
    options = synonyms(lemma, pos, senses) if form else ()
    if index > 0 and words[index - 1].lower() in ("a", "an"):
        vowel = word[0].lower() in "aeiou"
        options = tuple(o for o in options if (o[0] in "aeiou") == vowel)
    if not options or rng.random() >= rate:
        return None
    synonym = rng.choice(options)
    inflected = _plural(synonym) if form == "plural" else synonym
    return pos, lemma, synonym, _case_like(word, inflected)

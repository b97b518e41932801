"""Seeded, pure perturbations of an item's input text, and their registry.

``--perturb NAME[:key=value,...]`` names one of :data:`PERTURBATIONS`. Each text
perturbation is a pure function ``(text, rng, options) -> (text, edits)``: the same text,
options and generator state give the same output, on any machine. The generator of an
item is seeded from the perturbation's ``seed``, its canonical options, the task, the
item's id and the variant number, so an item's perturbed text does not depend on which
other items are evaluated, on ``--limit`` or on the run's decoding seed.

Only the item's own input changes (``Example.input_spans``: its filled template fields,
not the few-shot block or the template's words); labels, references and choices never
change. Options every perturbation takes:

* ``k`` (default 1): variants per item; an item then counts in ``worst_of_k`` only when
  every variant is right. Perturbations without randomness (``contraction``,
  ``expansion``, ``casing`` in a fixed mode, ``long``, ``ood``) refuse ``k > 1``.
* ``seed`` (default 0): the perturbation's own seed.
* ``label``: the name the results use (default: the name, plus the options given).

The perturbations (docs/robustness.md has the full reference):

* ``typo``: keyboard typos. Each letter starts an edit with probability ``rate`` (default
  0.05): a QWERTY-neighbour substitution, a deletion, an insertion of a neighbour after
  it, or a transposition with the next letter (``ops``, default ``sub+del+ins+swap``,
  chosen uniformly). The letter's case is kept.
* ``casing``: ``mode=lower|upper|title`` re-cases the whole input; ``mode=random``
  (default) re-cases each word with probability ``rate`` (default 0.2) to another of
  lower / upper / title case.
* ``whitespace``: each gap between words is, with probability ``rate`` (default 0.1),
  removed (two words merge) or doubled; each word of 4+ letters is, with probability
  ``rate / 2``, split by a space.
* ``punctuation``: each punctuation mark (``.,!?;:``, not inside numbers) is, with
  probability ``rate`` (default 0.2), dropped or doubled; after each word not followed by
  a mark, a comma or full stop is added with probability ``rate / 4``.
* ``contraction`` / ``expansion``: English contractions made ("do not" -> "don't",
  "it is" -> "it's" before another word) or expanded ("don't" -> "do not",
  "I'm" -> "I am"); only unambiguous forms ("'d" and possessive "'s" are left alone).
* ``paraphrase``: WordNet 3.0 synonym substitution of content words with their part of
  speech kept (see :mod:`fteval.robustness.paraphrase`); negations are never touched.
* ``long``: neutral distractor sentences added before (``position=before``, default) or
  after the input until the prompt reaches ``tokens`` tokens (default: as long as the
  context window allows, leaving room for the answer).
* ``ood``: the items of a user file in the task's format (``ood=FILE``).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.errors import ConfigError

TextPerturbation = Callable[[str, random.Random, Mapping[str, Any]], tuple[str, list[Any]]]

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")

# QWERTY neighbours of each letter (same row and the rows above and below).
KEYBOARD_NEIGHBOURS: Mapping[str, str] = {
    "q": "wsa", "w": "qesad", "e": "wrsdf", "r": "etdfg", "t": "ryfgh", "y": "tughj",
    "u": "yihjk", "i": "uojkl", "o": "ipkl", "p": "ol",
    "a": "qwszx", "s": "qweadzx", "d": "wersfxc", "f": "ertdgcv", "g": "rtyfhvb",
    "h": "tyugjbn", "j": "yuihknm", "k": "uiojlm", "l": "iopk",
    "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm", "m": "njk",
}  # fmt: skip

TYPO_OPS = ("sub", "del", "ins", "swap")
COMMON_KEYS = ("k", "seed", "label")


@dataclass(frozen=True)
class Param:
    """One option of a perturbation.

    Attributes:
        name: the key in ``NAME:key=value``.
        default: the value when not given (None: required unless the perturbation says).
        kind: ``rate`` (float in [0, 1]), ``int`` (>= ``low``), ``choice`` (one of
            ``choices``), ``ops`` (``+``-joined members of ``choices``), ``path`` or ``str``.
        choices: allowed values of ``choice`` and ``ops`` options.
        low: the smallest ``int`` allowed.
        help: one line for the docs and errors.
    """

    name: str
    default: Any
    kind: str
    choices: tuple[str, ...] = ()
    low: int = 0
    help: str = ""

    def parse(self, perturbation: str, text: str) -> Any:
        """The option's value from its text; a ``ConfigError`` naming both otherwise."""
        where = f"--perturb {perturbation}: {self.name}={text!r}"
        if self.kind == "rate":
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{where}: expected a rate in [0, 1]")
            return value
        if self.kind == "int":
            if not re.fullmatch(r"\d+", text) or int(text) < self.low:
                raise ConfigError(f"{where}: expected an integer >= {self.low}")
            return int(text)
        if self.kind == "choice" and text not in self.choices:
            raise ConfigError(f"{where}: expected one of {list(self.choices)}")
        if self.kind == "ops":
            parts = text.split("+")
            unknown = [p for p in parts if p not in self.choices]
            if unknown or not text:
                raise ConfigError(f"{where}: expected '+'-joined members of {list(self.choices)}")
            return "+".join(dict.fromkeys(parts))
        if not text:
            raise ConfigError(f"{where}: empty value")
        return text


@dataclass(frozen=True)
class Perturbation:
    """A registered perturbation.

    Attributes:
        name: the registry name.
        summary: one line for ``fteval tasks --perturb`` and the docs.
        params: its own options (``k``, ``seed`` and ``label`` are common to all).
        function: the text function (None for ``long`` and ``ood``, which the variant
            builder applies).
        randomized: whether outputs depend on the generator (else ``k > 1`` is refused);
            a callable decides from the options.
        version: bumped whenever outputs change for the same inputs (in the signature).
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    function: TextPerturbation | None
    randomized: bool | Callable[[Mapping[str, Any]], bool] = True
    version: int = 1

    def is_random(self, options: Mapping[str, Any]) -> bool:
        return self.randomized(options) if callable(self.randomized) else self.randomized


@dataclass(frozen=True)
class PerturbationSpec:
    """One ``--perturb`` request, parsed and completed with defaults.

    Attributes:
        name: the perturbation's registry name.
        options: every option of the perturbation (given or default), sorted by key.
        given: the keys the user set (they make the default label).
        k: variants per item (>= 1).
        seed: the perturbation's seed.
        label: the name results and samples use for it (unique within a run).
        text: the request as written.
    """

    name: str
    options: tuple[tuple[str, Any], ...]
    given: tuple[str, ...]
    k: int = 1
    seed: int = 0
    label: str = ""
    text: str = ""

    def option(self, key: str) -> Any:
        """The value of option ``key``."""
        return dict(self.options)[key]

    @property
    def perturbation(self) -> Perturbation:
        return PERTURBATIONS[self.name]

    def signature(self, **facts: Any) -> str:
        """``typo|ops:sub+del+ins+swap|rate:0.05|k:1|seed:0|v:1`` (+ facts, e.g. the tokenizer)."""
        parts = [self.name]
        for key, value in self.options:
            if value is None:
                continue
            shown = Path(value).name if key in ("file", "source") else value
            parts.append(f"{key}:{shown}")
        parts += [f"k:{self.k}", f"seed:{self.seed}", f"v:{self.perturbation.version}"]
        parts += [f"{key}:{value}" for key, value in sorted(facts.items())]
        return "|".join(parts)


def _cased(letter: str, like: str) -> str:
    return letter.upper() if like.isupper() else letter


def typo(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Keyboard typos at a per-letter rate (see the module docstring).

    Returns:
        The text with typos, and the edits as ``[position, op, before, after]``.
    """
    rate = float(options["rate"])
    ops = str(options["ops"]).split("+")
    out: list[str] = []
    edits: list[Any] = []
    i = 0
    while i < len(text):
        char = text[i]
        if not (char.isalpha() and rng.random() < rate):
            out.append(char)
            i += 1
            continue
        op = rng.choice(ops)
        near = KEYBOARD_NEIGHBOURS.get(char.lower(), "")
        following = text[i + 1] if i + 1 < len(text) else ""
        if op == "swap" and following.isalpha() and following != char:
            out += [following, char]
            edits.append([i, op, char + following, following + char])
            i += 2
            continue
        if op == "del":
            edits.append([i, op, char, ""])
        elif op == "sub" and near:
            new = _cased(rng.choice(near), char)
            out.append(new)
            edits.append([i, op, char, new])
        elif op == "ins" and near:
            new = _cased(rng.choice(near), char)
            out += [char, new]
            edits.append([i, op, char, char + new])
        else:  # the op does not apply here (no neighbour, nothing to swap with)
            out.append(char)
        i += 1
    return "".join(out), edits


def _recase(word: str, mode: str) -> str:
    if mode == "lower":
        return word.lower()
    if mode == "upper":
        return word.upper()
    return word[:1].upper() + word[1:].lower()


def casing(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Re-case the whole text (lower/upper/title) or random words (``mode=random``)."""
    mode = options["mode"]
    if mode != "random":
        new = WORD.sub(lambda m: _recase(m.group(0), mode), text)
        return new, ([[0, mode]] if new != text else [])
    edits: list[Any] = []

    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        if rng.random() >= float(options["rate"]):
            return word
        others = [m for m in ("lower", "upper", "title") if _recase(word, m) != word]
        if not others:
            return word
        chosen = rng.choice(others)
        edits.append([match.start(), chosen, word])
        return _recase(word, chosen)

    return WORD.sub(one, text), edits


def whitespace(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Merge or double gaps between words, split long words (see the module docstring)."""
    rate = float(options["rate"])
    edits: list[Any] = []
    pieces = re.split(r"( +)", text)
    out = []
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        if piece.startswith(" "):
            between = 0 < index < len(pieces) - 1 and pieces[index - 1] and pieces[index + 1]
            if between and rng.random() < rate:
                merge = rng.random() < 0.5
                out.append("" if merge else piece + " ")
                edits.append([index, "merge" if merge else "double"])
                continue
            out.append(piece)
            continue
        out.append(WORD.sub(lambda m: _split_word(m.group(0), rng, rate / 2, edits), piece))
    return "".join(out), edits


def _split_word(word: str, rng: random.Random, rate: float, edits: list[Any]) -> str:
    if len(word) < 4 or rng.random() >= rate:
        return word
    at = rng.randrange(1, len(word))
    edits.append([word, "split", at])
    return word[:at] + " " + word[at:]


_MARKS = ".,!?;:"


def punctuation(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Drop or double punctuation marks; add a few (see the module docstring)."""
    rate = float(options["rate"])
    out: list[str] = []
    edits: list[Any] = []
    for i, char in enumerate(text):
        before = text[i - 1] if i else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if char in _MARKS and not (before.isdigit() and after.isdigit()):
            if rng.random() < rate:
                doubled = rng.random() < 0.5
                out.append(char * 2 if doubled else "")
                edits.append([i, "double" if doubled else "drop", char])
                continue
            out.append(char)
            continue
        out.append(char)
        word_ends = char.isalnum() and not (after.isalnum() or after in _MARKS or after in "'’-")
        if word_ends and rng.random() < rate / 4:
            mark = rng.choice(",.")
            out.append(mark)
            edits.append([i + 1, "add", mark])
    return "".join(out), edits


# ---- contractions ----

_NOT_VERBS = (
    "do", "does", "did", "is", "are", "was", "were", "has", "have", "had", "could", "should",
    "would", "must", "need", "might",
)  # fmt: skip
_IS_SUBJECTS = ("it", "that", "there", "here", "what", "he", "she", "who", "where")
_WILL_SUBJECTS = ("i", "you", "he", "she", "it", "we", "they")
_ARE_SUBJECTS = ("you", "we", "they")
_APOSTROPHE = "['’]"


def _match_case(source: str, replacement: str) -> str:
    """``replacement`` with the case pattern of ``source`` (UPPER, Title or lower)."""
    letters = [c for c in source if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _contraction_rules() -> list[tuple[re.Pattern[str], str]]:
    """(pattern over expanded text, contracted form); "X is/are/am/will" only before a word
    (sentence-final "is" cannot contract: "I know what it is")."""
    rules = [
        (r"\bcannot\b", "can't"),
        (r"\bcan not\b", "can't"),
        (r"\bwill not\b", "won't"),
        (r"\bshall not\b", "shan't"),
        (r"\blet us\b", "let's"),
    ]
    rules += [(rf"\b{verb} not\b", f"{verb}n't") for verb in _NOT_VERBS]
    ahead = r"(?=[ \t]+[^\W\d_])"
    rules.append((rf"\bi am{ahead}", "i'm"))
    rules += [(rf"\b{s} are{ahead}", f"{s}'re") for s in _ARE_SUBJECTS]
    rules += [(rf"\b{s} is{ahead}", f"{s}'s") for s in _IS_SUBJECTS]
    rules += [(rf"\b{s} will{ahead}", f"{s}'ll") for s in _WILL_SUBJECTS]
    return [(re.compile(p, re.IGNORECASE), r) for p, r in rules]


def _expansion_rules() -> list[tuple[re.Pattern[str], str]]:
    """(pattern over contracted text, expanded form); ambiguous forms are left alone."""
    a = _APOSTROPHE
    rules = [
        (rf"\bcan{a}t\b", "cannot"),
        (rf"\bwon{a}t\b", "will not"),
        (rf"\bshan{a}t\b", "shall not"),
        (rf"\blet{a}s\b", "let us"),
        (rf"\bi{a}m\b", "i am"),
    ]
    rules += [(rf"\b{verb}n{a}t\b", f"{verb} not") for verb in _NOT_VERBS]
    rules += [(rf"\b{s}{a}re\b", f"{s} are") for s in _ARE_SUBJECTS]
    rules += [(rf"\b{s}{a}ll\b", f"{s} will") for s in _WILL_SUBJECTS]
    rules += [(rf"\b{s}{a}ve\b", f"{s} have") for s in ("i", "you", "we", "they")]
    rules += [(rf"\b{s}{a}s(?=[ \t]+(?:been|got)\b)", f"{s} has") for s in _IS_SUBJECTS]
    rules += [(rf"\b{s}{a}s\b", f"{s} is") for s in _IS_SUBJECTS]
    return [(re.compile(p, re.IGNORECASE), r) for p, r in rules]


_CONTRACT = _contraction_rules()
_EXPAND = _expansion_rules()


def _rewrite(text: str, rules: Sequence[tuple[re.Pattern[str], str]]) -> tuple[str, list[Any]]:
    edits: list[Any] = []

    def replace(match: re.Match[str], form: str) -> str:
        new = _match_case(match.group(0), form)
        if new != match.group(0):
            edits.append([match.group(0), new])
        return new

    for pattern, form in rules:
        text = pattern.sub(functools.partial(replace, form=form), text)
    return text, edits


def contraction(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Contract every unambiguous English form ("do not" -> "don't")."""
    return _rewrite(text, _CONTRACT)


def expansion(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Expand every unambiguous English contraction ("don't" -> "do not")."""
    return _rewrite(text, _EXPAND)


def _paraphrase(text: str, rng: random.Random, options: Mapping[str, Any]) -> tuple[str, list[Any]]:
    from fteval.robustness.paraphrase import paraphrase

    return paraphrase(text, rng, rate=float(options["rate"]), senses=int(options["senses"]))


PERTURBATIONS: dict[str, Perturbation] = {}


def register(perturbation: Perturbation) -> Perturbation:
    """Add ``perturbation`` to the registry (a name registered twice is an error)."""
    if perturbation.name in PERTURBATIONS:
        raise ValueError(f"perturbation {perturbation.name!r} is registered twice")
    PERTURBATIONS[perturbation.name] = perturbation
    return perturbation


register(
    Perturbation(
        "typo",
        "keyboard typos: neighbour substitution, deletion, insertion, transposition",
        (
            Param("rate", 0.05, "rate", help="probability per letter that an edit starts"),
            Param("ops", "+".join(TYPO_OPS), "ops", TYPO_OPS, help="edit kinds"),
        ),
        typo,
    )
)
register(
    Perturbation(
        "casing",
        "casing noise: the input in lower/upper/title case, or random words re-cased",
        (
            Param("mode", "random", "choice", ("random", "lower", "upper", "title")),
            Param("rate", 0.2, "rate", help="share of words re-cased (mode=random)"),
        ),
        casing,
        randomized=lambda options: options["mode"] == "random",
    )
)
register(
    Perturbation(
        "whitespace",
        "whitespace noise: gaps removed or doubled, words split",
        (Param("rate", 0.1, "rate", help="probability per gap"),),
        whitespace,
    )
)
register(
    Perturbation(
        "punctuation",
        "punctuation noise: marks dropped, doubled or added",
        (Param("rate", 0.2, "rate", help="probability per mark"),),
        punctuation,
    )
)
register(
    Perturbation(
        "contraction", "English contractions made (do not -> don't)", (), contraction, False
    )
)
register(
    Perturbation(
        "expansion", "English contractions expanded (don't -> do not)", (), expansion, False
    )
)
register(
    Perturbation(
        "paraphrase",
        "WordNet synonyms for content words, part of speech kept, negations untouched",
        (
            Param("rate", 0.5, "rate", help="share of substitutable words substituted"),
            Param("senses", 1, "int", low=1, help="most frequent WordNet senses drawn from"),
        ),
        _paraphrase,
    )
)
register(
    Perturbation(
        "long",
        "distractor text until the prompt has `tokens` tokens, inside the context window",
        (
            Param("tokens", None, "int", low=1, help="target prompt length in tokens"),
            Param("position", "before", "choice", ("before", "after")),
            Param("source", None, "path", help="a text file of distractor lines"),
        ),
        None,
        randomized=False,
    )
)
register(
    Perturbation(
        "ood",
        "a user file of items in the task's format (out-of-distribution, adversarial)",
        (Param("file", None, "path", help="the data file"),),
        None,
        randomized=False,
    )
)


def parse_perturbation(text: str) -> PerturbationSpec:
    """Parse ``NAME[:key=value,...]`` (or ``ood=FILE``) into a spec with defaults.

    Raises:
        ConfigError: unknown name or key, a bad value, ``k > 1`` for a perturbation that
            has no randomness, or ``ood`` without a file.
    """
    text = text.strip()
    name, _, rest = text.partition(":")
    if name.startswith("ood="):  # the shorthand ood=FILE
        name, rest = "ood", "file=" + text[len("ood=") :]
    if name not in PERTURBATIONS:
        raise ConfigError(
            f"--perturb {text!r}: unknown perturbation {name!r}; known: {sorted(PERTURBATIONS)}"
        )
    perturbation = PERTURBATIONS[name]
    params = {p.name: p for p in perturbation.params}
    common = {
        "k": Param("k", 1, "int", low=1),
        "seed": Param("seed", 0, "int"),
        "label": Param("label", None, "str"),
    }
    values: dict[str, Any] = {}
    for item in filter(None, rest.split(",")) if rest else ():
        key, sep, value = item.partition("=")
        key = key.strip()
        param = params.get(key) or common.get(key)
        if not sep or param is None:
            known = sorted([*params, *common])
            raise ConfigError(f"--perturb {text!r}: unknown option {item!r}; options: {known}")
        if key in values:
            raise ConfigError(f"--perturb {text!r}: option {key!r} is given twice")
        values[key] = param.parse(name, value.strip())
    options = {p.name: values.get(p.name, p.default) for p in perturbation.params}
    if name == "ood" and not options["file"]:
        raise ConfigError(f"--perturb {text!r}: ood needs a file (ood=FILE)")
    k = int(values.get("k", 1))
    if k > 1 and not perturbation.is_random(options):
        raise ConfigError(
            f"--perturb {text!r}: k={k} variants would be identical ({name} with these options "
            "has no randomness); use k=1"
        )
    given = tuple(key for key in values if key != "label")
    label = values.get("label") or default_label(name, {key: values[key] for key in given})
    return PerturbationSpec(
        name=name,
        options=tuple(sorted(options.items())),
        given=given,
        k=k,
        seed=int(values.get("seed", 0)),
        label=label,
        text=text,
    )


def default_label(name: str, given: Mapping[str, Any]) -> str:
    """``typo``, or ``typo:rate=0.2`` when options were given (files by their name)."""
    if not given:
        return name
    shown = [
        f"{key}={Path(str(value)).name if key in ('file', 'source') else value}"
        for key, value in given.items()
    ]
    if name == "ood" and list(given) == ["file"]:
        return f"ood:{Path(str(given['file'])).stem}"
    return f"{name}:{','.join(shown)}"


def parse_perturbations(texts: Sequence[str]) -> list[PerturbationSpec]:
    """Every ``--perturb`` of a run; labels must be unique (give ``label=`` to tell apart)."""
    specs = [parse_perturbation(t) for t in texts]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.label in seen:
            raise ConfigError(
                f"--perturb {spec.text!r} and {seen[spec.label]!r} have the same label "
                f"{spec.label!r}; add label=NAME to one of them"
            )
        seen[spec.label] = spec.text
    return specs


def item_rng(spec: PerturbationSpec, task: str, example_id: str, variant: int) -> random.Random:
    """The generator of one item's variant (string-seeded: sha512, stable across runs)."""
    return random.Random(
        f"fteval-perturb|{spec.seed}|{spec.name}|{spec.options!r}|{task}|{example_id}|{variant}"
    )

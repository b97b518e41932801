"""WordNet paraphrase on real SST-2 sentences: synonyms of the same part of speech,
negations never touched (paraphrases keep the meaning they can)."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest

from fteval.robustness.paraphrase import NEGATIONS, paraphrase, part_of_speech

SST2 = Path("/work/shared/data/sst2/dev.tsv")
pytestmark = pytest.mark.skipif(not SST2.is_file(), reason="SST-2 copy not on this machine")


def _wordnet():
    from fteval.metrics.meteor import WordNetNotFoundError, find_wordnet, wordnet_reader

    try:
        return wordnet_reader(find_wordnet())
    except WordNetNotFoundError:
        pytest.skip("WordNet 3.0 is not installed")


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    with open(SST2, encoding="utf-8") as handle:
        return [row["sentence"] for row in csv.DictReader(handle, delimiter="\t")][:200]


def _negations(text: str) -> list[str]:
    return [t for t in re.findall(r"[\w']+", text.lower()) if t in NEGATIONS or t.endswith("n't")]


def test_substitutes_are_wordnet_synonyms_of_the_same_part_of_speech(sentences):
    wn = _wordnet()
    substituted = 0
    for index, sentence in enumerate(sentences):
        text, edits = paraphrase(sentence, random.Random(index), rate=1.0)
        for edit in edits:
            pos, lemma, synonym = edit["pos"], edit["lemma"], edit["synonym"]
            senses = wn.synsets(lemma, pos)
            assert any(synonym in s.lemma_names() for s in senses), edit
            assert lemma in wn._morphy(edit["word"].lower(), pos), edit
            assert synonym in wn._morphy(edit["substitute"].lower(), pos), edit  # same inflection
            substituted += 1
        assert _negations(text) == _negations(sentence)
    assert substituted > 150  # the test exercises many substitutions, not a handful


def test_negations_and_their_neighbourhood_are_never_rewritten(sentences):
    with_negation = [s for s in sentences if _negations(s)]
    assert len(with_negation) > 20
    for index, sentence in enumerate(with_negation):
        text, edits = paraphrase(sentence, random.Random(index), rate=1.0)
        assert not any(e["word"].lower() in NEGATIONS for e in edits)
        assert _negations(text) == _negations(sentence)


def test_part_of_speech_follows_context_and_skips_what_stays_ambiguous():
    _wordnet()
    assert part_of_speech(["the", "film", "is", "funny"], 1) == "n"
    assert part_of_speech(["the", "film", "is", "funny"], 3) == "a"
    assert part_of_speech(["you", "will", "enjoy", "it"], 2) == "v"
    assert part_of_speech(["a", "very", "slow", "movie"], 2) == "a"
    assert part_of_speech(["she", "has", "been", "sitting", "there"], 3) is None  # progressive
    assert part_of_speech(["they", "watched", "it", "quietly"], 3) == "r"


def test_the_same_seed_gives_the_same_paraphrase_and_rate_zero_none(sentences):
    _wordnet()
    sentence = sentences[2]
    assert paraphrase(sentence, random.Random(3)) == paraphrase(sentence, random.Random(3))
    assert paraphrase(sentence, random.Random(3), rate=0.0) == (sentence, [])

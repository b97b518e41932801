"""METEOR equals nltk's meteor_score; WordNet is found (nltk_data or a WordNet dict dir)."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

nltk = pytest.importorskip("nltk")

from nltk.translate.meteor_score import meteor_score  # noqa: E402

from fteval.metrics import make_metrics  # noqa: E402
from fteval.metrics import meteor as meteor_module  # noqa: E402
from fteval.metrics.meteor import (  # noqa: E402
    METEOR,
    WordNetNotFoundError,
    find_wordnet,
    lexnames_text,
)
from tests.conftest import skip_unless_required  # noqa: E402

from .test_text import EDGE, UNICODE, _as_list, generation_pairs  # noqa: E402

HYPOTHESIS_1 = (
    "It is a guide to action which ensures that the military always obeys the commands of the party"
)
REFERENCE_1 = (
    "It is a guide to action that ensures that the military will forever heed Party commands"
)


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Route fteval's cache (the private WordNet copy) to a temporary folder."""
    folder = tmp_path_factory.mktemp("fteval-cache")
    old = os.environ.get("FTEVAL_CACHE_DIR")
    os.environ["FTEVAL_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("FTEVAL_CACHE_DIR", None)
    else:
        os.environ["FTEVAL_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def metric(private_cache: Path) -> METEOR:
    try:
        return METEOR()
    except WordNetNotFoundError as error:
        skip_unless_required(f"no WordNet on this machine: {error}")


def test_lexnames_has_the_45_wordnet_30_lexicographer_files() -> None:
    lines = lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2"
    assert lines[44] == "44\tadj.ppl\t3"
    man = Path("/usr/share/man/man5/lexnames.5WN.gz")
    if man.is_file():  # the table in lexnames(5WN), when installed
        with gzip.open(man, "rt") as handle:
            table = re.findall(r"^(\d\d)\t(\S+)", handle.read(), flags=re.M)
        assert [(f"{i:02d}", line.split("\t")[1]) for i, line in enumerate(lines)] == table


def test_missing_wordnet_error_names_both_ways_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(WordNetNotFoundError) as caught:
        find_wordnet(search_nltk_data=False, search_dirs=[tmp_path])
    message = str(caught.value)
    assert "nltk.downloader wordnet" in message and "wordnet-base" in message
    assert str(tmp_path) in message
    with pytest.raises(WordNetNotFoundError):
        find_wordnet(wordnet_dir=tmp_path)
    with pytest.raises(WordNetNotFoundError):
        METEOR(wordnet_dir=tmp_path)


def _fake_wordnet_dict(folder: Path) -> Path:
    folder.mkdir()
    for name in meteor_module._REQUIRED:
        (folder / name).write_text(f"fake {name}\n")
    return folder


def test_private_copy_adds_lexnames_and_is_rebuilt_when_the_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTEVAL_CACHE_DIR", str(tmp_path / "cache"))
    source = _fake_wordnet_dict(tmp_path / "dict")
    assert find_wordnet(wordnet_dir=source).kind == "dict"
    root = meteor_module._private_copy(source)
    copy = root / "corpora" / "wordnet"
    assert (copy / "lexnames").read_text() == lexnames_text()
    assert (copy / "data.noun").read_text() == "fake data.noun\n"
    assert not (copy / "data.noun").is_symlink()  # nltk refuses links
    assert json.loads((copy / "fteval-source.json").read_text())["origin"] == str(source)
    (source / "data.noun").write_text("changed, and longer\n")
    meteor_module._private_copy(source)
    assert (copy / "data.noun").read_text() == "changed, and longer\n"


def test_nltk_documentation_example(metric: METEOR) -> None:
    value = metric.item_stats([REFERENCE_1], [HYPOTHESIS_1])[0, 0]
    assert round(value, 4) == 0.6944  # nltk's doctest value, WordNet 3.0


def _meteor_pairs() -> tuple[list[object], list[str]]:
    targets, predictions = generation_pairs()
    rng = random.Random(5)
    # Synonym-rich English pairs so the WordNet stage matters.
    synonyms = [
        ("the car was very fast", "the automobile was extremely quick"),
        ("he bought a big house", "he purchased a large home"),
        ("she was happy about the gift", "she was glad about the present"),
        ("the children began to laugh", "the kids started to giggle"),
    ]
    for _ in range(40):
        ref, hyp = rng.choice(synonyms)
        targets = [*targets, ref]
        predictions = [*predictions, hyp]
    return targets, predictions


@pytest.mark.parametrize("tokenizer", ["treebank", "whitespace", "unicode"])
def test_meteor_equals_nltk_meteor_score(metric: METEOR, tokenizer: str) -> None:
    targets, predictions = _meteor_pairs()
    if tokenizer != "treebank":  # a smaller subset for the other tokenizers
        targets, predictions = targets[::4], predictions[::4]
    else:
        assert len(targets) >= 200
    scorer = METEOR(word_tokenizer=tokenizer)
    split = scorer._tokenize
    expected = [
        meteor_score([split(r) for r in _as_list(t)], split(p), wordnet=metric.wordnet)
        for t, p in zip(targets, predictions)
    ]
    stats = scorer.item_stats(targets, predictions)
    assert stats[:, 0].tolist() == expected
    assert scorer.score(targets, predictions) == pytest.approx(np.mean(expected), abs=1e-15)
    assert 0 < np.mean(expected) < 1


def test_meteor_treebank_tokenizer_is_nltks(metric: METEOR) -> None:
    from nltk.tokenize import NLTKWordTokenizer

    text = 'He didn\'t say "no", (really) -- did he?'
    assert metric._tokenize(text) == NLTKWordTokenizer().tokenize(text)


def test_meteor_uses_wordnet_synonyms(metric: METEOR) -> None:
    # nltk matches synonyms of the Porter-stemmed hypothesis word (quick -> fast).
    reference = ["the car was very fast"]
    with_synonym = metric.item_stats(reference, ["the car was very quick"])[0, 0]
    without = metric.item_stats(reference, ["the car was very red"])[0, 0]
    assert with_synonym > 0.99 > without


def test_meteor_edge_cases_score_zero_or_finite(metric: METEOR) -> None:
    targets = [a for a in EDGE for _ in EDGE] + [["", "x"], UNICODE[0]]
    predictions = [b for _ in EDGE for b in EDGE] + ["", UNICODE[0]]
    values = metric.item_values(metric.item_stats(targets, predictions))
    assert np.isfinite(values).all()
    for prediction in ("", " ", "\n"):
        assert metric.item_stats(["the cat sat"], [prediction])[0, 0] == 0.0
    # One token matched alone is one chunk: fragmentation penalty 0.5 (METEOR's rule).
    assert metric.item_stats([UNICODE[0]], [UNICODE[0]])[0, 0] == 0.5
    assert metric.item_stats([UNICODE[5]], [UNICODE[5]])[0, 0] > 0.99


def test_meteor_signature_names_tokenizer_wordnet_and_versions(metric: METEOR) -> None:
    signature = metric.signature()
    assert "tok:nltk-treebank" in signature
    assert "wordnet:3.0" in signature
    assert f"nltk:{nltk.__version__}" in signature
    assert "tok:unicode" in METEOR(word_tokenizer="unicode").signature()


def test_meteor_registry_options(metric: METEOR) -> None:
    (built,) = make_metrics([{"name": "meteor", "word_tokenizer": "whitespace", "alpha": 0.8}])
    assert built.word_tokenizer == "whitespace" and built.alpha == 0.8
    assert built.beta == 3.0
    with pytest.raises(ValueError, match="has no option 'aplha'"):
        make_metrics([{"name": "meteor", "aplha": 0.8}])
    with pytest.raises(ValueError, match="word_tokenizer"):
        METEOR(word_tokenizer="spacy")


def test_meteor_reader_is_loaded_once(metric: METEOR) -> None:
    assert METEOR().wordnet is metric.wordnet

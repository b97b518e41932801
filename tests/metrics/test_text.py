"""Text metrics equal their reference implementations (sacrebleu, rouge-score, SQuAD v1.1).

Pairs are generated deterministically: CNN/DailyMail highlights and SQuAD answers from
/work/shared/data when present (built-in sentences otherwise), perturbed; Unicode text
(Chinese, Arabic, Russian, accents, emoji); empty/whitespace/punctuation-only strings;
several references per item with varying counts.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import re
import string
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pytest

sacrebleu = pytest.importorskip("sacrebleu")
rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

from fteval.metrics import make_metrics  # noqa: E402
from fteval.metrics._textutil import UnicodeTokenizer, unicode_tokens  # noqa: E402
from fteval.metrics.text import (  # noqa: E402
    BLEU,
    CHRF,
    ExactMatch,
    Rouge1,
    Rouge2,
    RougeL,
    RougeLsum,
    SquadEM,
    SquadF1,
    count_empty,
)

DATA = Path("/work/shared/data")

FALLBACK = [
    "The quick brown fox jumps over the lazy dog .",
    "A man was arrested in Paris on Tuesday after a chase.\nPolice said he was armed.",
    "Shares fell 3% in early trading, the lowest level since 2019.",
    "The committee will meet again next week to discuss the budget.",
    "Scientists discovered a new species of frog in the rainforest.",
]

UNICODE = [
    "北京是中国的首都",
    "我爱自然语言处理和机器翻译",
    "東京は日本の首都です",
    "القاهرة هي عاصمة مصر",
    "اللُّغَةُ العَرَبِيَّةُ جَمِيلَةٌ",
    "Москва — столица России",
    "Ça coûte très cher à Paris, déjà été",
    "naïve café résumé über straße",
    "서울은 한국의 수도입니다",
    "🙂🙂🎉",
    "I love pizza 🍕 and sushi 🍣",
    "Ελληνικά κείμενα εδώ",
    "हिन्दी भाषा सुंदर है",
]

EDGE = ["", " ", "\n", "\t \n", "!!!", "...", "?", "—", "“ ”", "!!! ...", "a", "the"]


def _highlights() -> list[str]:
    path = DATA / "cnn_dailymail" / "train_sample.csv"
    if not path.is_file():
        return FALLBACK * 20
    with open(path, newline="", encoding="utf-8") as handle:
        return [row["highlights"] for row in csv.DictReader(handle)]


def _squad_items(limit: int = 400) -> list[list[str]]:
    path = DATA / "squad" / "dev-v1.1.json"
    if not path.is_file():
        return [[s.split()[1], s.split()[2]] for s in FALLBACK * 40][:limit]
    data = json.loads(path.read_text(encoding="utf-8"))
    items = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                items.append([a["text"] for a in qa["answers"]])
    return items[:: max(1, len(items) // limit)][:limit]


def _perturb(text: str, rng: random.Random, pool: list[str]) -> str:
    words = text.split(" ")
    choice = rng.randrange(9)
    if choice == 0:
        return text
    if choice == 1:  # drop words
        return " ".join(w for w in words if rng.random() > 0.3)
    if choice == 2:  # shuffle
        rng.shuffle(words)
        return " ".join(words)
    if choice == 3:  # another text
        return rng.choice(pool)
    if choice == 4:
        return text.lower()
    if choice == 5:  # first line only
        return text.split("\n")[0]
    if choice == 6:
        return rng.choice(EDGE)
    if choice == 7:  # substitute words
        return " ".join(rng.choice(pool).split(" ")[0] if rng.random() < 0.2 else w for w in words)
    return text + " " + rng.choice(pool)[:40]


@cache
def generation_pairs(seed: int = 0) -> tuple[list[object], list[str]]:
    """About 300 (target, prediction) pairs; targets are strings or reference lists."""
    rng = random.Random(seed)
    highlights = _highlights()
    targets: list[object] = []
    predictions: list[str] = []
    for i, ref in enumerate(highlights):
        pred = _perturb(ref, rng, highlights)
        if i % 3 == 0:  # several references, varying counts
            extra = [_perturb(ref, rng, highlights) for _ in range(rng.randrange(1, 4))]
            targets.append([ref, *extra])
        else:
            targets.append(ref)
        predictions.append(pred)
    for i, ref in enumerate(UNICODE * 5):
        pred = _perturb(ref, rng, UNICODE) if i % 4 else ref[: len(ref) // 2]
        targets.append([ref, rng.choice(UNICODE)] if i % 5 == 0 else ref)
        predictions.append(pred)
    for a in EDGE:
        for b in (EDGE[0], EDGE[4], "some words here", EDGE[1]):
            targets.append(a)
            predictions.append(b)
            targets.append(b)
            predictions.append(a)
    return targets, predictions


@cache
def latin_pairs() -> tuple[list[object], list[str]]:
    """The generated pairs whose references are mostly ASCII (ROUGE's default tokenizer)."""
    targets, predictions = generation_pairs()
    keep = [
        i
        for i, t in enumerate(targets)
        if all(sum(not c.isascii() for c in r if c.isalnum()) == 0 for r in _as_list(t))
    ]
    return [targets[i] for i in keep], [predictions[i] for i in keep]


def _as_list(target: object) -> list[str]:
    return [target] if isinstance(target, str) else list(target)  # type: ignore[arg-type]


def _streams(targets: list[object]) -> list[list[str | None]]:
    """sacrebleu's reference streams, padded with None for items with fewer references."""
    refs = [_as_list(t) for t in targets]
    width = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(width)]


def test_generated_pairs_are_many_and_varied() -> None:
    targets, predictions = generation_pairs()
    assert len(targets) == len(predictions) >= 200
    assert sum(isinstance(t, list) for t in targets) >= 30
    assert len({len(t) for t in targets if isinstance(t, list)}) >= 3
    joined = " ".join(predictions) + " ".join(" ".join(_as_list(t)) for t in targets)
    for sample in ("北京", "القاهرة", "🙂", "é"):
        assert sample in joined
    assert "" in predictions and " " in predictions and "!!!" in predictions


# ------------------------------------------------------------------------------- BLEU


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"tokenize": "intl"},
        {"tokenize": "zh"},
        {"tokenize": "char"},
        {"tokenize": "none", "lowercase": True},
        {"smooth_method": "floor", "smooth_value": 0.2},
        {"smooth_method": "add-k"},
        {"smooth_method": "none"},
    ],
)
def test_bleu_equals_sacrebleu_corpus_and_sentence(options: dict) -> None:
    targets, predictions = generation_pairs()
    metric = BLEU(**options)
    stats = metric.item_stats(targets, predictions)
    assert stats.shape == (len(targets), 10)
    corpus = sacrebleu.corpus_bleu(
        predictions,
        _streams(targets),
        tokenize=options.get("tokenize", "13a"),
        lowercase=options.get("lowercase", False),
        smooth_method=options.get("smooth_method", "exp"),
        smooth_value=options.get("smooth_value"),
    )
    assert metric.score(targets, predictions) == corpus.score
    sentence = [
        sacrebleu.sentence_bleu(
            p,
            _as_list(t),
            tokenize=options.get("tokenize", "13a"),
            lowercase=options.get("lowercase", False),
            smooth_method=options.get("smooth_method", "exp"),
            smooth_value=options.get("smooth_value"),
        ).score
        for t, p in zip(targets, predictions)
    ]
    assert metric.item_values(stats).tolist() == sentence


def test_bleu_batched_totals_equal_per_row_and_resampled_corpus() -> None:
    targets, predictions = generation_pairs()
    metric = BLEU()
    stats = metric.item_stats(targets, predictions)
    rng = np.random.default_rng(7)
    index = rng.integers(0, len(stats), size=(20, len(stats)))
    totals = stats[index].sum(axis=1)
    batched = metric.from_totals(totals, np.full(20, len(stats)))
    assert batched.shape == (20,)
    for b in range(20):
        assert batched[b] == metric.from_totals(totals[b], len(stats))
    for b in range(3):
        hyps = [predictions[i] for i in index[b]]
        refs = _streams([targets[i] for i in index[b]])
        assert batched[b] == sacrebleu.corpus_bleu(hyps, refs).score


def test_bleu_from_totals_is_nan_for_no_items() -> None:
    metric = BLEU()
    assert np.isnan(metric.from_totals(np.zeros(10), 0))
    assert np.isnan(metric.from_totals(np.zeros((2, 10)), np.zeros(2))).all()


def test_bleu_signature_has_sacrebleu_signature_and_tokenizer() -> None:
    signature = BLEU(tokenize="intl").signature()
    assert "tok:intl" in signature
    assert f"version:{sacrebleu.__version__}" in signature
    assert "fteval:" in signature and "nrefs" not in signature


def test_bleu_rejects_unknown_tokenizer() -> None:
    with pytest.raises(ValueError, match="unknown tokenize='nope'"):
        BLEU(tokenize="nope")


# ------------------------------------------------------------------------------- chrF


@pytest.mark.parametrize(
    "options", [{}, {"word_order": 2}, {"whitespace": True}, {"eps_smoothing": True}]
)
def test_chrf_equals_sacrebleu_corpus_and_sentence(options: dict) -> None:
    targets, predictions = generation_pairs()
    metric = CHRF(**options)
    stats = metric.item_stats(targets, predictions)
    assert stats.shape == (len(targets), 3 * (6 + options.get("word_order", 0)))
    kwargs = {
        "word_order": options.get("word_order", 0),
        "remove_whitespace": not options.get("whitespace", False),
        "eps_smoothing": options.get("eps_smoothing", False),
    }
    assert (
        metric.score(targets, predictions)
        == sacrebleu.corpus_chrf(predictions, _streams(targets), **kwargs).score
    )
    sentence = [
        sacrebleu.sentence_chrf(p, _as_list(t), **kwargs).score
        for t, p in zip(targets, predictions)
    ]
    assert metric.item_values(stats).tolist() == sentence


def test_chrf_lowercase_equals_sacrebleu_class() -> None:
    targets, predictions = generation_pairs()
    reference = sacrebleu.CHRF(lowercase=True).corpus_score(predictions, _streams(targets))
    assert CHRF(lowercase=True).score(targets, predictions) == reference.score


def test_chrf_batched_totals_equal_per_row() -> None:
    targets, predictions = generation_pairs()
    metric = CHRF()
    stats = metric.item_stats(targets, predictions)
    index = np.random.default_rng(3).integers(0, len(stats), size=(10, len(stats)))
    totals = stats[index].sum(axis=1)
    batched = metric.from_totals(totals, np.full(10, len(stats)))
    assert batched.tolist() == [float(metric.from_totals(t, len(stats))) for t in totals]
    assert "nc:6" in metric.signature() and "version:" in metric.signature()


# ------------------------------------------------------------------------------ ROUGE

ROUGES = [Rouge1, Rouge2, RougeL, RougeLsum]


@pytest.mark.parametrize("cls", ROUGES)
@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score_max_over_references(cls: type, use_stemmer: bool) -> None:
    targets, predictions = latin_pairs()
    assert len(targets) >= 200
    metric = cls(use_stemmer=use_stemmer)
    scorer = rouge_scorer.RougeScorer([cls.rouge_type], use_stemmer=use_stemmer)
    expected = [
        max(scorer.score(r, p)[cls.rouge_type].fmeasure for r in _as_list(t))
        for t, p in zip(targets, predictions)
    ]
    stats = metric.item_stats(targets, predictions)
    assert stats[:, 0].tolist() == expected
    assert metric.item_values(stats).tolist() == expected
    assert metric.score(targets, predictions) == pytest.approx(np.mean(expected), abs=1e-15)


def test_rouge_lsum_splits_sentences_on_newlines() -> None:
    target = "the cat sat on the mat\nthe dog barked"
    prediction = "the dog barked\nthe cat sat on the mat"
    lsum = RougeLsum().item_values(RougeLsum().item_stats([target], [prediction]))[0]
    plain = RougeL().item_values(RougeL().item_stats([target], [prediction]))[0]
    assert lsum == 1.0 and plain < 1.0
    one_line = RougeLsum().item_stats([target.replace("\n", " ")], [prediction.replace("\n", " ")])
    assert one_line[0, 0] == plain


def test_rouge_auto_rejects_non_latin_references_with_advice() -> None:
    with pytest.raises(ValueError, match="tokenizer='unicode'") as caught:
        Rouge1().item_stats(["hello", "北京是中国的首都"], ["hello", "北京"])
    assert "item 1" in str(caught.value)
    # An English reference with a few accented names is fine.
    Rouge1().item_stats(["José Mourinho left the club"], ["Mourinho left"])


def test_rouge_explicit_rouge_tokenizer_keeps_rouge_score_values() -> None:
    targets, predictions = ["北京是中国的首都", "café au lait"], ["北京", "cafe au lait"]
    scorer = rouge_scorer.RougeScorer(["rouge1"])
    values = Rouge1(tokenizer="rouge").item_stats(targets, predictions)[:, 0]
    assert values.tolist() == [
        scorer.score(t, p)["rouge1"].fmeasure for t, p in zip(targets, predictions)
    ]
    assert values[0] == 0.0


def test_rouge_warns_about_non_latin_predictions(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fteval.metrics.text"):
        Rouge1().item_stats(["the cat sat", "a dog"], ["the 猫猫猫猫猫猫猫 sat", "a dog"])
    assert "1 of 2 predictions" in caplog.text


def test_unicode_tokenizer_equals_rouge_score_tokens_on_ascii() -> None:
    from rouge_score import tokenize

    targets, predictions = latin_pairs()
    texts = [p for p in predictions if p.isascii()] + [
        r for t in targets for r in _as_list(t) if r.isascii()
    ]
    assert len(texts) > 200
    for text in texts:
        assert unicode_tokens(text) == tokenize.tokenize(text, None)
    stemmer_tok = UnicodeTokenizer(use_stemmer=True)
    default_tok = rouge_scorer.tokenizers.DefaultTokenizer(use_stemmer=True)
    for text in texts[:100]:
        assert stemmer_tok.tokenize(text) == default_tok.tokenize(text)


def test_unicode_tokenizer_handles_scripts() -> None:
    assert unicode_tokens("北京是首都") == ["北", "京", "是", "首", "都"]
    assert unicode_tokens("東京はテスト") == ["東", "京", "は", "テ", "ス", "ト"]
    assert unicode_tokens("اللُّغَةُ العَرَبِيَّةُ") == ["اللُّغَةُ", "العَرَبِيَّةُ"]
    assert unicode_tokens("Москва — столица") == ["москва", "столица"]
    assert unicode_tokens("Café NAÏVE") == ["café", "naïve"]
    assert unicode_tokens("cafe\u0301") == ["café"]  # NFKC composes the accent
    assert unicode_tokens("🙂🎉 !!! ...") == []
    assert unicode_tokens("pizza🍕sushi") == ["pizza", "sushi"]


def test_rouge_unicode_scores_chinese_by_character() -> None:
    metric = Rouge1(tokenizer="unicode")
    value = metric.item_stats(["北京是中国的首都"], ["北京是首都"])[0, 0]
    precision, recall = 5 / 5, 5 / 8
    assert value == pytest.approx(2 * precision * recall / (precision + recall))
    assert "tok:unicode" in metric.signature()
    targets, predictions = generation_pairs()
    for cls in ROUGES:
        values = cls(tokenizer="unicode").item_stats(targets, predictions)[:, 0]
        assert ((values >= 0) & (values <= 1)).all()


def test_rouge_unicode_equals_rouge_score_on_ascii_pairs() -> None:
    targets, predictions = latin_pairs()
    keep = [
        i
        for i, (t, p) in enumerate(zip(targets, predictions))
        if p.isascii() and all(r.isascii() for r in _as_list(t))
    ]
    t = [targets[i] for i in keep]
    p = [predictions[i] for i in keep]
    for cls in ROUGES:
        assert cls(tokenizer="unicode").item_stats(t, p).tolist() == cls().item_stats(t, p).tolist()


def test_rouge_signature_names_tokenizer_and_version() -> None:
    signature = RougeLsum(use_stemmer=True).signature()
    assert "tok:rouge-score-default" in signature and "stem:porter" in signature
    assert "sent-split:newline" in signature and "rouge-score:0." in signature


def test_rouge_nltk_sentence_split_needs_punkt_or_says_so() -> None:
    nltk = pytest.importorskip("nltk")
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        with pytest.raises(ValueError, match="punkt_tab"):
            RougeLsum(lsum_split="nltk")
    else:
        RougeLsum(lsum_split="nltk").item_stats(["A b. C d."], ["A b. C d."])


# ---------------------------------------------------------------------- exact match


def test_exact_match_options() -> None:
    targets = ["Paris", ["The Eiffel Tower", "eiffel tower"], "42", "yes", ""]
    predictions = [" Paris\n", "the eiffel tower!", "Answer: 42", "YES.", "   "]
    assert ExactMatch().item_stats(targets, predictions)[:, 0].tolist() == [1, 0, 0, 0, 1]
    assert ExactMatch(normalize_whitespace=False).item_stats(targets, predictions)[
        :, 0
    ].tolist() == [
        0,
        0,
        0,
        0,
        0,
    ]
    loose = ExactMatch(lowercase=True, strip_punctuation=True, strip_articles=True)
    assert loose.item_stats(targets, predictions)[:, 0].tolist() == [1, 1, 0, 1, 1]
    regex = ExactMatch(ignore_regex=r"^Answer:\s*")
    assert regex.item_stats(targets, predictions)[:, 0].tolist() == [1, 0, 1, 0, 1]
    assert ExactMatch(strip_punctuation=True).normalize("«Bonjour», ¿qué?") == "Bonjour qué"
    assert "ignore:'^Answer:\\\\s*'" in regex.signature()
    assert ExactMatch.binary_outcome and ExactMatch.scale == 100.0


def test_exact_match_equals_simple_oracle_on_generated_pairs() -> None:
    targets, predictions = generation_pairs()
    metric = ExactMatch(lowercase=True)
    expected = [
        float(any(" ".join(r.lower().split()) == " ".join(p.lower().split()) for r in _as_list(t)))
        for t, p in zip(targets, predictions)
    ]
    assert metric.item_stats(targets, predictions)[:, 0].tolist() == expected
    assert 0 < sum(expected) < len(expected)


def test_exact_match_rejects_bad_regex() -> None:
    with pytest.raises(ValueError, match="ignore_regex"):
        ExactMatch(ignore_regex="(")


# ------------------------------------------------------------------------------ SQuAD


def _official_normalize(s: str) -> str:
    """SQuAD v1.1 evaluate script's normalize_answer, transcribed for the test."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _official_f1(prediction: str, truth: str) -> float:
    p, t = _official_normalize(prediction).split(), _official_normalize(truth).split()
    common = Counter(p) & Counter(t)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(p)
    recall = 1.0 * num_same / len(t)
    return (2 * precision * recall) / (precision + recall)


def _official_em(prediction: str, truth: str) -> bool:
    return _official_normalize(prediction) == _official_normalize(truth)


def squad_pairs(seed: int = 1) -> tuple[list[list[str]], list[str]]:
    rng = random.Random(seed)
    items = _squad_items()
    answers = [a for item in items for a in item]
    predictions = []
    for item in items:
        answer = rng.choice(item)
        kind = rng.randrange(8)
        if kind == 0:
            predictions.append(answer)
        elif kind == 1:
            predictions.append("The " + answer.upper() + ".")
        elif kind == 2:
            predictions.append(" ".join(answer.split()[1:]))
        elif kind == 3:
            predictions.append(rng.choice(answers))
        elif kind == 4:
            predictions.append(rng.choice(EDGE))
        elif kind == 5:
            predictions.append(f"I think it is {answer}, probably")
        elif kind == 6:
            predictions.append(answer.replace(" ", "  ") + " \n")
        else:
            predictions.append(rng.choice(UNICODE))
    return items, predictions


def test_squad_equals_official_v11_evaluation() -> None:
    items, predictions = squad_pairs()
    assert len(items) >= 200 and len({len(i) for i in items}) >= 3
    em = SquadEM().item_stats(items, predictions)[:, 0]
    f1 = SquadF1().item_stats(items, predictions)[:, 0]
    expected_em = [max(_official_em(p, t) for t in ts) for ts, p in zip(items, predictions)]
    expected_f1 = [max(_official_f1(p, t) for t in ts) for ts, p in zip(items, predictions)]
    assert em.tolist() == [float(x) for x in expected_em]
    assert f1.tolist() == [float(x) for x in expected_f1]
    # The official script reports 100 * mean.
    assert SquadEM.scale * SquadEM().score(items, predictions) == pytest.approx(
        100.0 * sum(expected_em) / len(items)
    )
    assert SquadF1.scale * SquadF1().score(items, predictions) == pytest.approx(
        100.0 * sum(expected_f1) / len(items)
    )
    assert 0 < em.mean() < 1 and 0 < f1.mean() < 1


def test_squad_edge_values_follow_v11() -> None:
    assert SquadEM().item_stats(["the"], [""])[0, 0] == 1.0  # both normalise to ""
    assert SquadF1().item_stats(["the"], [""])[0, 0] == 0.0
    assert SquadF1().item_stats([""], [""])[0, 0] == 0.0
    assert SquadEM.binary_outcome and not SquadF1.binary_outcome
    assert "squad-v1.1" in SquadF1().signature()


# ---------------------------------------------------------------- every text metric

TEXT_NAMES = [
    "bleu",
    "chrf",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "exact_match",
    "squad_em",
    "squad_f1",
]


def spec(name: str, **options: object) -> object:
    """A metric spec: ROUGE gets the Unicode tokenizer, BLEU/chrF the options given."""
    if name.startswith("rouge"):
        return {"name": name, "tokenizer": "unicode"}
    return {"name": name, **options} if name == "bleu" and options else name


def test_registry_builds_text_metrics_with_their_own_options() -> None:
    metrics = make_metrics([spec(name, tokenize="intl") for name in TEXT_NAMES])
    assert [m.key for m in metrics] == TEXT_NAMES
    with pytest.raises(ValueError, match="has no option 'tokenizer'"):
        make_metrics([{"name": "bleu", "tokenizer": "unicode"}])
    assert "tok:intl" in metrics[0].signature()
    assert "tok:unicode" in metrics[2].signature()
    for metric in metrics:
        assert "fteval:" in metric.signature()


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_edge_case_strings_never_crash(name: str) -> None:
    (metric,) = make_metrics([spec(name)])
    targets = [a for a in EDGE for _ in EDGE] + [["", "!!!"], [" ", "x"]]
    predictions = [b for _ in EDGE for b in EDGE] + ["", "..."]
    stats = metric.item_stats(targets, predictions)
    values = metric.item_values(stats)
    assert values.shape == (len(targets),) and np.isfinite(values).all()
    assert np.isfinite(metric.score(targets, predictions))


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_batched_from_totals_equals_per_row_calls(name: str) -> None:
    (metric,) = make_metrics([spec(name)])
    targets, predictions = generation_pairs()
    stats = metric.item_stats(targets, predictions)
    index = np.random.default_rng(11).integers(0, len(stats), size=(8, len(stats)))
    totals = stats[index].sum(axis=1)
    counts = np.full(8, len(stats))
    batched = metric.from_totals(totals, counts)
    assert batched.shape == (8,)
    assert batched.tolist() == [float(metric.from_totals(t, len(stats))) for t in totals]
    assert float(metric.from_totals(stats.sum(axis=0), len(stats))) == metric.score(
        targets, predictions
    )


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge1", "rougeL", "squad_f1"])
def test_empty_prediction_scores_zero(name: str) -> None:
    (metric,) = make_metrics([name])
    for prediction in ("", "   ", "\n"):
        assert metric.item_values(metric.item_stats(["the cat sat"], [prediction]))[0] == 0.0


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_perfect_prediction_scores_best_and_order_is_irrelevant(name: str) -> None:
    (metric,) = make_metrics([name])
    targets = ["the cat sat on the mat today", "a quick brown fox jumped", "rain is expected"]
    perfect = metric.score(targets, targets)
    assert perfect == pytest.approx(100.0 if name in ("bleu", "chrf") else 1.0)
    predictions = ["the cat sat", "a slow fox", ""]
    forward = metric.score(targets, predictions)
    assert metric.score(targets[::-1], predictions[::-1]) == pytest.approx(forward)
    assert forward < perfect


def test_input_errors_name_the_item() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        BLEU().item_stats(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="item 1 has an empty list"):
        Rouge1().item_stats(["a", []], ["a", "b"])
    with pytest.raises(TypeError, match="item 0 is None"):
        SquadF1().item_stats([None], ["a"])
    with pytest.raises(TypeError, match="prediction of item 1"):
        ExactMatch().item_stats(["a", "b"], ["a", None])


def test_count_empty() -> None:
    assert count_empty(["", " ", "\n\t", "!!!", "a", None]) == 4
    assert count_empty([]) == 0

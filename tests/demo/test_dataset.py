"""Tests of the synthetic support-intent dataset generator."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fteval.demo.dataset import (
    INTENTS,
    MAX_TEXT_CHARS,
    generate_dataset,
    label_counts,
    normalise,
    write_jsonl,
)

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(0)


def test_same_seed_gives_identical_dataset(dataset):
    assert generate_dataset(0) == dataset


def test_different_seed_gives_different_dataset(dataset):
    other = generate_dataset(1)
    assert other.train != dataset.train
    assert other.test != dataset.test


def test_generation_does_not_touch_global_random_state():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_dataset(0, n_train=50, n_validation=10, n_test=10, n_unlabeled=20)
    assert random.random() == expected


def test_default_split_sizes(dataset):
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (2500, 250, 300)
    assert len(dataset.unlabeled) == 8000


def test_custom_sizes_are_honoured():
    small = generate_dataset(3, n_train=20, n_validation=10, n_test=15, n_unlabeled=7)
    assert (len(small.train), len(small.validation), len(small.test)) == (20, 10, 15)
    assert len(small.unlabeled) == 7


@pytest.mark.parametrize("split", SPLITS)
def test_every_intent_is_in_every_split_and_balanced(dataset, split):
    counts = label_counts(dataset.split(split))
    assert set(counts) == set(INTENTS)
    assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize("split", SPLITS)
def test_rows_have_the_task_fields(dataset, split):
    for row in dataset.split(split):
        assert set(row) == {"id", "text", "label", "channel"}
        assert row["channel"] in ("email", "chat")
        assert row["label"] in INTENTS
        assert row["text"].strip() == row["text"] and row["text"]
        assert len(row["text"]) <= MAX_TEXT_CHARS


def test_ids_are_unique_across_splits(dataset):
    ids = [row["id"] for split in SPLITS for row in dataset.split(split)]
    assert len(ids) == len(set(ids))


def test_splits_share_no_normalised_text(dataset):
    keys = {split: {normalise(r["text"]) for r in dataset.split(split)} for split in SPLITS}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    # No duplicates inside a split either.
    for split in SPLITS:
        assert len(keys[split]) == len(dataset.split(split))


def test_unlabeled_text_contains_no_labelled_message(dataset):
    labelled = {normalise(r["text"]) for split in SPLITS for r in dataset.split(split)}
    assert not labelled & {normalise(t) for t in dataset.unlabeled}


def test_unlabeled_text_never_shows_the_prompt_format(dataset):
    assert not any("Intent:" in t or "Message:" in t for t in dataset.unlabeled)


def test_test_split_uses_fillers_unseen_in_train(dataset):
    # Held-out product names: some test message mentions a product no train message does.
    from fteval.demo.dataset import _FILLERS

    train_text = " ".join(r["text"].casefold() for r in dataset.train)
    test_text = " ".join(r["text"].casefold() for r in dataset.test)
    unseen = [p for p in _FILLERS["product"] if p not in train_text]
    assert unseen
    assert any(p in test_text for p in unseen)


def test_normalise_ignores_case_punctuation_and_spacing():
    assert normalise("  Where is my ORDER #123?! ") == normalise("where is my order 123")


def test_invalid_arguments_are_rejected_with_the_value():
    with pytest.raises(ValueError, match="n_test must be at least 5, got 2"):
        generate_dataset(0, n_test=2)
    with pytest.raises(ValueError, match="held_out_share"):
        generate_dataset(0, held_out_share=1.5)


def test_write_jsonl_round_trips(tmp_path: Path, dataset):
    path = tmp_path / "test.jsonl"
    write_jsonl(dataset.test, path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == list(dataset.test)
    assert [p.name for p in tmp_path.iterdir()] == ["test.jsonl"]


def test_each_split_has_its_own_held_out_templates():
    from fteval.demo.dataset import _split_templates

    templates = _split_templates(random.Random(0), per_split=2)
    for intent in INTENTS:
        train = set(templates["train"][intent])
        validation = set(templates["validation"][intent])
        test = set(templates["test"][intent])
        assert len(validation) == len(test) == 2
        assert not train & validation and not train & test and not validation & test


def test_channels_differ_in_length(dataset):
    for split in SPLITS:
        rows = dataset.split(split)
        email = [len(r["text"]) for r in rows if r["channel"] == "email"]
        chat = [len(r["text"]) for r in rows if r["channel"] == "chat"]
        assert len(email) > len(rows) / 3 and len(chat) > len(rows) / 3
        assert sum(email) / len(email) > 1.8 * sum(chat) / len(chat)

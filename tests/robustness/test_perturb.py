"""Perturbations: parsing, determinism, what each one changes and what it never changes."""

from __future__ import annotations

import random

import pytest

from fteval.errors import ConfigError
from fteval.robustness import parse_perturbation, parse_perturbations, perturbed_tasks
from fteval.robustness.perturb import KEYBOARD_NEIGHBOURS, casing, contraction, expansion, typo
from fteval.tasks import load_task
from tests.conftest import intent_rows, write_task


def test_defaults_fill_in_and_the_signature_names_every_option():
    spec = parse_perturbation("typo")
    assert spec.label == "typo" and spec.k == 1 and spec.seed == 0
    assert spec.signature() == "typo|ops:sub+del+ins+swap|rate:0.05|k:1|seed:0|v:1"
    custom = parse_perturbation("typo:rate=0.2,k=3,seed=7")
    assert custom.label == "typo:rate=0.2,k=3,seed=7" and custom.k == 3
    assert parse_perturbation("ood=/data/contrast.jsonl").label == "ood:contrast"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("typos", "unknown perturbation 'typos'"),
        ("typo:rat=0.1", "unknown option 'rat=0.1'"),
        ("typo:rate=1.5", "expected a rate in [0, 1]"),
        ("typo:ops=sub+oops", "members of"),
        ("contraction:k=2", "would be identical"),
        ("casing:mode=lower,k=2", "would be identical"),
        ("ood", "ood needs a file"),
        ("typo:rate=0.1,rate=0.2", "given twice"),
    ],
)
def test_bad_requests_are_config_errors_naming_the_request(text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_perturbation(text)


def test_two_perturbations_with_one_label_are_refused():
    with pytest.raises(ConfigError, match="same label"):
        parse_perturbations(["typo:rate=0.1", "typo:rate=0.1"])
    assert [s.label for s in parse_perturbations(["typo", "typo:rate=0.2"])] == [
        "typo",
        "typo:rate=0.2",
    ]


def test_typo_substitution_at_rate_one_replaces_every_letter_by_a_keyboard_neighbour():
    text = "Refund my Order now"
    out, edits = typo(text, random.Random(0), {"rate": 1.0, "ops": "sub"})
    assert len(out) == len(text) and len(edits) == sum(c.isalpha() for c in text)
    for before, after in zip(text, out):
        if before.isalpha():
            assert after.lower() in KEYBOARD_NEIGHBOURS[before.lower()]
            assert after.isupper() == before.isupper()
        else:
            assert after == before


def test_typo_is_seeded_and_rate_zero_changes_nothing():
    options = {"rate": 0.3, "ops": "sub+del+ins+swap"}
    first = typo("please cancel my subscription today", random.Random(5), options)
    assert first == typo("please cancel my subscription today", random.Random(5), options)
    assert first[0] != "please cancel my subscription today"
    assert typo("unchanged", random.Random(1), {"rate": 0.0, "ops": "sub"})[0] == "unchanged"


def test_contraction_and_expansion_keep_case_and_skip_ambiguous_forms():
    assert contraction("I do not know what it is. It is fine", None, {})[0] == (
        "I don't know what it is. It's fine"
    )
    assert expansion("I'm sure it's fine, but we can't. He'd go; John's car", None, {})[0] == (
        "I am sure it is fine, but we cannot. He'd go; John's car"
    )
    assert expansion("It's been long; DON'T", None, {})[0] == "It has been long; DO NOT"


def test_casing_modes():
    assert casing("Hello World", None, {"mode": "lower", "rate": 0.2})[0] == "hello world"
    assert casing("Hello World", None, {"mode": "upper", "rate": 0.2})[0] == "HELLO WORLD"
    shouted, edits = casing("a b c d e f", random.Random(0), {"mode": "random", "rate": 1.0})
    assert shouted.lower() == "a b c d e f" and len(edits) == 6


def test_only_the_item_input_changes_never_the_template_fewshot_target_or_choices(tmp_path):
    rows = intent_rows(12)
    path = write_task(tmp_path, rows, fewshot={"split": "test", "n": 2}, data="data.jsonl")
    task = load_task(str(path))
    specs = parse_perturbations(["typo:rate=1.0,ops=sub", "casing:mode=upper"])
    for spec, variant in zip(specs, perturbed_tasks(task, specs)):
        assert variant.name == f"intents~{spec.label}"
        for clean, perturbed in zip(task.examples, variant.examples):
            ((start, end),) = clean.input_spans
            ((new_start, new_end),) = perturbed.input_spans
            assert perturbed.prompt[:new_start] == clean.prompt[:start]  # few-shot + "Message: "
            assert perturbed.prompt[new_end:] == clean.prompt[end:]  # "\nIntent:"
            assert perturbed.prompt[new_start:new_end] != clean.prompt[start:end]
            assert (perturbed.target, perturbed.choices, perturbed.continuations) == (
                clean.target,
                clean.choices,
                clean.continuations,
            )
            assert perturbed.meta["parent_id"] == clean.example_id
            assert perturbed.meta["perturbation"] == spec.label


def test_k_variants_get_their_own_ids_and_differ(tmp_path):
    task = load_task(str(write_task(tmp_path, intent_rows(6))))
    (variant,) = perturbed_tasks(task, parse_perturbations(["typo:rate=0.5,k=3"]))
    assert [e.example_id for e in variant.examples[:3]] == ["r0#0", "r0#1", "r0#2"]
    assert len({e.prompt for e in variant.examples[:3]}) == 3
    again = perturbed_tasks(task, parse_perturbations(["typo:rate=0.5,k=3"]))[0]
    assert [e.prompt for e in again.examples] == [e.prompt for e in variant.examples]


def test_long_fills_up_to_the_target_and_refuses_a_target_beyond_the_window(tmp_path):
    task = load_task(str(write_task(tmp_path, intent_rows(3))))
    (variant,) = perturbed_tasks(task, parse_perturbations(["long:tokens=60"]))
    for clean, long in zip(task.examples, variant.examples):
        tokens = dict(long.meta["edits"])["prompt_tokens"]
        assert 60 - 25 < tokens <= 60 and len(long.prompt) > len(clean.prompt)
        assert long.prompt.endswith(clean.prompt[clean.input_spans[0][0] :])
    with pytest.raises(ConfigError, match="does not fit the context window of 50 tokens"):
        perturbed_tasks(task, parse_perturbations(["long:tokens=60"]), context_window=50)


def test_an_ood_file_in_the_task_format_pairs_by_id(tmp_path):
    task = load_task(str(write_task(tmp_path, intent_rows(6))))
    ood = tmp_path / "ood.jsonl"
    ood.write_text(
        '{"id": "r0", "text": "cant get into my acct", "label": "login"}\n'
        '{"id": "r1", "text": "double charge on my card", "label": "billing"}\n',
        encoding="utf-8",
    )
    (variant,) = perturbed_tasks(task, parse_perturbations([f"ood={ood}"]))
    assert [e.meta["parent_id"] for e in variant.examples] == ["r0", "r1"]
    assert variant.examples[0].prompt == "Message: cant get into my acct\nIntent:"
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "x9", "text": "hello", "label": "refund"}\n', encoding="utf-8")
    (unpaired,) = perturbed_tasks(task, parse_perturbations([f"ood={other}"]))
    assert unpaired.examples[0].meta["parent_id"] is None


def test_preview_shows_clean_and_perturbed_prompts_of_the_first_items(tmp_path):
    from fteval.robustness import preview

    task = load_task(str(write_task(tmp_path, intent_rows(6))))
    rows = preview(task, parse_perturbations(["typo:rate=0.5", "casing:mode=upper"]), n=2)
    assert [(r["id"], r["perturbation"]) for r in rows] == [
        ("r0", "typo:rate=0.5"), ("r1", "typo:rate=0.5"),
        ("r0", "casing:mode=upper"), ("r1", "casing:mode=upper"),
    ]  # fmt: skip
    assert rows[2]["prompt"] == task.examples[0].prompt
    assert rows[2]["perturbed"] == "Message: I CANNOT SIGN IN TO MY ACCOUNT #0\nIntent:"


def test_whitespace_and_punctuation_noise_keep_the_letters():
    from fteval.robustness.perturb import punctuation, whitespace

    text = "Hello, my order 12.50 has not arrived! Where is it?"
    spaced, _ = whitespace(text, random.Random(1), {"rate": 0.5})
    assert spaced.replace(" ", "") == text.replace(" ", "") and spaced != text
    marked, edits = punctuation(text, random.Random(2), {"rate": 0.6})
    assert [c for c in marked if c.isalnum()] == [c for c in text if c.isalnum()]
    assert "12.50" in marked and edits

"""What the probe concludes from a server's replies: echoed log-probabilities checked
against generated ones, and prompt token counts against the local tokenizer's."""

from __future__ import annotations

import math

import pytest

from fteval.backends.openai_checks import (
    TOLERANCE_NATS,
    check_echo,
    comparable,
    compare_counts,
    compare_id_count,
    count_echoed,
)
from fteval.backends.openai_protocol import TokenLogprobs, read_logprobs
from tests.backends.openai_stub import BigramModel, logprob_lists, scored_positions, to_ids

PROMPT = "The capital of France is"


def lists(ids, scored, n_top=1) -> TokenLogprobs:
    """The logprobs lists a server writes for ``ids`` scored as ``scored``, read back."""
    choice = {"text": "", "logprobs": logprob_lists(ids, scored, n_top)}
    read = read_logprobs({"choices": [choice]}, what="test")
    assert read is not None
    return read


def served(model: BigramModel, *, shift: bool = False, n: int = 4):
    """(echo of prompt + greedy tokens, the plain generation, index of the first one)."""
    prompt = to_ids(PROMPT)
    greedy: list[int] = []
    for _ in range(n):
        row = model.next_logprobs(prompt + greedy)
        greedy.append(max(range(len(row)), key=row.__getitem__))
    whole = prompt + greedy
    generated = lists(greedy, scored_positions(model, whole)[len(prompt) :], n_top=5)
    echo = scored_positions(model, whole, shift=shift)
    return lists(whole, echo), generated, len(prompt)


def test_a_correct_echo_agrees_with_generation_on_every_generated_token():
    echo, generated, start = served(BigramModel("m"))
    check = check_echo(echo, start=start, generated=generated)
    assert (check.status, check.compared, check.refused) == ("ok", 4, False)
    assert check.max_difference == pytest.approx(0.0, abs=1e-12)


def test_a_shifted_echo_is_named_shifted_by_one_token():
    echo, generated, start = served(BigramModel("m"), shift=True)
    check = check_echo(echo, start=start, generated=generated)
    assert check.status == "failed" and check.refused
    assert "look shifted by one token" in check.detail
    assert "when generated and" in check.detail
    assert check.max_difference > TOLERANCE_NATS


def test_an_echo_that_disagrees_otherwise_is_refused_without_naming_a_shift():
    echo, generated, start = served(BigramModel("m"))
    other, _, _ = served(BigramModel("another model"))
    # the same tokens, another model's values and top alternatives
    mixed = TokenLogprobs(echo.tokens, echo.logprobs[:start] + other.logprobs[start:], echo.top)
    check = check_echo(mixed, start=start, generated=generated)
    assert check.status == "failed"
    assert "disagree with the generated ones" in check.detail


def test_differences_within_the_tolerance_of_16_bit_servers_pass():
    echo, generated, start = served(BigramModel("m"))
    nudged = TokenLogprobs(
        echo.tokens,
        tuple(v if v is None or i < start else v - 0.8 * TOLERANCE_NATS
              for i, v in enumerate(echo.logprobs)),
        echo.top,
    )  # fmt: skip
    assert check_echo(nudged, start=start, generated=generated).status == "ok"


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (5, 0.5, "> 0, which no probability has"),
        (5, math.nan, "has log-probability nan"),
        (5, -math.inf, "has log-probability -inf"),
        (5, None, "has no log-probability"),
        (0, -2.0, "although no token precedes it"),
    ],
)
def test_echoed_values_that_are_not_log_probabilities_are_refused(index, value, message):
    echo, generated, start = served(BigramModel("m"))
    values = list(echo.logprobs)
    values[index] = value
    bad = TokenLogprobs(echo.tokens, tuple(values), echo.top)
    check = check_echo(bad, start=start, generated=generated)
    assert check.status == "failed"
    assert message in check.detail


def test_a_first_token_value_is_accepted_when_the_server_counts_a_token_it_does_not_echo():
    echo, generated, start = served(BigramModel("m"))
    with_value = TokenLogprobs(echo.tokens, (-3.0, *echo.logprobs[1:]), echo.top)
    check = check_echo(with_value, start=start, generated=generated, hidden_tokens=1)
    assert check.status == "ok"


def test_nothing_to_compare_leaves_the_echo_unchecked_not_refused():
    echo, generated, start = served(BigramModel("m"))
    for kwargs in (
        {"start": start, "generated": None},
        {"start": None, "generated": generated},
        {"start": start, "generated": TokenLogprobs(("\ufffd",), (-1.0,), (None,))},
        {"start": start + 1, "generated": generated},  # lined up with the wrong tokens
    ):
        check = check_echo(echo, **kwargs)
        assert check.status == "unchecked" and not check.refused, kwargs


def test_counts_agreeing_with_the_tokenizer_without_special_tokens_are_the_same():
    verdict = compare_counts(5, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 9], list("abcdeZ"))
    assert verdict.verdict == "same" and verdict.added == ()


def test_an_eos_the_tokenizer_appends_is_found_after_the_text():
    verdict = compare_counts(6, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 9], [*"abcde", "</s>"])
    assert verdict.verdict == "appends" and verdict.added == ("</s>",)
    assert "after every text prompt" in verdict.detail


def test_a_bos_the_tokenizer_puts_first_is_noted_not_refused():
    verdict = compare_counts(6, [1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], ["<s>", *"abcde"])
    assert verdict.verdict == "adds_bos" and verdict.added == ("<s>",)


def test_an_echo_decides_where_the_added_token_is():
    plain, special, names = [1, 2, 3], [1, 2, 3, 9], ["a", "b", "c", "</s>"]
    before = compare_counts(4, plain, special, names, echoed=(("</s>",), ("x",)))
    hidden = compare_counts(4, plain, special, names, echoed=((), ("x",)))
    after = compare_counts(4, plain, special, names, echoed=((), ("</s>", "x")))
    unexplained = compare_counts(4, plain, special, names, echoed=(("<s>", "<s>"), ()))
    assert before.verdict == "adds_bos" and before.added == ("</s>",)
    assert hidden.verdict == "adds_bos"  # llama.cpp: a BOS counted, not echoed
    assert after.verdict == "appends" and after.added == ("</s>",)
    assert unexplained.verdict == "differs"  # two shown before, one added


def test_counts_no_special_token_explains_differ_and_missing_counts_are_unknown():
    assert compare_counts(9, [1, 2, 3], [1, 2, 3], list("abc")).verdict == "differs"
    assert compare_counts(2, [1, 2, 3], [0, 1, 2, 3], list("xabc")).verdict == "differs"
    assert compare_counts(None, [1, 2, 3], [1, 2, 3], list("abc")).verdict == "unknown"


def test_token_id_prompts_must_be_counted_as_sent():
    assert compare_id_count(12, 12) is None
    assert compare_id_count(None, 12) is None
    assert "adds tokens" in (compare_id_count(13, 12) or "")
    assert "drops tokens" in (compare_id_count(11, 12) or "")


def test_echoed_prompt_tokens_must_be_one_per_prompt_token():
    # vLLM: prompt and generated tokens listed; llama-cpp-python: the BOS not echoed
    assert count_echoed(11, sent=None, counted=10, generated=1) == (10, None)
    assert count_echoed(10, sent=None, counted=10, generated=1) == (9, None)
    # a llama-server build listing only the generated token
    echoed, problem = count_echoed(1, sent=None, counted=10, generated=1)
    assert echoed == 0 and "not one per token" in (problem or "")
    assert count_echoed(12, sent=12, counted=12, generated=1) == (12, None)
    assert "for 12 token ids" in (count_echoed(3, sent=12, counted=12, generated=1)[1] or "")
    assert count_echoed(7, sent=None, counted=None, generated=None) == (7, None)


def test_the_tokens_compared_are_whole_greedy_ones_else_the_best_whole_alternative():
    tokens = ("a", "b", "\ufffd", "c")
    values = (-1.0, -2.0, -3.0, -4.0)
    alternatives = ((("\ufffd", -0.5), ("x", -1.5), ("y", -2.5)),) * 4
    generated = TokenLogprobs(tokens, values, (None,) * 4, alternatives)
    assert comparable(generated, lambda token: True).tokens == ("a", "b")
    assert comparable(generated, lambda token: token != "b").tokens == ("a",)
    fallback = comparable(generated, lambda token: token not in "ab")
    assert (fallback.tokens, fallback.logprobs) == (("x",), (-1.5,))
    assert comparable(generated, lambda token: False) is None
    # an alternative repeating the prompt's end is taken only when nothing else is
    repeat = comparable(generated, lambda token: token not in "ab", prompt_end="... x")
    assert repeat.tokens == ("y",)
    only = comparable(generated, lambda token: token == "x", prompt_end="... x")
    assert only.tokens == ("x",)
    # greedy tokens stop at a repeat of the one before (the prompt's end for the first)
    repeating = TokenLogprobs(("a", "a", "b"), (-1.0,) * 3, (None,) * 3, alternatives[:3])
    assert comparable(repeating, lambda token: True).tokens == ("a",)
    assert comparable(repeating, lambda token: True, prompt_end="a").tokens == ("x",)
    assert comparable(None, lambda token: True) is None

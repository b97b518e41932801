"""What the probe of an OpenAI-compatible server proves, before anything is scored.

Pure functions over replies already read (``openai_protocol``); the requests are made by
``OpenAIBackend``. Two checks, each with a verdict and a sentence saying what was seen.

**Echoed log-probabilities** (``check_echo``). Log-likelihoods are sums of the
log-probabilities a server echoes for the tokens of a prompt, so a server that echoes
wrong values gives wrong scores and no error at all. One such server is known:
llama-cpp-python's echoes, for each token, the log-probability of that token under the
distribution computed *at* its position (which predicts the next token) instead of the
one before it: every value is shifted by one position. The probe catches any such
server. It first decodes a few tokens greedily after a probe prompt with their
log-probabilities (plain generation, the path every server gets right, since it is what
sampling uses), then echoes the prompt followed by those tokens. A causal model gives a
token the same log-probability both ways, so each generated token's echoed value must
equal its generated value within ``tolerance_nats`` (servers in 16-bit compute the prompt
and the decoding steps with different kernels; a shifted value differs by nats). When the
greedy token is part of a character (a byte-level model), which names no token in text,
the most likely whole one among the alternatives the server listed is used instead
(``comparable``). When the
echo's top-1 alternative at each compared position is the token generated *after* it,
the message says the values are shifted by one token. Also checked on every echoed
token: a value that is finite and at most 0 (a log-probability), and none for the first
token, which has nothing before it, unless the server counts a prompt token it does not
echo (a BOS that llama.cpp adds).

**Tokenization parity** (``compare_counts``, ``compare_id_count``). With the model's
tokenizer given (``--tokenizer``), the server's ``usage.prompt_tokens`` for the probe is
compared with the local count. A server that adds tokens to a text prompt does what the
tokenizer does with ``add_special_tokens=True``; a BOS before the text is common (Llama)
and only noted, but an EOS *after* it (``transformers serve`` with a ByT5 tokenizer) ends
every prompt: a generation then starts after an end of text (it comes out empty) and
every continuation is scored after it. Token-id prompts must be counted as sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from fteval.backends.openai_protocol import TokenLogprobs

TOLERANCE_NATS = 0.05  # |echoed - generated| allowed, plus RELATIVE_TOLERANCE x |generated|
RELATIVE_TOLERANCE = 0.01
POSITIVE_SLACK = 1e-4  # a log-probability above this (in nats) is not one, rounding aside
REPLACEMENT = "\ufffd"  # how servers show a token that is part of a UTF-8 character

EchoStatus = Literal["ok", "failed", "unsupported", "unchecked"]


@dataclass(frozen=True)
class EchoCheck:
    """The verdict on a server's echoed log-probabilities.

    Attributes:
        status: ``ok`` (they agree with generation), ``failed`` (wrong: refused for
            log-likelihood), ``unsupported`` (no echoed log-probabilities: refused for
            log-likelihood), ``unchecked`` (echoed, but nothing to compare them with).
        detail: what was seen, one sentence (numbers rounded to 0.01 nats).
        compared: generated tokens whose two log-probabilities were compared.
        max_difference: the largest |echoed - generated| in nats, None when none compared.
    """

    status: EchoStatus
    detail: str
    compared: int = 0
    max_difference: float | None = None

    @property
    def refused(self) -> bool:
        """Whether log-likelihood requests must not be sent to this server."""
        return self.status in ("failed", "unsupported")


def check_echo(
    echo: TokenLogprobs,
    *,
    start: int | None,
    generated: TokenLogprobs | None,
    hidden_tokens: int = 0,
    tolerance_nats: float = TOLERANCE_NATS,
    missing: str = "the server gives no log-probabilities for generated tokens",
) -> EchoCheck:
    """Whether an echo of (probe prompt + generated tokens) is trustworthy.

    Args:
        echo: the echo reply's lists: the prompt's tokens, the generated tokens appended
            to it, and whatever the server generated after them.
        start: index in ``echo`` of the first appended generated token (None: the echo
            could not be lined up with the prompt).
        generated: the plain generation's tokens and log-probabilities (None: the server
            gave none).
        hidden_tokens: prompt tokens the server counts but does not echo (>= 0).
        tolerance_nats: the absolute part of the tolerance (see the module docstring).
        missing: why there is nothing to compare when ``generated`` is empty.

    Returns:
        The verdict; ``failed`` names the first problem seen.
    """
    end = len(echo.tokens) if start is None else min(len(echo.tokens), start + _n(generated))
    problem = _value_problem(echo, end, hidden_tokens)
    if problem is not None:
        return EchoCheck("failed", problem)
    if generated is None or not generated.tokens or start is None:
        why = (
            missing
            if generated is None or not generated.tokens
            else "the echo could not be lined up with the probe prompt"
        )
        return EchoCheck("unchecked", f"{why}: echoed values were not compared with generation")
    pairs = _aligned(echo, start, generated)
    if not pairs:
        return EchoCheck(
            "unchecked",
            f"the server tokenized the generated text differently when echoed ("
            f"{_tokens(generated.tokens[:3])} generated, {_tokens(echo.tokens[start : start + 3])}"
            " echoed): echoed values were not compared with generation",
        )
    differences = [abs(e - g) for _, e, g in pairs]
    excess = [d - _allowed(g, tolerance_nats) for d, (_, _, g) in zip(differences, pairs)]
    worst = max(range(len(pairs)), key=excess.__getitem__)
    index, echoed, made = pairs[worst]
    if excess[worst] <= 0:
        return EchoCheck(
            "ok",
            f"{len(pairs)} generated token(s) have the same log-probability echoed as generated",
            len(pairs),
            max(differences),
        )
    shifted = _looks_shifted(echo, start, generated, len(pairs))
    lead = (
        "echoed log-probabilities look shifted by one token (each echoed token's value and "
        "top alternative are those of the position after it)"
        if shifted
        else "echoed log-probabilities disagree with the generated ones"
    )
    return EchoCheck(
        "failed",
        f"{lead}: the generated token {echo.tokens[index]!r} has log-probability {made:.2f} "
        f"when generated and {echoed:.2f} when echoed after the same prompt",
        len(pairs),
        max(differences),
    )


def comparable(
    generated: TokenLogprobs | None, usable: Callable[[str], bool], *, prompt_end: str = ""
) -> TokenLogprobs | None:
    """The tokens the probe appends to its prompt, echoes and compares.

    Only a token that tells a shift apart will do: a whole one (a part of a character
    shows as U+FFFD and names no token; with token ids, it must be ``usable``: one local
    token), and not a repeat of the token before it, which a model that looks mostly at
    the last token gives nearly the same value shifted or not (tiny models repeat).

    Returns:
        The greedy tokens up to the first that will not do; when the first will not, the
        most likely alternative at the first position that will (a repeat as a last
        resort), with its generated log-probability; None when there is none.
    """
    if generated is None or not generated.tokens:
        return None
    n, before = 0, prompt_end
    while n < len(generated.tokens) and generated.logprobs[n] is not None:
        token = generated.tokens[n]
        if not _whole(token, usable) or _repeats(before, token):
            break
        n, before = n + 1, token
    if n:
        return TokenLogprobs(
            generated.tokens[:n], generated.logprobs[:n], generated.top[:n],
            generated.alternatives[:n],
        )  # fmt: skip
    first = generated.alternatives[0] if generated.alternatives else ()
    candidates = [(t, v) for t, v in first if _whole(t, usable)]
    candidates.sort(key=lambda pair: _repeats(prompt_end, pair[0]))  # stable: likely first
    if not candidates:
        return None
    token, value = candidates[0]
    return TokenLogprobs((token,), (value,), generated.top[:1], (first,))


def _whole(token: str, usable: Callable[[str], bool]) -> bool:
    return bool(token) and REPLACEMENT not in token and usable(token)


def _repeats(before: str, token: str) -> bool:
    return bool(before) and before.endswith(token)


def count_echoed(
    listed: int,
    *,
    sent: int | None,
    counted: int | None,
    generated: int | None,
    spelled: int | None = None,
) -> tuple[int, str | None]:
    """Echoed prompt tokens in an echo reply, and a problem when they are not one per token.

    Args:
        listed: entries in the reply's logprobs lists (prompt and generated tokens).
        sent: token ids sent (None: a text prompt).
        counted: the server's ``usage.prompt_tokens`` (None: not reported).
        generated: its ``usage.completion_tokens`` (None: not reported).
        spelled: for text, the number of leading tokens that spell the prompt (None: they
            do not, or it was not tried).

    Returns:
        The number of echoed prompt tokens (for token ids: those sent) and None, or a
        sentence saying what does not add up (a server that lists only the generated
        tokens, as some llama.cpp builds do with ``echo``).
    """
    if sent is not None:
        if listed < sent:
            return sent, f"the server echoes {listed} log-probabilities for {sent} token ids"
        return sent, None
    if spelled is not None:
        echoed = spelled
    elif generated is None or not 0 <= generated <= listed:
        return listed, None  # nothing to tell the prompt's part by
    else:
        echoed = listed - generated
    if counted is not None and echoed not in (counted, counted - 1):
        return echoed, (
            f"the server echoes {echoed} prompt log-probabilities for a prompt it counts as "
            f"{counted} tokens: not one per token"
        )
    return echoed, None


def _n(generated: TokenLogprobs | None) -> int:
    return 0 if generated is None else len(generated.tokens)


def _allowed(generated: float, tolerance_nats: float) -> float:
    return tolerance_nats + RELATIVE_TOLERANCE * abs(generated)


def _value_problem(echo: TokenLogprobs, end: int, hidden_tokens: int) -> str | None:
    """Non-numbers, positive values, a first token with a value or a later one without."""
    for index in range(end):
        value = echo.logprobs[index]
        token = echo.tokens[index]
        if value is None:
            if index > 0:
                return f"the echoed token {index} ({token!r}) has no log-probability"
            continue
        if not math.isfinite(value):
            return f"the echoed token {index} ({token!r}) has log-probability {value}"
        if value > POSITIVE_SLACK:
            return (
                f"the echoed token {index} ({token!r}) has log-probability {value:.3g} > 0, "
                "which no probability has"
            )
    first = echo.logprobs[0] if echo.logprobs else None
    if first is not None and hidden_tokens == 0:
        return (
            f"the first echoed token ({echo.tokens[0]!r}) has log-probability {first:.2f} "
            "although no token precedes it: echoed log-probabilities look shifted by one token"
        )
    return None


def _aligned(
    echo: TokenLogprobs, start: int, generated: TokenLogprobs
) -> list[tuple[int, float, float]]:
    """(echo index, echoed value, generated value) while the two token lists agree."""
    pairs = []
    for offset, (token, made) in enumerate(zip(generated.tokens, generated.logprobs)):
        index = start + offset
        if REPLACEMENT in token or index >= len(echo.tokens) or echo.tokens[index] != token:
            break  # a part of a character is shown as U+FFFD: it does not name its token
        echoed = echo.logprobs[index]
        if made is None or echoed is None:
            break
        pairs.append((index, echoed, made))
    return pairs


def _looks_shifted(
    echo: TokenLogprobs, start: int, generated: TokenLogprobs, compared: int
) -> bool:
    """The echo's top-1 at each compared position is the token generated after it."""
    following = [
        (echo.top[start + i], generated.tokens[i + 1], generated.logprobs[i + 1])
        for i in range(min(compared, len(generated.tokens) - 1))
    ]
    return bool(following) and all(
        top is not None and top[0] == token and value is not None
        and abs(top[1] - value) <= _allowed(value, TOLERANCE_NATS)
        for top, token, value in following
    )  # fmt: skip


def _tokens(tokens: Sequence[str]) -> str:
    return "[" + ", ".join(repr(t) for t in tokens) + "]"


TokenizationVerdict = Literal["same", "adds_bos", "appends", "differs", "unknown"]


@dataclass(frozen=True)
class Tokenization:
    """How the server counts the probe's prompt tokens against the local tokenizer.

    Attributes:
        verdict: ``same``; ``adds_bos`` (special tokens before the text, as the
            tokenizer's own policy puts them: noted); ``appends`` (special tokens after the
            text: refused); ``differs`` (a count no special tokens explain); ``unknown``
            (the server reports no count).
        local: the local tokenizer's count without special tokens.
        server: the server's ``usage.prompt_tokens``, None when not reported.
        added: the special tokens the server adds (as text), before then after.
        detail: one sentence for the log and the run facts.
    """

    verdict: TokenizationVerdict
    local: int
    server: int | None
    added: tuple[str, ...]
    detail: str


def compare_counts(
    server: int | None,
    plain: Sequence[int],
    special: Sequence[int],
    names: Sequence[str],
    *,
    echoed: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Tokenization:
    """The server's count of a text prompt against the local tokenizer's.

    Where the server puts the tokens it adds is read from its echo of the prompt when
    there is one; without an echo, the tokenizer's own policy (``special``) is taken to be
    the server's when the counts fit it.

    Args:
        server: ``usage.prompt_tokens`` of the probe (None: not reported).
        plain: the probe's ids without special tokens.
        special: the probe's ids with the tokenizer's special tokens
            (``add_special_tokens=True``).
        names: the text of each id of ``special``.
        echoed: from the server's echo of the probe (None: no echo): the tokens it shows
            before the text and those right after the prompt; tokens it counts but shows
            in neither place are taken to be a BOS it does not echo (llama.cpp's).
    """
    local = len(plain)
    if server is None:
        return Tokenization(
            "unknown", local, None, (),
            "the server reports no usage.prompt_tokens: its tokenization was not compared",
        )  # fmt: skip
    if server == local:
        return Tokenization(
            "same", local, server, (), f"the server counts the probe's {local} tokens as here"
        )
    where = _where_added(server - local, plain, special, names, echoed)
    if where is None:
        return Tokenization(
            "differs", local, server, (),
            f"the server counts {server} tokens in the probe where the local tokenizer counts "
            f"{local} ({len(special)} with its special tokens): --tokenizer may not be the "
            "served model's tokenizer",
        )  # fmt: skip
    before, after = where
    counts = f"(the probe: {server} tokens, {local} without special tokens)"
    if after:
        return Tokenization(
            "appends", local, server, (*before, *after),
            f"the server puts {list(after)} after every text prompt {counts}: every prompt "
            "ends with an end-of-text token, so generations continue after it (they come out "
            "empty or off-topic) and continuations are scored after it",
        )  # fmt: skip
    return Tokenization(
        "adds_bos", local, server, tuple(before),
        f"the server puts {list(before)} before every text prompt {counts}; local backends "
        "follow lm-evaluation-harness (no BOS for causal LMs but Gemma), so scores may differ "
        "slightly from a local run",
    )  # fmt: skip


def _where_added(
    extra: int,
    plain: Sequence[int],
    special: Sequence[int],
    names: Sequence[str],
    echoed: tuple[Sequence[str], Sequence[str]] | None,
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(tokens added before, tokens added after) the text; None when unexplained."""
    n_before, n_after = _around(plain, special)
    appended = tuple(names[len(special) - n_after :]) if n_after else ()
    if echoed is None:  # no echo: the tokenizer's own policy, if the counts fit it
        if len(special) - len(plain) != extra or not (n_before or n_after):
            return None
        return tuple(names[:n_before]), appended
    shown_before, shown_after = echoed
    after = appended if appended and tuple(shown_after[: len(appended)]) == appended else ()
    hidden = extra - len(shown_before) - len(after)  # counted, not echoed: a BOS
    if hidden < 0:
        return None
    return ("(not echoed)",) * hidden + tuple(shown_before), after


def compare_id_count(server: int | None, sent: int) -> str | None:
    """A problem when the server counts a token-id prompt otherwise than sent, else None."""
    if server is None or server == sent:
        return None
    return (
        f"the server counts {server} prompt tokens for the {sent} token ids sent: it "
        f"{'adds' if server > sent else 'drops'} tokens to prompts given as token ids, so "
        "echoed log-probabilities cannot be matched to the tokens sent"
    )


def _around(plain: Sequence[int], special: Sequence[int]) -> tuple[int, int]:
    """(tokens before, tokens after) ``plain`` inside ``special``; (0, 0) when not inside."""
    n = len(plain)
    for before in range(len(special) - n + 1):
        if list(special[before : before + n]) == list(plain):
            return before, len(special) - n - before
    return 0, 0


__all__ = [
    "EchoCheck",
    "Tokenization",
    "check_echo",
    "comparable",
    "compare_counts",
    "compare_id_count",
    "count_echoed",
]

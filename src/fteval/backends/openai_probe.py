"""The probe of one served model before any work: what its server can be trusted with.

``ServerProbe(...).run()`` makes a few small requests (``openai_checks`` judges the
replies; ``OpenAIBackend`` runs one probe per arm, before the run directory is written):

1. a greedy generation of ``PROBE_NEW_TOKENS`` tokens after ``PROBE_TEXT`` (text), with
   their log-probabilities. A server that refuses ``logprobs`` there is asked again
   without; one without ``/v1/completions`` at all (404, 405, 501: a chat-only API) is
   recorded as such, and its chat tasks can still run;
2. with a local tokenizer, the same as token ids (the prefix token first, as scoring
   sends them). A server that refuses token-id prompts (``transformers serve``: 400;
   others answer 5xx, so one retry only) is sent text; one that counts them otherwise
   than sent is refused;
3. an echo of the prompt followed by the generated tokens (token ids, or their text; up
   to the first part of a character, or else the most likely whole alternative at the
   first position: ``openai_checks.comparable``), which gives the echo verdict, the
   fingerprint of the probe text's echoed log-probabilities (the response cache's key)
   and, for text, where the server put tokens it adds;
4. with a local tokenizer, the server's count of the probe text against the local one; a
   server that puts an end-of-text token after every text prompt it is sent is refused.

Errors that say nothing about what the server can do (401, 403, 408, 429, no reply) are
raised as they are; a model the server does not list and refuses, or request options it
refuses (400, 422), are ``ConfigError`` naming them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fteval.backends.http import HttpError
from fteval.backends.openai_checks import (
    EchoCheck,
    Tokenization,
    check_echo,
    comparable,
    compare_counts,
    compare_id_count,
    count_echoed,
)
from fteval.backends.openai_protocol import (
    TokenLogprobs,
    echo_payload,
    greedy_logprobs_payload,
    read_generation,
    read_logprobs,
    shown,
    spelled_span,
    usage_count,
)
from fteval.errors import BackendError, ConfigError, FtevalError

logger = logging.getLogger(__name__)

PROBE_TEXT = "The quick brown fox jumps over the lazy dog. The capital of France is"
PROBE_NEW_TOKENS = 4  # tokens generated greedily, then compared when echoed
FINGERPRINT_DECIMALS = 2  # probe logprobs are rounded to this many decimals (nats)
NOT_A_CAPABILITY = frozenset({401, 403, 408, 429})  # refusals about us, or "later"

# A poster: (path, payload, max_retries or None for the policy's) -> the decoded reply
Post = Callable[[str, dict[str, Any], int | None], Any]


@dataclass(frozen=True)
class EchoedProbe:
    """The probe text's echo: tokens and log-probabilities, or why there is none."""

    tokens: tuple[str, ...] = ()
    logprobs: tuple[float | None, ...] = ()
    unsupported: str | None = None

    def fingerprint(self) -> str | None:
        """sha256 of the tokens and log-probabilities (to 0.01 nats); None without them."""
        if self.unsupported is not None or not self.tokens:
            return None
        rounded = [None if v is None else f"{v:.{FINGERPRINT_DECIMALS}f}" for v in self.logprobs]
        text = json.dumps([list(self.tokens), rounded], separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ProbeResult:
    """What the probe found about one served model.

    Attributes:
        token_ids: prompts go as token ids (a local tokenizer and a server taking them).
        echo: the verdict on its echoed log-probabilities.
        tokenization: parity with the local tokenizer (None: no tokenizer given).
        echoed: the probe text's echo (the fingerprint's source).
    """

    token_ids: bool
    echo: EchoCheck
    tokenization: Tokenization | None
    echoed: EchoedProbe


@dataclass(frozen=True)
class _Greedy:
    """A greedy generation: text, the generated tokens' log-probabilities (None: none
    given), the server's prompt count, and whether logprobs were asked for."""

    text: str
    logprobs: TokenLogprobs | None
    prompt_tokens: int | None
    asked_logprobs: bool


# from a text echo: the tokens shown before the text, and those right after the prompt
# (see openai_checks.compare_counts)
_Layout = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class _Echo:
    check: EchoCheck
    echoed: EchoedProbe
    layout: _Layout | None = None


class _NoCompletions(FtevalError):
    """The server has no ``/v1/completions`` (404, 405, 501): a chat-only API."""


class ServerProbe:
    """The probe of one served model; see the module docstring.

    Args:
        where: the arm in words, for messages (``arm 'base' (NAME at URL)``).
        model: the served model's name.
        post: sends a request to the arm's server (see ``Post``).
        listed: the server's ``/v1/models`` entries (None: it lists none).
        options: the request options, sent with every request.
        tokenizer: the local tokenizer (None: none given).
        prefix_token: the token put before an id prompt (BOS, else EOS; None: none).
        max_length: the context window in tokens (None: unknown).
    """

    def __init__(
        self,
        *,
        where: str,
        model: str,
        post: Post,
        listed: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        tokenizer: Any = None,
        prefix_token: int | None = None,
        max_length: int | None = None,
    ) -> None:
        self.where = where
        self.model = model
        self.post = post
        self.listed = listed
        self.options = options
        self.tokenizer = tokenizer
        self.prefix_token = prefix_token
        self.max_length = max_length

    def run(self) -> ProbeResult:
        """Probe the server (module docstring).

        Raises:
            BackendError: a server that changes token-id prompts, or puts an end-of-text
                token after every text prompt it is sent; ConfigError: a model it does
                not serve, request options it refuses; HttpError: a server that is down
                or refuses us.
        """
        text = self._text()
        try:
            by_text = self._greedy(text)
        except _NoCompletions as refused:
            detail = f"the server does not serve /v1/completions: {refused}"
            logger.warning("%s: %s", self.where, detail)
            return ProbeResult(
                False, EchoCheck("unsupported", detail), None, EchoedProbe(unsupported=detail)
            )
        ids = self._ids(text) if self.tokenizer is not None else None
        by_ids = self._greedy_ids(ids, by_text) if ids is not None else None
        if ids is not None and by_ids is not None:
            problem = compare_id_count(by_ids.prompt_tokens, len(ids))
            if problem is not None:
                raise BackendError(f"{self.where}: {problem}")
        else:
            ids = None
        echo = self._echo(text, by_ids or by_text, ids)
        tokenization = None
        if self.tokenizer is not None:
            tokenization = self._tokenization(text, by_text, echo.layout)
            if ids is None and tokenization.verdict == "appends":
                raise BackendError(
                    f"{self.where}: {tokenization.detail}. Serve the model with a tokenizer "
                    "that adds no end-of-text token to prompts, or from a server that takes "
                    "token-id prompts"
                )
        log = logger.debug if echo.check.status == "ok" else logger.warning
        log("%s: echoed log-probabilities %s: %s", self.where, echo.check.status, echo.check.detail)
        return ProbeResult(ids is not None, echo.check, tokenization, echo.echoed)

    # ---- prompts ----

    def _text(self) -> str:
        """The probe text, its end kept, short enough for a small context window."""
        limit = self.max_length
        room = None if limit is None else limit - PROBE_NEW_TOKENS - 3  # BOS, one generated
        return PROBE_TEXT if room is None or room >= len(PROBE_TEXT) else PROBE_TEXT[-room:]

    def _ids(self, text: str) -> list[int]:
        ids = self._encode(text)
        if self.prefix_token is not None:
            ids = [self.prefix_token, *ids]
        limit = self.max_length
        room = None if limit is None else limit - PROBE_NEW_TOKENS - 1
        return ids if room is None or room >= len(ids) else ids[-max(room, 1) :]

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---- 1, 2: greedy generation ----

    def _greedy(self, prompt: str) -> _Greedy:
        """Greedy tokens after ``prompt`` with their log-probabilities, if the server
        gives them (one that refuses ``logprobs`` is asked again without)."""
        try:
            return self._greedy_once(prompt, logprobs=True)
        except HttpError as error:
            if not _is_capability(error):
                raise self._refused(error) from None
            logger.warning(
                "%s: refused logprobs on a generation (%s); asking without", self.where, error
            )
        try:
            return self._greedy_once(prompt, logprobs=False)
        except HttpError as error:
            raise self._refused(error) from None

    def _greedy_ids(self, ids: list[int], by_text: _Greedy) -> _Greedy | None:
        """The greedy probe with the prompt as token ids, asked as the text one was; None
        when the server refuses token ids (once: a 5xx validation error is quick to tell)."""
        try:
            return self._greedy_once(ids, logprobs=by_text.asked_logprobs, max_retries=1)
        except HttpError as error:
            if error.status is None or error.status in NOT_A_CAPABILITY:
                raise
            logger.warning(
                "%s: the server does not take prompts as token ids (%s); prompts go as text "
                "and the server's tokenization applies",
                self.where, error,
            )  # fmt: skip
            return None

    def _greedy_once(
        self, prompt: str | list[int], *, logprobs: bool, max_retries: int | None = None
    ) -> _Greedy:
        payload = greedy_logprobs_payload(self.model, prompt, PROBE_NEW_TOKENS, self.options)
        if not logprobs:
            del payload["logprobs"]
        reply = self.post("/completions", payload, max_retries)
        what = f"{self.where}: probe"
        generated = read_generation(reply, chat=False, what=what)
        lists = read_logprobs(reply, what=what)
        return _Greedy(generated.text, lists, usage_count(reply, "prompt_tokens"), logprobs)

    def _refused(self, error: HttpError) -> FtevalError:
        """The error for a refused probe: the model the server lacks, options it refuses,
        no /v1/completions at all (``_NoCompletions``), or its reply as it is."""
        listed = self.listed
        if listed is not None and self.model not in listed and error.status in (400, 404):
            return ConfigError(
                f"{self.where}: the server serves no model {self.model!r}; it serves "
                f"{sorted(listed)[:20]} ({error})"
            )
        if self.options and error.status in (400, 422):
            return ConfigError(
                f"{self.where}: the server refused the probe request with the request "
                f"options {shown(dict(self.options))}: {error}"
            )
        if error.status in (404, 405, 501):
            return _NoCompletions(str(error))
        return error

    # ---- 3: the echo ----

    def _echo(self, text: str, greedy: _Greedy, ids: list[int] | None) -> _Echo:
        """Echo the prompt and its greedy tokens; the verdict, the probe text's echo and
        (text prompts) where the server put tokens around the text."""
        generated = self._continuation(text, greedy, ids)
        appended = generated.tokens if generated is not None else ()
        if ids is not None:
            prompt: str | list[int] = [*ids, *(self._encode(t)[0] for t in appended)]
        else:
            prompt = text + "".join(appended)
        try:  # one retry: the server just generated, so a 5xx is about the echo itself
            reply = self.post("/completions", echo_payload(self.model, prompt, self.options), 1)
            lists = read_logprobs(reply, what=f"{self.where}: probe echo")
        except HttpError as error:
            if error.status is None or error.status in NOT_A_CAPABILITY:
                raise
            return _unsupported(f"the server refused echo with logprobs: {error}")
        except BackendError as error:  # lists that do not fit together
            return _Echo(EchoCheck("failed", str(error)), EchoedProbe(unsupported=str(error)))
        if lists is None:
            return _unsupported(
                "the server returns no echoed log-probabilities (echo and logprobs on "
                f"/v1/completions are ignored or unsupported). Reply: {shown(reply)}"
            )
        counted = usage_count(reply, "prompt_tokens")
        whole = spelled_span(lists.tokens, prompt) if isinstance(prompt, str) else None
        echoed, problem = count_echoed(
            len(lists.tokens),
            sent=len(prompt) if ids is not None else None,
            counted=counted,
            generated=usage_count(reply, "completion_tokens"),
            spelled=whole[1] if whole else None,
        )
        if problem is not None:
            return _Echo(EchoCheck("failed", problem), EchoedProbe(unsupported=problem))
        hidden = max(0, (counted or echoed) - echoed)
        spelled = None if ids is not None else spelled_span(lists.tokens[:echoed], text)
        start = len(ids) if ids is not None else spelled[1] if spelled else None
        missing = (
            "the server gives no log-probabilities for generated tokens"
            if greedy.logprobs is None
            else "no generated token, nor any alternative listed, is a whole token here"
        )
        check = check_echo(
            lists, start=start, generated=generated, hidden_tokens=hidden, missing=missing
        )
        end = echoed if start is None else start
        layout = None
        if spelled is not None:
            layout = (lists.tokens[: spelled[0]], lists.tokens[echoed : echoed + 8])
        return _Echo(check, EchoedProbe(lists.tokens[:end], lists.logprobs[:end]), layout)

    def _continuation(
        self, text: str, greedy: _Greedy, ids: list[int] | None
    ) -> TokenLogprobs | None:
        """Up to ``PROBE_NEW_TOKENS`` tokens to append to the probe and compare, with their
        generated log-probabilities (``openai_checks.comparable``). Where the greedy
        tokens are cut short, or an alternative stands in for one, the server is asked
        again after what was taken (at most ``PROBE_NEW_TOKENS`` requests in all), so
        that more than one position is compared."""
        tokens: list[str] = []
        values: list[float | None] = []
        top: list[tuple[str, float] | None] = []
        current = greedy.logprobs
        while current is not None and len(tokens) < PROBE_NEW_TOKENS:
            chosen = comparable(current, self._usable(ids), prompt_end=text + "".join(tokens))
            if chosen is None:
                break
            tokens += chosen.tokens
            values += chosen.logprobs
            top += chosen.top
            if chosen.tokens == current.tokens:
                break  # every token the server generated, all greedy
            # an alternative, or greedy tokens cut short: ask again after them
            prompt: str | list[int] = text + "".join(tokens)
            if ids is not None:
                prompt = [*ids, *(self._encode(t)[0] for t in tokens)]
            current = self._greedy_once(prompt, logprobs=greedy.asked_logprobs).logprobs
        if not tokens:
            return None
        return TokenLogprobs(tuple(tokens[:PROBE_NEW_TOKENS]), tuple(values[:PROBE_NEW_TOKENS]),
                             tuple(top[:PROBE_NEW_TOKENS]))  # fmt: skip

    def _usable(self, ids: list[int] | None) -> Callable[[str], bool]:
        """Which tokens can be appended: with token ids, those that are one local token."""
        if ids is None:
            return lambda token: True
        return lambda token: len(self._encode(token)) == 1

    # ---- 4: tokenization parity ----

    def _tokenization(self, text: str, greedy: _Greedy, layout: _Layout | None) -> Tokenization:
        """The server's count of the probe text against the local tokenizer's."""
        special = list(self.tokenizer(text)["input_ids"])
        names = [str(n) for n in self.tokenizer.convert_ids_to_tokens(special)]
        verdict = compare_counts(
            greedy.prompt_tokens, self._encode(text), special, names, echoed=layout
        )
        if verdict.verdict in ("adds_bos", "differs", "unknown"):
            logger.warning("%s: %s", self.where, verdict.detail)
        return verdict


def _is_capability(error: HttpError) -> bool:
    """A 4xx refusal that says what the server cannot do (not who we are, or "later")."""
    status = error.status
    return status is not None and 400 <= status < 500 and status not in NOT_A_CAPABILITY


def _unsupported(detail: str) -> _Echo:
    return _Echo(EchoCheck("unsupported", detail), EchoedProbe(unsupported=detail))


__all__ = ["PROBE_NEW_TOKENS", "PROBE_TEXT", "EchoedProbe", "ProbeResult", "ServerProbe"]

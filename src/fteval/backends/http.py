"""A small JSON-over-HTTP client for model servers: timeouts, retries, bounded concurrency.

Standard library only (``http.client`` and threads), no new dependency: the work is a
few dozen requests in flight at most, which threads serve well, and each thread keeps
one persistent (keep-alive) connection per host, so a run does not pay a TCP or TLS
handshake per request.

* **Retries** with exponential backoff and jitter on what is worth retrying: HTTP 408,
  425 and 429 (the server asks to come back later), 500, 502, 503 and 504, connection
  errors, timeouts, and a 2xx reply whose body is not complete JSON (a connection cut
  mid-reply). A ``Retry-After`` header (seconds) is honoured, capped at ``max_backoff_s``.
  Every other status (400, 401, 403, 404, 422, 501, ...) fails at once: asking again
  cannot change the answer.
* **Stale connections.** Servers close a keep-alive connection that stays idle (uvicorn,
  under vLLM and ``transformers serve``, after 5 s); the client only learns it when the
  next request on it fails before any reply (the peer hung up, a broken pipe, a reset).
  Such a request is sent again at once on a new connection, without a wait and without
  counting as a failed attempt: the server closed the connection before reading it, so it
  was never processed. It happens once per attempt; a new connection that fails too is a
  failed attempt like any other.
* **The error says what the server said.** A request that fails for good quotes the last
  HTTP reply the server gave (status and body), even when the final attempt died on the
  connection: a server's 500 with its validation message is reported as that, not as
  "broken pipe".
* **Timeouts** apply to connecting and to each read of the socket.
* **Secrets**: the API key is sent in the ``Authorization`` header and nowhere else. No
  header is ever logged, and every error message (which quotes the server's reply, since
  that is what a user needs to see) has the key replaced by ``***``: a server that echoes
  the key back in an error cannot leak it into logs or records.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from fteval.errors import BackendError, ConfigError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# The peer closed a connection before answering: on a reused keep-alive connection, the
# server dropped it while idle (it never read the request). RemoteDisconnected is a
# ConnectionResetError.
STALE_CONNECTION_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
REPLY_SHOWN = 400  # characters of a server's reply quoted in an error
SECRET_WORDS = ("key", "token", "secret", "password", "sig")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try.

    Attributes:
        timeout_s: seconds allowed for connecting and for each socket read (> 0).
        max_retries: retries after the first attempt (0 = try once).
        backoff_s: the first retry's wait in seconds; doubled per retry, with jitter.
        max_backoff_s: the longest wait between two attempts, in seconds.
    """

    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        base = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        return base * (0.5 + rng.random() / 2)


class HttpError(BackendError):
    """A request failed for good. ``status`` is the last HTTP status (None: no reply)."""

    def __init__(self, message: str, status: int | None = None, reply: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reply = reply


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash; refuses what cannot be a server address.

    Raises:
        ConfigError: not ``http(s)://host[:port][/path]``, or credentials in the URL (an
            API key belongs in an environment variable, never in a URL that is recorded).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL must look like http(s)://host[:port]/v1, got {url!r}")
    if parts.username or parts.password:
        raise ConfigError(
            "the base URL holds credentials (user:password@host); give the API key through "
            "an environment variable instead (--api-key-env)"
        )
    if parts.fragment:
        raise ConfigError(f"base URL {url!r} has a #fragment; remove it")
    names = [name for name, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    if any(word in name.lower() for name in names for word in SECRET_WORDS):
        raise ConfigError(
            "the base URL carries a secret in its query string (the URL is recorded in the "
            "manifest); give the API key through an environment variable (--api-key-env)"
        )
    return url.rstrip("/")


class JsonClient:
    """JSON requests to one server; thread-safe, one keep-alive connection per thread.

    Args:
        base_url: e.g. ``http://localhost:8000/v1``; paths are appended to it.
        api_key: sent as ``Authorization: Bearer``; None sends no such header.
        policy: timeouts and retries.
        seed: seeds the backoff jitter (timing only, never results).

    Attributes:
        attempts: HTTP attempts made, retries included (a stale connection's resend not).
        retries: attempts that followed a failed one.
        reconnects: requests sent again on a new connection because the reused one had
            been closed by the server while idle (not failures, see the module docstring).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        policy: RetryPolicy | None = None,
        seed: int = 0,
    ) -> None:
        self.base_url = check_base_url(base_url)
        parts = urllib.parse.urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path
        self._query = parts.query
        self._api_key = api_key or None
        self.policy = policy or RetryPolicy()
        self._local = threading.local()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.attempts = 0
        self.retries = 0
        self.reconnects = 0

    # ---- public ----

    def get(self, path: str) -> Any:
        """GET ``base_url + path``; the decoded JSON reply."""
        return self._request("GET", path, None)

    def post(self, path: str, payload: Any, *, max_retries: int | None = None) -> Any:
        """POST ``payload`` as JSON to ``base_url + path``; the decoded JSON reply.

        Args:
            path: appended to the base URL (``/completions``).
            payload: the JSON body.
            max_retries: this request's retries (default: the policy's).
        """
        body = json.dumps(payload).encode("utf-8")
        return self._request("POST", path, body, max_retries=max_retries)

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``."""
        return redact(text, self._api_key)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # ---- one request, with retries ----

    def _request(
        self, method: str, path: str, body: bytes | None, *, max_retries: int | None = None
    ) -> Any:
        url = self.base_url + path
        retries = self.policy.max_retries if max_retries is None else max_retries
        attempt = 0
        last_reply: _Failure | None = None  # the last failure that had a server reply
        while True:
            attempt += 1
            with self._lock:
                self.attempts += 1
            outcome = self._attempt_fresh_if_stale(method, path, body)
            if isinstance(outcome, _Reply):
                return outcome.data
            if outcome.status is not None:
                last_reply = outcome
            if not outcome.retry or attempt > retries:
                raise self._final_error(method, url, attempt, outcome, last_reply)
            with self._lock:
                self.retries += 1
                wait_s = self.policy.delay(attempt, outcome.retry_after, self._rng)
            logger.info(
                "%s %s: %s; retry %d of %d in %.2f s",
                method, url, self.redact(outcome.problem), attempt, retries, wait_s,
            )  # fmt: skip
            time.sleep(wait_s)

    def _final_error(
        self, method: str, url: str, attempts: int, last: _Failure, reply: _Failure | None
    ) -> HttpError:
        """The error of a request that failed for good, quoting the server's last reply."""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        message = f"{method} {url} failed{tries}: {last.problem}"
        if reply is not None and reply is not last:
            message += f"; the server's last reply was HTTP {reply.status}: {_shown(reply.reply)}"
        source = reply or last
        return HttpError(self.redact(message), source.status, self.redact(source.reply))

    def _attempt_fresh_if_stale(
        self, method: str, path: str, body: bytes | None
    ) -> _Reply | _Failure:
        """One attempt; sent again on a new connection when the reused one was stale."""
        reused = getattr(self._local, "connection", None) is not None
        outcome = self._attempt(method, path, body)
        if reused and isinstance(outcome, _Failure) and outcome.stale:
            with self._lock:
                self.reconnects += 1
            logger.debug("%s %s: the idle connection was closed by the server; reconnecting",
                         method, self.base_url + path)  # fmt: skip
            outcome = self._attempt(method, path, body)
        return outcome

    def _attempt(self, method: str, path: str, body: bytes | None) -> _Reply | _Failure:
        target = self._prefix + path + (f"?{self._query}" if self._query else "")
        headers = {"Accept": "application/json", "User-Agent": "fteval"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            connection = self._connection()
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            status = response.status
            retry_after = _retry_after(response.getheader("Retry-After"))
            raw = response.read()
        except TimeoutError:  # socket.timeout is an alias
            self.close()
            return _Failure(f"no reply within {self.policy.timeout_s:g} s (timeout)", True)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return _Failure(
                f"connection failed ({type(error).__name__}: {error})",
                True,
                stale=isinstance(error, STALE_CONNECTION_ERRORS),
            )
        text = raw.decode("utf-8", errors="replace")
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        if not 200 <= status < 300:
            return _Failure(
                f"HTTP {status}: {_shown(text)}",
                status in RETRY_STATUSES,
                status,
                text,
                retry_after,
            )
        try:
            return _Reply(json.loads(text))
        except ValueError as error:
            # a reply cut short (or not JSON at all): the connection is suspect too
            self.close()
            return _Failure(
                f"HTTP {status} but the reply is not complete JSON ({error}): {_shown(text)}",
                True,
                status,
                text,
            )

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = cls(self._host, self._port, timeout=self.policy.timeout_s)
            self._local.connection = connection
        return connection


@dataclass(frozen=True)
class _Reply:
    data: Any


@dataclass(frozen=True)
class _Failure:
    """An attempt that failed: why, whether to retry, the server's reply if any."""

    problem: str
    retry: bool
    status: int | None = None  # None: no HTTP reply at all
    reply: str = ""
    retry_after: float | None = None
    stale: bool = False  # the peer closed the connection before any reply


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REPLY_SHOWN else text[: REPLY_SHOWN - 3] + "..."


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    return text.replace(secret, "***") if secret else text


def map_bounded(
    function: Callable[[T], R], items: Sequence[T] | Iterable[T], *, concurrency: int
) -> list[R]:
    """``[function(item) for item in items]`` with at most ``concurrency`` calls at once.

    Results come back in item order. The first exception cancels the calls not yet
    started and is raised (calls already running finish first).
    """
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    results: list[Any] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        futures = {pool.submit(function, item): index for index, item in enumerate(items)}
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
        for future, index in futures.items():
            results[index] = future.result()
    return results


__all__ = ["HttpError", "JsonClient", "RetryPolicy", "check_base_url", "map_bounded", "redact"]

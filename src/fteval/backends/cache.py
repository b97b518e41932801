"""A response cache (SQLite) keyed by what determines a model's answers, never by its name.

One row per (arm key, request kind, request key); the value is the response as JSON.

**Arm key** (``arm_cache_key``): sha256 over a canonical JSON of the arm's identity (as
``Backend.identity`` returns it, plus what ``CachingBackend`` adds), with a short list of
fields removed. Every field not on that list is part of the key, so a field a backend adds
later is keyed by default: a spurious miss costs compute, a spurious hit costs correctness.

* Kept: the content hashes of the weights (``weights_sha256``); for adapters also the
  base's hashes (``base_weights_sha256``) and the adapter config; dtype; device (the same
  weights on another device or kernel give slightly different floats, so a cache filled on
  a GPU is not reused on the CPU); the backend name; settings that change numbers
  (``max_length_override``, ``adapter_serving``, ...); tokenizer facts when present.
  ``CachingBackend`` adds sha256s of the small non-weight files of the arm's folder and
  of the base's folder (config.json, tokenizer files, chat template, model code: a fixed
  chat template at the same path must miss) and the versions of fteval, torch,
  transformers and peft (library upgrades change numerics).
* Removed (``EXCLUDED_FIELDS``): the path and other location facts (a model moved to
  another folder still hits; an adapter rewritten in place misses because its hash
  changed); ``batch_size``, ``batch_tokens`` and ``threads`` (scores do not depend on
  them beyond float rounding, which tests bound at 1e-5); the adapter probe's logit change
  (known only after ``prepare``, and a function of the weights anyway); the base-mismatch
  warning (a message holding paths). Keys naming a location (``_name_or_path``,
  ``base_model_name_or_path``) are removed at any depth, in JSON files too.
* No key at all (``arm_cache_key`` returns None, the arm is served uncached) when the
  identity carries no content hash — a hub id without local files, the fake backend — or
  an adapter's base has none, or ``trust_remote_code`` is on (model code may come from
  outside the hashed files). A name is never used as a key on its own.

**Endpoint arms** (the ``openai`` backend) have no weights to hash: the server holds them.
Their identity has an ``endpoint`` object, and the key is built from all of it: the base
URL, the served model name, the server's ``/v1/models`` entry for it (without the fields
that change per call: ``created``, ``permission``, ``object``) and a *fingerprint*: the
sha256 of the tokens and log-probabilities (rounded to 0.01 nats) that the served model
gives a fixed probe text, asked at the start of every run. An endpoint arm without a
fingerprint (a server that does not echo log-probabilities, e.g. a chat-only API) is not
cached. Why this cannot give a stale answer in practice: for a hit, the server at the
same address must serve a model of the same name, described the same way, that gives
the same log-probability to 0.01 nats on every token of the probe. A redeployed model
under the same name (a retrained adapter at the same path) changes the probe. What it
cannot rule out, and a weight hash would: two models that differ so little that no
probe token moves by 0.005 nats. A server whose numbers drift more than that between
calls (batching on a GPU) only misses more often. Where this is not good enough, use
``--cache-dir off``.

**Request key** (``request_key``): sha256 of a canonical JSON of the request dataclass —
its type and every field, sampling params and seed included.

**Beside the responses**, two small tables make a run served from the cache instant:
``facts`` keeps per arm key the facts a manifest records that would otherwise need the
model's libraries (the tokenizer's pad and BOS policy), and ``file_hashes`` memoises the
sha256 of weight files by path, size, modification time (ns), inode, device and
status-change time (ctime, ns), as git's index does: a file that changed in any of these
is hashed again (ctime catches a file rewritten in place whose size, inode and mtime were
put back: no user-level call sets a ctime), and a hash is stored only for a file last
modified or changed over ``RACY_WINDOW_S`` seconds before it was read (a file still being
written could otherwise keep its stat and change its bytes).

**Concurrency.** SQLite in WAL mode (``synchronous=NORMAL``, a busy timeout): readers do
not block the writer, and two processes may share one file. Each process opens its own
``ResponseCache``; writes of one ``put_many`` are one transaction.

**Damage.** A file that is not a readable cache of this schema version raises
``CacheError`` naming the file and saying to delete it. It is not moved aside: another
process may hold it open, and a cache holds nothing that cannot be recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from fteval._util.versions import installed_versions
from fteval.errors import FtevalError
from fteval.records import (
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
    sha256_file,
)
from fteval.version import __version__

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
KEY_VERSION = "1"  # bump when the meaning of a cached response changes (scoring semantics)

EXCLUDED_FIELDS = frozenset(
    {
        "path",
        "base_path",
        "local",
        "batch_size",
        "batch_tokens",
        "threads",
        "threads_policy",
        "probe_max_abs_logit_change",
        "base_mismatch",
    }
)
LOCATION_KEYS = frozenset({"_name_or_path", "name_or_path", "base_model_name_or_path"})
SUPPORT_SUFFIXES = (".json", ".txt", ".model", ".py", ".jinja", ".tiktoken")
SOFTWARE = ("torch", "transformers", "peft")

KINDS: dict[str, tuple[type, type]] = {
    "loglikelihood": (LoglikelihoodRequest, LoglikelihoodResult),
    "loglikelihood_rolling": (RollingLoglikelihoodRequest, RollingLoglikelihoodResult),
    "generate": (GenerateRequest, GenerationResult),
}

_SQL_VARIABLES = 500  # request keys per SELECT (SQLite limits bound parameters)
RACY_WINDOW_S = 2.0  # a file modified this recently is hashed but not memoised


class CacheError(FtevalError):
    """The response cache file cannot be used."""


# ---- keys ----


def _canonical_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    raise TypeError(f"identity value of type {type(value).__name__} has no canonical JSON")


def _canonical_json(value: Any) -> str:
    return json.dumps(
        value,
        default=_canonical_default,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _without_locations(value: Any) -> Any:
    """``value`` with every key naming a location removed, at any depth."""
    if isinstance(value, Mapping):
        return {k: _without_locations(v) for k, v in value.items() if k not in LOCATION_KEYS}
    if isinstance(value, (list, tuple)):
        return [_without_locations(v) for v in value]
    return value


def _has_hashes(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(v, str) and v for v in value.values())
    )


def uncacheable_reason(identity: Mapping[str, Any]) -> str | None:
    """Why an arm with this identity must not be cached, or None when it may be.

    Args:
        identity: what ``Backend.identity`` returned for the arm.

    Returns:
        A sentence for the log, or None.
    """
    endpoint = identity.get("endpoint")
    if isinstance(endpoint, Mapping):
        reason = _endpoint_reason(endpoint)
        if reason is not None:
            return reason
    elif not _has_hashes(identity.get("weights_sha256")):
        return "its identity has no content hash of the weights (hub id or fake)"
    else:
        is_adapter = identity.get("kind") == "adapter" or "adapter_config" in identity
        if is_adapter and not _has_hashes(identity.get("base_weights_sha256")):
            return "the adapter's base has no content hash of its weights"
    if identity.get("trust_remote_code"):
        return "trust_remote_code is on, and model code is not content-hashed"
    try:
        _canonical_json(_without_locations(identity))
    except (TypeError, ValueError) as error:
        return f"its identity cannot be written as canonical JSON ({error})"
    return None


def _endpoint_reason(endpoint: Mapping[str, Any]) -> str | None:
    """Why an endpoint arm must not be cached, or None (see the module docstring)."""
    for field in ("base_url", "model"):
        if not (isinstance(endpoint.get(field), str) and endpoint[field]):
            return f"its endpoint identity has no {field}"
    fingerprint = endpoint.get("fingerprint")
    if not (isinstance(fingerprint, str) and fingerprint):
        return (
            "the endpoint gave no fingerprint (no echoed log-probabilities of the probe), and "
            "a served model's name alone could hide a redeployed model"
        )
    return None


def arm_cache_key(identity: Mapping[str, Any]) -> str | None:
    """The cache key of an arm: sha256 (64 hex digits) of what determines its outputs.

    See the module docstring for the fields kept and removed.

    Args:
        identity: what ``Backend.identity`` returned for the arm (optionally extended).

    Returns:
        The key, or None when the arm must not be cached (``uncacheable_reason``).
    """
    if uncacheable_reason(identity) is not None:
        return None
    kept = {k: v for k, v in identity.items() if k not in EXCLUDED_FIELDS}
    payload = {"key_version": KEY_VERSION, "identity": _without_locations(kept)}
    return _sha256_text(_canonical_json(payload))


def request_key(request: Any) -> str:
    """sha256 (64 hex digits) of the request's type and every field, canonically written.

    Raises:
        TypeError: ``request`` is not a dataclass instance.
    """
    if not is_dataclass(request) or isinstance(request, type):
        raise TypeError(f"a request must be a dataclass instance, got {request!r}")
    return _sha256_text(
        _canonical_json({"type": type(request).__name__, "fields": asdict(request)})
    )


def support_file_hashes(folder: str | Path) -> dict[str, str]:
    """sha256 of each small non-weight file of a model folder that can change outputs.

    Files with a suffix in ``SUPPORT_SUFFIXES`` (config, tokenizer, chat template, model
    code) at the top of ``folder``; JSON files are hashed after removing location keys, so
    a copied folder whose config records its old path still matches.

    Returns:
        File name -> hex sha256; empty when ``folder`` is not a local directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    hashes = {}
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix in SUPPORT_SUFFIXES:
            hashes[file.name] = _support_file_hash(file.read_bytes(), file.suffix == ".json")
    return hashes


# sha256 of a support file's bytes -> its hash as support_file_hashes defines it; a run
# asks for each folder's hashes several times (key, manifest, every adapter's base), and
# a 50k-token tokenizer.json takes about half a second to canonicalise
_SUPPORT_HASHES: dict[str, str] = {}


def _support_file_hash(data: bytes, is_json: bool) -> str:
    """sha256 of one support file: JSON canonically written without location keys."""
    raw = hashlib.sha256(data).hexdigest()
    if not is_json:
        return raw
    known = _SUPPORT_HASHES.get(raw)
    if known is not None:
        return known
    with contextlib.suppress(ValueError, TypeError):  # invalid JSON: hash the bytes
        value = json.loads(data)
        if any(f'"{key}"'.encode() in data for key in LOCATION_KEYS):
            value = _without_locations(value)
        data = _canonical_json(value).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    if len(_SUPPORT_HASHES) < 4096:
        _SUPPORT_HASHES[raw] = digest
    return digest


def software_versions() -> dict[str, str | None]:
    """Versions of fteval and the libraries whose upgrades can change numerics."""
    return {"fteval": __version__, **installed_versions(SOFTWARE)}


# ---- values ----


def _encode_result(result: Any) -> str:
    # NaN and infinities stay as JSON extensions (NaN, -Infinity): a logprob of -inf
    # must come back as -inf, not as null.
    return json.dumps(asdict(result), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _decode_result(cls: type, text: str) -> Any:
    data = json.loads(text)
    # results are frozen dataclasses whose sequences are tuples
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# ---- the store ----


class ResponseCache:
    """Responses of arms to requests, in one SQLite file shared safely between processes.

    Args:
        path: the SQLite file (created with its folder when missing).
        busy_timeout_s: how long to wait for another process's write lock, in seconds.

    Raises:
        CacheError: the file is not a readable response cache of this schema version.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._warned_undecodable = False
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_s,
                isolation_level=None,  # transactions are explicit
                check_same_thread=False,  # guarded by self._lock
            )
        except sqlite3.Error as error:
            raise self._error(error) from None
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    # ---- opening ----

    def _setup(self) -> None:
        conn = self._conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = self._retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
            if str(mode[0]).lower() != "wal":
                logger.warning(
                    "%s: SQLite refused WAL mode (journal_mode=%s); concurrent runs sharing "
                    "this cache will wait for each other",
                    self.path,
                    mode[0],
                )
            conn.execute("PRAGMA synchronous=NORMAL")
            with self._transaction():
                self._check_or_create_schema()
        except sqlite3.Error as error:
            raise self._error(error) from None

    def _retry_busy(self, operation: Any) -> Any:
        """Switching to WAL on a fresh file can report "locked" without waiting."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return operation()
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _check_or_create_schema(self) -> None:
        conn = self._conn
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(
                "CREATE TABLE responses ("
                " arm_key TEXT NOT NULL, kind TEXT NOT NULL, request_key TEXT NOT NULL,"
                " response TEXT NOT NULL, created_at REAL NOT NULL,"
                " PRIMARY KEY (arm_key, kind, request_key)) WITHOUT ROWID"
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
            self._create_side_tables()
            logger.info("created response cache %s", self.path)
            return
        if not {"meta", "responses"} <= tables:
            raise CacheError(
                self._message(f"not an fteval response cache (tables: {sorted(tables)})")
            )
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        found = row[0] if row else None
        if found != SCHEMA_VERSION:
            raise CacheError(
                self._message(
                    f"response cache schema version {found!r}, this fteval reads "
                    f"version {SCHEMA_VERSION!r}"
                )
            )
        if not {"facts", "file_hashes"} <= tables:
            self._create_side_tables()  # a cache made before these tables existed
        columns = {row[1] for row in conn.execute("PRAGMA table_info(file_hashes)")}
        if "ctime_ns" not in columns:  # a memo made before ctime was part of the key:
            conn.execute(  # its rows (ctime -1) never match, so every file is hashed again
                "ALTER TABLE file_hashes ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT -1"
            )

    def _create_side_tables(self) -> None:
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS facts (arm_key TEXT NOT NULL, name TEXT NOT NULL,"
            " value TEXT NOT NULL, PRIMARY KEY (arm_key, name)) WITHOUT ROWID"
        )
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, device INTEGER NOT NULL,"
            " ctime_ns INTEGER NOT NULL DEFAULT -1,"
            " sha256 TEXT NOT NULL)"
        )

    # ---- errors ----

    def _message(self, problem: str) -> str:
        return (
            f"{self.path}: {problem}. The response cache holds nothing that cannot be "
            f"recomputed: delete {self.path} (and {self.path.name}-wal, {self.path.name}-shm "
            "beside it) to start a fresh one."
        )

    def _error(self, error: sqlite3.Error) -> CacheError:
        if _is_busy(error):
            return CacheError(
                f"{self.path}: the response cache stayed locked by another process for more "
                f"than {self.busy_timeout_s:g} s ({error})"
            )
        return CacheError(self._message(f"cannot be read as a response cache ({error})"))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise CacheError(f"{self.path}: the response cache was closed")
        return self._conn

    # ---- reading and writing ----

    def get_many(self, arm_key: str, kind: str, requests: Sequence[Any]) -> list[Any | None]:
        """The cached response to each request, or None where there is none.

        Args:
            arm_key: from ``arm_cache_key``.
            kind: ``loglikelihood`` | ``loglikelihood_rolling`` | ``generate``.
            requests: requests of that kind.

        Returns:
            One entry per request, in request order.
        """
        _, result_cls = _check_kind(kind, requests)
        keys = [request_key(r) for r in requests]
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            try:
                for start in range(0, len(unique), _SQL_VARIABLES):
                    chunk = unique[start : start + _SQL_VARIABLES]
                    marks = ",".join("?" * len(chunk))
                    rows = self._open().execute(
                        "SELECT request_key, response FROM responses WHERE arm_key = ? AND "
                        f"kind = ? AND request_key IN ({marks})",
                        (arm_key, kind, *chunk),
                    )
                    found.update(rows)
            except sqlite3.Error as error:
                raise self._error(error) from None
        results = [self._decode(result_cls, found.get(key), key) for key in keys]
        hits = sum(r is not None for r in results)
        self.hits += hits
        self.misses += len(results) - hits
        return results

    def _decode(self, cls: type, text: str | None, key: str) -> Any | None:
        if text is None:
            return None
        try:
            return _decode_result(cls, text)
        except (ValueError, TypeError) as error:
            if not self._warned_undecodable:
                logger.warning(
                    "%s: a cached %s (request %s) cannot be read back (%s); recomputing it",
                    self.path, cls.__name__, key[:12], error,
                )  # fmt: skip
                self._warned_undecodable = True
            return None

    def put_many(
        self, arm_key: str, kind: str, requests: Sequence[Any], results: Sequence[Any]
    ) -> None:
        """Store each request's response, replacing any older one; one transaction.

        Raises:
            ValueError: an unknown kind, or as many results as requests are not given.
            TypeError: a request or result is not of the kind's type.
        """
        _, result_cls = _check_kind(kind, requests)
        if len(requests) != len(results):
            raise ValueError(
                f"put_many: {len(requests)} requests but {len(results)} results ({kind})"
            )
        for result in results:
            if type(result) is not result_cls:
                raise TypeError(
                    f"put_many: a {kind} result must be a {result_cls.__name__}, got {result!r}"
                )
        now = time.time()
        rows = [
            (arm_key, kind, request_key(q), _encode_result(r), now)
            for q, r in zip(requests, results)
        ]
        with self._lock:
            try:
                self._open()
                with self._transaction():
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO responses "
                        "(arm_key, kind, request_key, response, created_at) VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
            except sqlite3.Error as error:
                raise self._error(error) from None
        self.writes += len(rows)

    # ---- facts and file hashes ----

    def get_fact(self, arm_key: str, name: str) -> Any | None:
        """The JSON value stored as fact ``name`` of the arm, or None."""
        with self._lock:
            try:
                row = (
                    self._open()
                    .execute(
                        "SELECT value FROM facts WHERE arm_key = ? AND name = ?", (arm_key, name)
                    )
                    .fetchone()
                )
            except sqlite3.Error as error:
                raise self._error(error) from None
        if row is None:
            return None
        try:
            return json.loads(row[0])
        except ValueError:
            return None

    def put_fact(self, arm_key: str, name: str, value: Any) -> None:
        """Store a JSON-ready ``value`` as fact ``name`` of the arm (replacing any)."""
        text = json.dumps(value, sort_keys=True, allow_nan=False, default=_canonical_default)
        self._write(
            "INSERT OR REPLACE INTO facts (arm_key, name, value) VALUES (?, ?, ?)",
            [(arm_key, name, text)],
        )

    def file_sha256(self, path: str | Path) -> str:
        """Hex sha256 of a file, from the memo when its stat is unchanged (see the module
        docstring), else read and hashed (and memoised when not modified just now)."""
        resolved = str(Path(path).resolve())
        stat = Path(resolved).stat()
        # ctime too: a file rewritten in place with its size, inode and mtime restored
        # (os.utime) still gets a new ctime, which no user-level call can set back
        signature = (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev, stat.st_ctime_ns)
        with self._lock:
            try:
                row = (
                    self._open()
                    .execute(
                        "SELECT size, mtime_ns, inode, device, ctime_ns, sha256 FROM file_hashes "
                        "WHERE path = ?",
                        (resolved,),
                    )
                    .fetchone()
                )
            except sqlite3.Error as error:
                raise self._error(error) from None
        if row is not None and tuple(row[:5]) == signature:
            return str(row[5])
        read_at = time.time()
        digest = sha256_file(resolved)
        if read_at - max(stat.st_mtime_ns, stat.st_ctime_ns) / 1e9 > RACY_WINDOW_S:
            self._write(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, inode, device, "
                "ctime_ns, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(resolved, *signature, digest)],
            )
        return digest

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            try:
                self._open()
                with self._transaction():
                    self._conn.executemany(sql, rows)
            except sqlite3.Error as error:
                raise self._error(error) from None

    def stats(self) -> dict[str, int]:
        """This object's lookups: ``hits``, ``misses`` (requests) and ``writes`` (rows)."""
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}

    def __len__(self) -> int:
        """Stored responses, all arms."""
        with self._lock:
            return int(self._open().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error).

    The write lock is taken up front, so two writers wait on the busy timeout instead of
    deadlocking.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            with contextlib.suppress(sqlite3.Error):  # keep the original error
                self._conn.execute("ROLLBACK")


def _is_busy(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _check_kind(kind: str, requests: Iterable[Any]) -> tuple[type, type]:
    try:
        request_cls, result_cls = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown request kind {kind!r}; kinds: {sorted(KINDS)}") from None
    for request in requests:
        if type(request) is not request_cls:
            raise TypeError(f"a {kind} request must be a {request_cls.__name__}, got {request!r}")
    return request_cls, result_cls


__all__ = [
    "CacheError",
    "ResponseCache",
    "arm_cache_key",
    "request_key",
    "software_versions",
    "support_file_hashes",
    "uncacheable_reason",
]

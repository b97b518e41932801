"""A response cache (SQLite) keyed by what determines a model's answers, never by its name.

One row per (arm key, request kind, request key); the value is the response as JSON. The
keys are decided by ``fteval.backends.cache_keys`` (an arm's key from its identity's
content hashes and settings, a request's from its every field); this module only stores
and reads. The key policy's public names are re-exported here.

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
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fteval.backends.cache_keys import (
    EXCLUDED_FIELDS,
    KEY_VERSION,
    arm_cache_key,
    canonical_default,
    request_key,
    software_versions,
    support_file_hashes,
    uncacheable_reason,
)
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

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

KINDS: dict[str, tuple[type, type]] = {
    "loglikelihood": (LoglikelihoodRequest, LoglikelihoodResult),
    "loglikelihood_rolling": (RollingLoglikelihoodRequest, RollingLoglikelihoodResult),
    "generate": (GenerateRequest, GenerationResult),
}

_SQL_VARIABLES = 500  # request keys per SELECT (SQLite limits bound parameters)
RACY_WINDOW_S = 2.0  # a file modified this recently is hashed but not memoised


class CacheError(FtevalError):
    """The response cache file cannot be used."""


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
        text = json.dumps(value, sort_keys=True, allow_nan=False, default=canonical_default)
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
    "EXCLUDED_FIELDS",
    "KEY_VERSION",
    "CacheError",
    "ResponseCache",
    "arm_cache_key",
    "request_key",
    "software_versions",
    "support_file_hashes",
    "uncacheable_reason",
]

"""The run directory: manifest.json, samples.jsonl, items.jsonl, results.json, report.md,
report.html.

Writes are atomic (temp file + rename); sample lines are appended whole. See
docs/records.md for the schema.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import traceback
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from fteval.errors import FtevalError, OutputError
from fteval.records.jsonio import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    dumps,
    read_jsonl,
)
from fteval.records.schema import check_before_write, validate_results
from fteval.records.types import SampleResult

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
RESULTS = "results.json"
REPORT_MD = "report.md"
LOG = "fteval.log"
REPORT_HTML = "report.html"
ITEMS = "items.jsonl"
LOCK = ".lock"

# Config keys that do not change any sample: a run may resume with other values.
RESUME_INSENSITIVE = frozenset(
    {
        "out", "batch_size", "cache_dir", "fail_on", "flush_every", "confidence",
        "bootstrap_resamples", "permutations", "ci_method", "correction", "correction_scope",
        "alpha", "non_inferiority", "ray", "ray_workers", "concurrency", "request_timeout_s",
        "max_retries", "api_key_env", "brittle_threshold", "training_logs", "guardrail_margin",
        "contamination_threshold",
    }
)  # fmt: skip


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def default_run_dir(root: str | Path = "runs") -> Path:
    """``runs/<UTC timestamp>``, made unique with a counter when it exists."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    candidate = Path(root) / stamp
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = Path(root) / f"{stamp}-{counter}"
    return candidate


class RunDirectory:
    """Paths and atomic writers of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    def create(self) -> None:
        """Make the directory; refuse one that already holds a run's records."""
        if self.path.exists() and any((self.path / f).exists() for f in (MANIFEST, SAMPLES)):
            raise FtevalError(
                f"{self.path}: already holds a run (manifest.json/samples.jsonl); choose "
                "another --out or remove it"
            )
        self._mkdir()

    def _mkdir(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(
                f"{self.path}: cannot create the run directory: {error.strerror or error}"
            ) from None

    def open_for(self, config: Mapping[str, Any]) -> bool:
        """Make the directory for a run of ``config``, or find an unfinished one to resume.

        Returns:
            True when an interrupted run with the same config is resumed.

        Raises:
            FtevalError: the directory holds a complete run, or a run of another config.
        """
        manifest_path = self.path / MANIFEST
        if not manifest_path.exists():
            if self.samples_path.exists():
                raise FtevalError(f"{self.path}: has samples.jsonl but no manifest.json")
            self._mkdir()
            return False
        previous = self.read_manifest()
        if previous.get("status") == "complete":
            raise FtevalError(
                f"{self.path}: already holds a complete run; choose another --out or remove it"
            )
        differences = config_differences(previous.get("config", {}), config)
        if differences:
            raise FtevalError(
                f"{self.path}: holds an unfinished run of another config ({differences[0]}); "
                "resume with the same config, or choose another --out"
            )
        self.repair_samples()
        return True

    def repair_samples(self) -> None:
        """Cut a torn last line (a write killed mid-line) so appends start clean."""
        if not self.samples_path.exists():
            return
        data = self.samples_path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.samples_path, "r+b") as handle:
                handle.truncate(keep)

    def finished_ids(self) -> dict[tuple[str, str], set[str]]:
        """(task, arm) -> example ids already in samples.jsonl."""
        done: dict[tuple[str, str], set[str]] = {}
        for sample in self.read_samples():
            done.setdefault((sample.task, sample.arm), set()).add(sample.example_id)
        return done

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the directory while the block runs; remove it after.

        The lock is an ``flock`` on ``.lock``: the kernel drops it when the process dies,
        SIGKILL included, so a crashed run never leaves a stale lock (only a harmless
        file). When the block ends the file is removed while still locked; a process
        that opened the old file meanwhile sees it is gone and tries the new one.
        """
        self._mkdir()
        handle = self._acquire()
        try:
            yield
        finally:
            (self.path / LOCK).unlink(missing_ok=True)
            handle.close()

    def _acquire(self) -> IO[str]:
        """The open, flocked lock file (retried when another process removed it first)."""
        path = self.path / LOCK
        while True:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                handle.close()
                raise FtevalError(
                    f"{self.path}: another fteval process (pid {owner}) is writing this run "
                    "directory; wait for it or choose another --out"
                ) from None
            if _same_file(handle, path):
                break
            handle.close()  # locked a file its owner had just removed: lock the new one
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.path / MANIFEST, manifest)

    def append_samples(self, samples: Iterable[SampleResult]) -> None:
        append_jsonl(self.samples_path, (s.to_json() for s in samples))

    def write_results(self, results: dict[str, Any]) -> None:
        check_before_write(results, self.path / RESULTS)
        atomic_write_json(self.path / RESULTS, results)

    def write_report(self, text: str, name: str = REPORT_MD) -> None:
        atomic_write_text(self.path / name, text)

    def write_items(self, items: Iterable[Mapping[str, Any]]) -> None:
        """items.jsonl: the prompt of every task x example (rewritten whole, atomically)."""
        atomic_write_text(self.path / ITEMS, "".join(dumps(item) + "\n" for item in items))

    def read_items(self) -> list[dict[str, Any]]:
        """items.jsonl's records; empty for runs that did not write it."""
        path = self.path / ITEMS
        return list(read_jsonl(path)) if path.exists() else []

    def read_manifest(self) -> dict[str, Any]:
        return _read_json(self.path / MANIFEST)

    def read_results(self) -> dict[str, Any]:
        """results.json, checked against the published schema (docs/results.schema.json)."""
        results = _read_json(self.path / RESULTS)
        validate_results(results, self.path / RESULTS)
        return results

    def mark_failed(self, manifest: dict[str, Any], error: BaseException) -> None:
        """Record a failed run: manifest ``failed`` with the error, traceback in fteval.log.

        The log path is attached to ``error`` (see ``failure_log``), so the command line
        can point to it. Never raises for its own writes: the first error is the news.
        """
        manifest.update(
            status="failed", finished_at=utc_now(), error=f"{type(error).__name__}: {error}"
        )
        with contextlib.suppress(OSError, FtevalError):
            self.write_manifest(manifest)
        log = self.path / LOG
        try:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{utc_now()} run failed\n")
                handle.writelines(traceback.format_exception(error))
        except OSError:
            return
        with contextlib.suppress(AttributeError, TypeError):
            error._fteval_log = str(log)  # type: ignore[attr-defined]

    def has_samples(self) -> bool:
        """Whether samples.jsonl holds anything."""
        try:
            return self.samples_path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def discard(self, *, created: Iterable[Path] = ()) -> None:
        """Remove what a run refused before any work wrote (manifest, items, an empty
        samples file), then each folder in ``created`` (the run directory and the parents
        it was made with, innermost first) that is empty."""
        for name in (MANIFEST, ITEMS, SAMPLES, LOG):
            with contextlib.suppress(OSError):
                (self.path / name).unlink(missing_ok=True)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                return

    def read_samples(self) -> list[SampleResult]:
        if not self.samples_path.exists():
            return []
        return [SampleResult.from_json(d) for d in read_jsonl(self.samples_path)]


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Differences between two run configs in keys that change samples."""
    keys = (set(old) | set(new)) - RESUME_INSENSITIVE
    return [
        f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"
        for key in sorted(keys)
        if old.get(key) != new.get(key)
    ]


def failure_log(error: BaseException) -> str | None:
    """The fteval.log holding ``error``'s traceback, when ``mark_failed`` wrote one."""
    return getattr(error, "_fteval_log", None)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FtevalError(f"{path}: not found (is this a run directory?)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FtevalError(f"{path}: cannot read: {error}") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise FtevalError(f"{path}: malformed JSON: {error}") from None
    if not isinstance(data, dict):
        raise FtevalError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data

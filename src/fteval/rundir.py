"""The run directory: manifest.json, samples.jsonl, results.json, report.md.

Writes are atomic (temp file + rename); sample lines are appended whole. See
docs/records.md for the schema.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fteval.errors import FtevalError
from fteval.records import (
    SampleResult,
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
)

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
RESULTS = "results.json"
REPORT_MD = "report.md"


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
        self.path.mkdir(parents=True, exist_ok=True)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.path / MANIFEST, manifest)

    def append_samples(self, samples: Iterable[SampleResult]) -> None:
        append_jsonl(self.samples_path, (s.to_json() for s in samples))

    def write_results(self, results: dict[str, Any]) -> None:
        atomic_write_json(self.path / RESULTS, results)

    def write_report(self, text: str, name: str = REPORT_MD) -> None:
        atomic_write_text(self.path / name, text)

    def read_manifest(self) -> dict[str, Any]:
        return _read_json(self.path / MANIFEST)

    def read_results(self) -> dict[str, Any]:
        return _read_json(self.path / RESULTS)

    def read_samples(self) -> list[SampleResult]:
        if not self.samples_path.exists():
            return []
        return [SampleResult.from_json(d) for d in read_jsonl(self.samples_path)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FtevalError(f"{path}: not found (is this a run directory?)") from None
    except json.JSONDecodeError as error:
        raise FtevalError(f"{path}: malformed JSON: {error}") from None

"""The typed records that flow through the pipeline, and their on-disk form.

Data flows one way: ``Example`` (a task's item) -> requests (backend-neutral, string level)
-> responses -> ``SampleResult`` (one per task x example x arm, a line of samples.jsonl).
The on-disk schema is documented in docs/records.md; ``SCHEMA_VERSION`` changes when a
field changes meaning or is removed. Fields may be added without a version change.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fteval.errors import FtevalError, OutputError

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Example:
    """One evaluation item of a task, already formatted.

    Attributes:
        example_id: unique within the task.
        prompt: the context shown to the model (few-shot block included).
        target: the gold label (choice tasks) or reference text(s) (generation tasks).
        choices: label names of a choice task, in the order of ``continuations``.
        continuations: the strings whose loglikelihood is scored after ``prompt``.
        meta: free-form tags (subgroup, source row, ...), written to samples.jsonl.
    """

    example_id: str
    prompt: str
    target: Any
    choices: tuple[str, ...] = ()
    continuations: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt_hash(self) -> str:
        """sha256 of the prompt text (first 16 hex digits)."""
        return hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()[:16]


# ---- requests: what a backend is asked (string level, backend neutral) ----


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """log P(continuation | context), summed over the continuation's tokens."""

    context: str
    continuation: str


@dataclass(frozen=True)
class RollingLoglikelihoodRequest:
    """log P(text) over the whole text, in rolling windows when it exceeds the context.

    ``stride``: new tokens scored per window (None: the whole context window); smaller
    strides give each token more context at more compute.
    """

    text: str
    stride: int | None = None


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. ``temperature == 0`` means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0


@dataclass(frozen=True)
class GenerateRequest:
    """Generate a continuation of ``prompt``; stop at the first of ``stop`` (trimmed).

    ``chat`` asks the backend to wrap the prompt in the model's chat template as one
    user turn (an error when the tokenizer has none).
    """

    prompt: str
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 128
    sampling: SamplingParams = SamplingParams()
    chat: bool = False


Request = LoglikelihoodRequest | RollingLoglikelihoodRequest | GenerateRequest


# ---- responses ----


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Answer to a ``LoglikelihoodRequest``.

    Attributes:
        logprob: natural-log probability of the continuation, <= 0.
        is_greedy: True when every continuation token is the model's argmax.
        n_tokens: number of continuation tokens scored.
        truncated_tokens: tokens dropped because the input exceeded the context window.
        truncation_side: "left" when tokens were dropped from the start, else None.
    """

    logprob: float
    is_greedy: bool
    n_tokens: int
    truncated_tokens: int = 0
    truncation_side: str | None = None


@dataclass(frozen=True)
class RollingLoglikelihoodResult:
    """Answer to a ``RollingLoglikelihoodRequest``: summed log-prob and token count."""

    logprob: float
    n_tokens: int


@dataclass(frozen=True)
class GenerationResult:
    """Answer to a ``GenerateRequest``: ``texts`` holds ``sampling.n`` continuations."""

    texts: tuple[str, ...]
    n_tokens: tuple[int, ...]
    finish_reasons: tuple[str, ...]
    truncated_tokens: int = 0


# ---- results ----


@dataclass
class SampleResult:
    """One line of samples.jsonl: a task x example x arm outcome (the record contract)."""

    task: str
    example_id: str
    arm: str
    prompt_hash: str
    target: Any
    prediction: Any
    choice_logprobs: list[float] | None = None
    generation: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, list[float]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict; absent optional fields are omitted."""
        data = asdict(self)
        for optional in ("choice_logprobs", "generation", "stats"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SampleResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---- file I/O ----


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def _clean_floats(value: Any) -> Any:
    """NaN and infinities are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Deterministic JSON (sorted keys, no NaN) used for every record fteval writes."""
    return json.dumps(
        _clean_floats(value),
        default=_json_default,
        sort_keys=True,
        indent=indent,
        ensure_ascii=False,
        allow_nan=False,
    )


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and a rename.

    Readers see the old file or the new one, never a partial one. On any error the
    temp file is removed and the old file stays as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {path}: {error.strerror or error}; the previous file is unchanged"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, value: Any) -> None:
    """``atomic_write_text`` of deterministic, indented JSON."""
    atomic_write_text(path, dumps(value, indent=2) + "\n")


def append_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Append whole lines: each record is serialised first, then written in one call."""
    lines = "".join(dumps(r) + "\n" for r in records)
    if not lines:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise OutputError(
            f"cannot append to {path}: {error.strerror or error}; lines written before are "
            "intact and the run can be resumed"
        ) from None


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield each complete JSON line; a torn last line (crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines) and not line.endswith("\n"):
                return  # torn final line from an interrupted append
            raise FtevalError(
                f"{path}, line {number}: not a JSON record ({error.msg}); the file is damaged"
            ) from None


def sha256_file(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def as_reference_list(target: Any) -> list[str]:
    """A generation target as a list of references (a string becomes a 1-list)."""
    if isinstance(target, str):
        return [target]
    if isinstance(target, Sequence):
        return [str(t) for t in target]
    return [str(target)]

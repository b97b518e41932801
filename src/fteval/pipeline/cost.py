"""What each arm cost: parameters, size on disk, wall time, tokens, peak memory.

Recorded by the run in ``manifest.arms[].cost`` so that reports need no model:

* **Parameters** are counted from the safetensors headers of the arm's weight files (the
  8-byte header length, then a JSON table of tensor shapes; no tensor is read and no
  model is loaded). An adapter's trainable parameters are its own tensors and its total
  is the base's plus its own; a full fine-tune trained every weight, so its trainable
  count is its total. The base arm trained nothing (``trainable_params`` null).
  Pickled weights (``.bin``) cannot be counted without unpickling: null.
* **Size on disk**: the bytes of the weight files the arm loads (safetensors when the
  folder has them, else the pickled files): what you would ship.
* **Wall time**: seconds from the arm's first request to its last sample written,
  scoring included. A resumed run measures its last attempt only (``note`` says so).
* **Tokens**: ``tokens`` is what the arm scored or generated, from samples.jsonl (choice
  continuations, perplexity documents, generated tokens); ``tokens_processed`` is every
  token the model was fed for the requests computed in this run (prompts, shared
  prefixes, padding: the backend's ``token_counts``), null for a backend that does not
  count. ``tokens_per_s`` is ``tokens_processed`` over the wall time, measured on the
  requests computed now (``requests_computed``); null when none was.
* **The response cache**: ``requests_cached`` answers came from the cache and cost this
  run almost nothing. What they cost when they were computed is kept in the cache beside
  them (seconds per request, per arm) and reported as ``cached_compute_s`` with
  ``cached_cost_measured_at``: labelled as recorded, never mixed into ``eval_wall_s``.
* **Peak memory**: the GPU's peak allocated memory (``cuda``: ``torch.cuda`` peak stats,
  reset before each arm) when the arm ran on a GPU, else the process's peak resident
  memory (``rss``). On Linux the peak is reset before each arm (writing 5 to
  ``/proc/self/clear_refs``) and read from ``VmHWM``; where that is not possible it is
  the process's peak so far (``getrusage``), and ``note`` says so.
* **Memory footprint** (``with_weight_bytes``): the weights and buffers of the model that
  served the arm, as loaded (the base and its adapters share one model), from the backend.
  A deployment form's size on disk is its state dict's bytes (what ``save_pretrained``
  writes for it: a quantized form's packed weights and constants), and its parameters
  those of the weights it serves (a merged form: the base's).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import resource
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.records import SampleResult

logger = logging.getLogger(__name__)

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit on its header
CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")


def safetensors_parameters(path: str | Path) -> int:
    """Number of parameters (elements of every tensor) in a safetensors file.

    Reads only the header: 8 bytes little-endian header length, then that many bytes of
    JSON mapping tensor names to ``{"dtype", "shape", "data_offsets"}``.

    Raises:
        ValueError: the file is not a valid safetensors file (named in the message).
    """
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: too short for a safetensors header")
        (length,) = struct.unpack("<Q", raw)
        if length > MAX_HEADER_BYTES:
            raise ValueError(f"{path}: safetensors header of {length} bytes is too large")
        header_bytes = handle.read(length)
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: safetensors header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header is not a table of tensors")
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"{path}: tensor {name!r} has no valid shape ({shape!r})")
        total += math.prod(shape)
    return total


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files an arm loads from ``folder``: safetensors if any, else pickles."""
    path = Path(folder)
    if not path.is_dir():
        return []
    files = sorted(p for p in path.iterdir() if p.is_file())
    safe = [p for p in files if p.suffix in SAFE_SUFFIXES]
    return safe or [p for p in files if p.suffix in PICKLE_SUFFIXES]


@dataclass(frozen=True)
class WeightFacts:
    """Parameters (None when they cannot be counted) and bytes of a weight folder."""

    parameters: int | None
    size_bytes: int | None


def weight_facts(folder: str | Path | None) -> WeightFacts:
    """Parameters and size of the weights in ``folder`` (None for hub ids and no files)."""
    if not folder:
        return WeightFacts(None, None)
    files = weight_files(folder)
    if not files:
        return WeightFacts(None, None)
    size = sum(p.stat().st_size for p in files)
    if any(p.suffix not in SAFE_SUFFIXES for p in files):
        return WeightFacts(None, size)
    try:
        return WeightFacts(sum(safetensors_parameters(p) for p in files), size)
    except (OSError, ValueError) as error:
        logger.warning("cannot count parameters in %s: %s", folder, error)
        return WeightFacts(None, size)


# ---- measuring an arm's evaluation ----


class PeakMemory:
    """Peak memory over a stretch of work: CUDA peak allocated, or peak RSS."""

    def __init__(self, device: str | None) -> None:
        self.device = device or "cpu"
        torch = sys.modules.get("torch")  # never import torch just to measure
        self._torch = (
            torch
            if torch is not None
            and self.device.startswith("cuda")
            and torch.cuda.is_available()
            and torch.cuda.is_initialized()
            else None
        )
        self.kind = "cuda" if self._torch is not None else "rss"
        self.per_arm = False

    def reset(self) -> None:
        """Start a new peak (CUDA stats, or Linux's VmHWM); else keep the process's peak."""
        if self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats(self.device)
            self.per_arm = True
            return
        try:
            CLEAR_REFS.write_text("5")
            self.per_arm = _vm_hwm() is not None
        except OSError:
            self.per_arm = False

    def read(self) -> int | None:
        """The peak in bytes since ``reset`` (or the process's peak: ``per_arm`` False)."""
        if self._torch is not None:
            return int(self._torch.cuda.max_memory_allocated(self.device))
        if self.per_arm:
            peak = _vm_hwm()
            if peak is not None:
                return peak
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(maxrss if sys.platform == "darwin" else maxrss * 1024)


def _vm_hwm() -> int | None:
    """Linux's peak resident set size of this process (``VmHWM``), in bytes."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Measurement:
    """One arm's measured wall time (s) and peak memory (bytes); ``shared_with``: the
    other arms answered in the same passes (their wall time and peak are one)."""

    eval_wall_s: float
    peak_memory_bytes: int | None
    memory_kind: str
    memory_per_arm: bool
    shared_with: tuple[str, ...] = ()


class CostMeter:
    """Measures each arm's evaluation (wall time, peak memory) in the run loop.

    ``start(arm)`` before the arm's first request, ``stop(arm)`` after its last sample is
    written; ``measured`` then holds the arm's ``Measurement``.
    """

    def __init__(self, devices: Mapping[str, str | None] | None = None) -> None:
        self.devices = dict(devices or {})
        self.measured: dict[str, Measurement] = {}
        self._open: dict[str, tuple[float, PeakMemory]] = {}

    def start(self, name: str) -> None:
        """Begin measuring arm ``name`` (resets the peak-memory mark)."""
        memory = PeakMemory(self.devices.get(name))
        memory.reset()
        self._open[name] = (time.perf_counter(), memory)

    def stop(self, name: str, shared_with: Sequence[str] = ()) -> None:
        """End measuring arm ``name``; a stop without a start is ignored."""
        opened = self._open.pop(name, None)
        if opened is None:
            return
        started, memory = opened
        self.measured[name] = Measurement(
            round(time.perf_counter() - started, 3), memory.read(), memory.kind, memory.per_arm,
            tuple(shared_with),
        )  # fmt: skip

    def start_group(self, names: Sequence[str]) -> None:
        """Begin measuring arms answered together (one clock, one peak)."""
        self.start(names[0])
        for name in names[1:]:
            self._open[name] = self._open[names[0]]

    def stop_group(self, names: Sequence[str]) -> None:
        """End measuring arms answered together: each gets the group's wall time and
        peak (read once), and the names of the others."""
        self.stop(names[0], names[1:])
        first = self.measured.get(names[0])
        for name in names[1:]:
            self._open.pop(name, None)
            if first is not None:
                others = tuple(other for other in names if other != name)
                self.measured[name] = dataclasses.replace(first, shared_with=others)


# ---- the cost record ----


def tokens_of(samples: Sequence[SampleResult]) -> int:
    """Tokens scored or generated: choice continuations, perplexity documents, generations."""
    total = 0
    for sample in samples:
        meta = sample.meta
        if sample.choice_logprobs is not None:
            total += sum(int(t) for t in meta.get("continuation_tokens", []) or [])
        elif isinstance(sample.prediction, Mapping) and "n_tokens" in sample.prediction:
            total += int(sample.prediction["n_tokens"] or 0)
        else:
            total += sum(int(t) for t in meta.get("generated_tokens", []) or [])
    return total


@dataclass(frozen=True)
class Work:
    """What one arm's requests cost in this run and, for cached ones, when computed.

    Attributes:
        cache: ``{"hits", "misses"}`` requests of the response cache (empty: no cache).
        tokens_processed: tokens fed to the model in this run (None: not counted).
        recorded: what the cache keeps of the arm's cost when its answers were computed
            (``seconds_per_request``, ``measured_at``), or None.
    """

    cache: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tokens_processed: int | None = None
    recorded: Mapping[str, Any] | None = None


def processed_tokens(counts: Mapping[str, Mapping[str, Any]] | None) -> int | None:
    """Tokens an arm's backend fed for every request kind (``token_counts``), or None."""
    if not counts:
        return None
    found = [k.get("executed_tokens") for k in counts.values() if isinstance(k, Mapping)]
    numbers = [int(n) for n in found if isinstance(n, (int, float))]
    return sum(numbers) if numbers else None


def arm_costs(
    arms: Sequence[Mapping[str, Any]],
    measured: Mapping[str, Measurement],
    samples: Sequence[SampleResult],
    cache_stats: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    resumed: bool = False,
    work: Mapping[str, Work] | None = None,
) -> dict[str, dict[str, Any]]:
    """Arm name -> its cost record (``manifest.arms[].cost``; see the module docstring).

    ``work`` gives each arm's processed tokens and recorded cache cost; without it only
    ``cache_stats`` is known.
    """
    by_arm: dict[str, list[SampleResult]] = {}
    for sample in samples:
        by_arm.setdefault(sample.arm, []).append(sample)
    base = next((a for a in arms if a.get("kind") == "base"), None)
    base_facts = weight_facts((base or {}).get("identity", {}).get("path"))
    costs = {}
    for arm in arms:
        identity = arm.get("identity", {})
        facts = weight_facts(identity.get("path"))
        kind = arm.get("kind", "")
        if kind == "adapter":
            if base_facts.parameters is None and identity.get("base_path"):
                base_facts = weight_facts(identity["base_path"])
            trainable = facts.parameters
            total = (
                base_facts.parameters + trainable
                if base_facts.parameters is not None and trainable is not None
                else None
            )
        elif kind == "full":
            trainable = total = facts.parameters
        else:
            trainable, total = None, facts.parameters
        costs[arm["name"]] = _record(
            arm["name"],
            trainable,
            total,
            facts.size_bytes,
            measured.get(arm["name"]),
            by_arm.get(arm["name"], []),
            (work or {}).get(arm["name"]) or Work(cache=(cache_stats or {}).get(arm["name"], {})),
            resumed,
        )
    return costs


def _record(
    name: str,
    trainable: int | None,
    total: int | None,
    size: int | None,
    measurement: Measurement | None,
    samples: Sequence[SampleResult],
    work: Work,
    resumed: bool,
) -> dict[str, Any]:
    notes = []
    wall = measurement.eval_wall_s if measurement else None
    hits = int(work.cache.get("hits") or 0)
    misses = int(work.cache.get("misses") or 0) if work.cache else None
    per_second = None
    if wall and wall > 0 and work.tokens_processed and (misses is None or misses > 0):
        per_second = round(work.tokens_processed / wall, 1)
    if hits:
        notes.append(
            f"{name}: {hits} answers from the response cache; tokens/s is measured on the "
            f"{misses or 0} computed now"
            if misses
            else f"{name}: every answer from the "
            "response cache: eval time measures the cache; see cached_compute_s"
        )
    if resumed:
        notes.append(f"{name}: resumed run; wall time and peak memory of the last attempt")
    if measurement is not None and measurement.shared_with:
        per_second = None
        notes.append(
            f"{name}: answered in the same passes as {', '.join(measurement.shared_with)}: "
            "wall time and peak memory are the group's; tokens/s not measured per arm"
        )
    if measurement is None:
        notes.append(f"{name}: wall time and peak memory not measured in this process")
    elif not measurement.memory_per_arm:
        notes.append(f"{name}: peak memory is the process's peak so far, not this arm's alone")
    recorded = work.recorded or {}
    rate = recorded.get("seconds_per_request")
    cached_s = round(hits * float(rate), 3) if hits and isinstance(rate, (int, float)) else None
    record: dict[str, Any] = {
        "trainable_params": trainable,
        "total_params": total,
        "size_on_disk_bytes": size,
        "eval_wall_s": wall,
        "items": len(samples),
        "tokens": tokens_of(samples),
        "tokens_processed": work.tokens_processed,
        "tokens_per_s": per_second,
        "requests_computed": misses,
        "requests_cached": hits if work.cache else None,
        "cached_compute_s": cached_s,
        "cached_cost_measured_at": recorded.get("measured_at") if cached_s is not None else None,
        "peak_memory_bytes": measurement.peak_memory_bytes if measurement else None,
        "memory_kind": measurement.memory_kind if measurement else None,
    }
    if notes:
        record["note"] = "; ".join(notes)
    return record


def cost_to_remember(record: Mapping[str, Any], measured_at: str) -> dict[str, Any] | None:
    """What the cache keeps of an arm's cost: seconds per computed request, when measured.

    None when nothing was computed in this run, or its wall time was shared with other
    arms or cut by a resume (then no honest per-request figure exists).
    """
    computed = record.get("requests_computed")
    wall = record.get("eval_wall_s")
    if not computed or not wall or record.get("requests_cached"):
        return None
    if "same passes as" in str(record.get("note", "")) or "resumed" in str(record.get("note", "")):
        return None
    return {
        "seconds_per_request": round(float(wall) / int(computed), 6),
        "measured_at": measured_at,
    }


def with_weight_bytes(
    costs: dict[str, dict[str, Any]],
    arms: Sequence[Mapping[str, Any]],
    measured: Mapping[str, Mapping[str, int]] | None,
) -> dict[str, dict[str, Any]]:
    """``costs`` with each arm's memory footprint and each form's own figures (see the
    module docstring); ``measured`` is ``Backend.weight_bytes()``."""
    from fteval.backends.forms import FORMS

    measured = measured or {}
    base = next((a["name"] for a in arms if a.get("kind") == "base"), None)
    for arm in arms:
        record = costs[arm["name"]]
        got = measured.get(arm["name"])
        record["memory_footprint_bytes"] = got.get("memory") if got else None
        if arm.get("kind") != "form":
            continue
        source = costs.get(str(arm.get("source_arm")), {})
        spec = FORMS.get(str(arm.get("form")))
        merged = spec is not None and spec.merge
        record["form"] = str(arm.get("form"))
        record["trainable_params"] = None
        weights = costs.get(base or "", {}) if merged else source  # merged: the base's count
        record["total_params"] = weights.get("total_params") if spec is not None else None
        record["size_on_disk_bytes"] = got.get("serialized") if got else None
        if got is None:
            note = f"{arm['name']}: no model loaded here (served, or answered from the cache)"
            record["note"] = "; ".join(n for n in (record.get("note"), note) if n)
    return costs

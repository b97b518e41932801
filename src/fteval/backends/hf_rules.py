"""Measured speed rules, kept per device and model, so that choices repeat.

A choice made by timing (several arms in one pass or one at a time; on an accelerator,
the prefix trie or the plain path) changes the last bits of the scores: per-row LoRA
computes ``x·W + s·(x·A)·B`` where a merged adapter computes ``x·(W + s·BA)``. Timings
are noisy, so a choice measured afresh in every run could differ between two runs of the
same config and break their byte-identical samples. A rule is therefore measured once per
*situation* — device, threads, library version, dtype, model config, adapters' shapes,
arms, batch settings, the shape of the work — and kept in ``speed_rules.json`` in the
user cache folder (``$FTEVAL_CACHE_DIR``); later runs in the same situation recall it.
Delete the file (or an entry) to measure again. The manifest records each rule with its
timings, when it was measured, and whether this run measured or recalled it.

No rule is kept when the folder cannot be written (the choice is then measured per run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fteval._util.paths import user_cache_dir
from fteval.records.jsonio import atomic_write_text

logger = logging.getLogger(__name__)

RULES_FILE = "speed_rules.json"
_LOCK = threading.Lock()


def device_name(device: str) -> str:
    """What the device is: the GPU's name, or the CPU's model name and its threads."""
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        return f"cuda:{torch.cuda.get_device_name(index)}"
    if device == "cpu":
        import torch

        return f"cpu:{_cpu_model()}:threads={torch.get_num_threads()}"
    return device


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class RuleBook:
    """Measured rules recalled by situation (see the module docstring).

    Args:
        folder: where ``speed_rules.json`` lives (default: the user cache folder);
            ``None`` with ``keep=False``: nothing is kept.
        keep: keep and recall rules (False: measure every time).
    """

    def __init__(self, folder: Path | None = None, *, keep: bool = True) -> None:
        self.path = (folder or user_cache_dir()) / RULES_FILE if keep else None

    def recall_or_measure(
        self, situation: Mapping[str, Any], measure: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """The rule kept for ``situation``, else ``measure()``'s, kept.

        Returns:
            The rule's record, with ``measured_at`` (UTC) and ``recalled`` (bool).
        """
        key = hashlib.sha256(
            json.dumps(situation, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        kept = self._read().get(key)
        if isinstance(kept, dict) and "record" in kept:
            return {**kept["record"], "recalled": True}
        record = {**measure(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write(key, {"situation": dict(situation), "record": record})
        return {**record, "recalled": False}

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, key: str, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        with _LOCK:
            rules = self._read()
            rules[key] = entry
            try:
                atomic_write_text(self.path, json.dumps(rules, indent=1, default=str) + "\n")
            except OSError as error:
                logger.warning("%s: cannot keep a measured rule (%s)", self.path, error)


def situation_of_model(path: str) -> str:
    """A model's config as a fingerprint (its config.json's sha256, else its path)."""
    config = Path(path) / "config.json"
    try:
        return hashlib.sha256(config.read_bytes()).hexdigest()
    except OSError:
        return path


def library_versions() -> dict[str, str | None]:
    """The torch and peft versions a rule was measured with."""
    from fteval._util.versions import installed_versions

    return dict(installed_versions(("torch", "peft", "transformers")))


def environment() -> dict[str, Any]:
    """Process settings that change speed (thread variables)."""
    return {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}

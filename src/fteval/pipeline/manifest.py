"""The manifest of a model run: config, arms with their identities, tasks, seeds, environment."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from fteval.backends import Backend
from fteval.compare import StatsOptions
from fteval.config import RunConfig
from fteval.records import SCHEMA_VERSION
from fteval.records.rundir import utc_now
from fteval.scoring import TaskInfo
from fteval.tasks import Task
from fteval.version import __version__

PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "numpy",
    "scipy",
    "sacrebleu",
    "rouge-score",
    "nltk",
    "bert-score",
)


def arm_record(backend: Backend, arm: Any) -> dict[str, Any]:
    """An arm's manifest record: name, kind, seed group and the backend's identity of it."""
    record = {
        "name": arm.name,
        "kind": arm.kind,
        "group": arm.group,
        "identity": backend.identity(arm.name).to_json(),
    }
    facts = backend.tokenizer_facts(arm.name)
    if facts is not None:
        record["identity"]["tokenizer"] = facts
    return record


def new_manifest(config: RunConfig, tasks: Sequence[Task], options: StatsOptions) -> dict[str, Any]:
    """The manifest of a run about to start (status ``running``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "fteval_version": __version__,
        "status": "running",
        "started_at": utc_now(),
        "config": config.model_dump(),
        "arms": [
            {"name": a.name, "kind": a.kind, "group": a.group, "identity": {"path": a.path}}
            for a in config.arms()
        ],
        "tasks": [{**TaskInfo.of(t).to_json(), "data_sha256": t.data_sha256} for t in tasks],
        "seeds": {"run": config.seed, "statistics": options.seed},
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": _package_versions(),
            "git_commit": _git_commit(),
        },
    }


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git_commit() -> str | None:
    """The commit of the working directory's repository, if any (the user's project)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None

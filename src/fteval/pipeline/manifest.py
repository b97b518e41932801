"""The manifest of a run directory.

It holds the config, the arms with their identities, tasks, seeds, statistics settings
and the environment.

One builder (``new_manifest``) for every way a run directory is made — a model run
(``kind: run``) and scored prediction or code files (``kind: score``) — so every run
directory records the same facts; ``run_manifest`` fills it from a ``RunConfig``.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval._util.versions import installed_versions
from fteval.backends import Backend
from fteval.compare import StatsOptions
from fteval.config import RunConfig
from fteval.records import SCHEMA_VERSION, ArmSpec
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


def arm_record(backend: Backend, arm: ArmSpec) -> dict[str, Any]:
    """An arm's manifest record: name, kind, seed group and the backend's identity of it."""
    identity = backend.identity(arm.name).to_json()
    facts = backend.tokenizer_facts(arm.name)
    if facts is not None:
        identity["tokenizer"] = facts
    return arm.record(identity)


def new_manifest(
    kind: str,
    *,
    config: Mapping[str, Any],
    arms: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]],
    seeds: Mapping[str, int],
    options: StatsOptions,
) -> dict[str, Any]:
    """The manifest of a run directory about to be written (status ``running``).

    Args:
        kind: ``"run"`` (a model run) or ``"score"`` (scored prediction or code files).
        config: the settings that made the run, JSON-ready.
        arms: the arms' records (``ArmSpec.record``).
        tasks: the tasks' records.
        seeds: ``run`` (decoding, model runs only) and ``statistics``.
        options: the statistical settings, recorded so a re-score uses them.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "fteval_version": __version__,
        "kind": kind,
        "status": "running",
        "started_at": utc_now(),
        "config": dict(config),
        "arms": [dict(a) for a in arms],
        "tasks": [dict(t) for t in tasks],
        "seeds": dict(seeds),
        "statistics": options.to_json(),
        "environment": environment(),
    }


def run_manifest(config: RunConfig, tasks: Sequence[Task], options: StatsOptions) -> dict[str, Any]:
    """The manifest of a model run about to start (arms identified by path until loaded)."""
    return new_manifest(
        "run",
        config=config.model_dump(),
        arms=[arm.record() for arm in config.arms()],
        tasks=[task_record(t) for t in tasks],
        seeds={"run": config.seed, "statistics": options.seed},
        options=options,
    )


def task_record(task: Task) -> dict[str, Any]:
    """A task's manifest record: what scoring needs, its data's hashes, the split it was
    evaluated on, the Hub dataset its data is (``dataset_record``), and the shots and
    limit as used (``num_fewshot``, ``limit``, ``n_available``; ``limit_sampling`` and
    ``limit_seed`` when a limit was set)."""
    return {
        **TaskInfo.of(task).to_json(),
        "data_sha256": task.data_sha256,
        "split": task.split,
        "dataset": dataset_record(task),
        **task.selection_record(),
    }


def dataset_record(task: Task) -> dict[str, Any] | None:
    """The Hugging Face dataset a task's data is, or None (a task's own files).

    Returns:
        ``{"id", "config", "revision", "loaded_from"}``: ``loaded_from`` is ``hub`` when
        fteval read the rows from the Hub (at ``revision``; None: unpinned), ``local copy``
        when they came from a copy (``--data``, or a package's copy as for HumanEval): the
        same dataset, at a revision fteval cannot know (None).
    """
    from fteval.tasks.builtin import hub_dataset

    hub = hub_dataset(task.source)
    if hub is not None:
        from_hub = task.data_sha256.get("hub") == hub.describe()
        return {
            "id": hub.path,
            "config": hub.name,
            "revision": hub.revision if from_hub else None,
            "loaded_from": "hub" if from_hub else "local copy",
        }
    spec = getattr(task.loader, "spec", None)  # a task file's keys (tasks.loader.TaskLoader)
    hf = getattr(spec, "hf_dataset", None)
    if hf is None or Path(hf.path).exists():  # a save_to_disk folder is no Hub id
        return None
    return {"id": hf.path, "config": hf.name, "revision": hf.revision, "loaded_from": "hub"}


def environment() -> dict[str, Any]:
    """Python, platform, installed versions of the packages that shape numbers, git commit."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {k: v for k, v in installed_versions(PACKAGES).items() if v is not None},
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    """The commit of the working directory's repository, if any (the user's project)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None

"""The Python API: what ``fteval run`` does, for notebooks and scripts.

>>> results = fteval.evaluate("gpt2", adapters={"lora": "./adapter"}, tasks=["my_task.yaml"])
>>> [c for c in results.comparisons if c.verdict == "improved"]
>>> results.comparison("my_task", "acc", "lora").delta
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.backends import BACKENDS, Backend
from fteval.compare import StatsOptions
from fteval.compare.results import build_results
from fteval.config import RunConfig, build_config
from fteval.pipeline.run import execute
from fteval.records import SampleResult
from fteval.records.rundir import RunDirectory
from fteval.results import Advice, Arm, Comparison, Results, Score, TaskRecord
from fteval.scoring import TaskInfo

__all__ = [
    "Advice",
    "Arm",
    "Comparison",
    "Results",
    "Run",
    "Score",
    "StatsOptions",
    "TaskRecord",
    "evaluate",
    "load_run",
    "rescore",
    "run",
]


def evaluate(
    base: str,
    *,
    tasks: Sequence[str],
    adapters: Mapping[str, str] | None = None,
    full: str | None = None,
    out: str | Path | None = None,
    backend: str | Backend = "hf",
    progress: bool = True,
    judge: Any = None,
    **options: Any,
) -> Results:
    """Evaluate base, adapters and full fine-tune on the same items; return the results.

    Args:
        base: base model directory or hub id.
        tasks: built-in task names or task YAML paths.
        adapters: adapter name -> adapter directory.
        full: fully fine-tuned checkpoint directory, if any.
        out: run directory (default ``runs/<UTC time>``).
        backend: ``"hf"`` (default), ``"fake"``, or a ready ``Backend`` instance.
        progress: show progress bars on stderr.
        judge: the judge of judged tasks: a model directory or hub id, or a ready
            ``pipeline.judge.Judge``.
        **options: any other ``RunConfig`` field (``batch_size``, ``dtype``, ``device``,
            ``limit``, ``seed``, ``max_length``, ``alpha``, ``correction_scope``...).

    Returns:
        The typed results (``Results.to_dict()`` is results.json), with ``run_dir`` set.

    Raises:
        ConfigError: a bad option, task or arm (before any model loads).
        InputError: a bad data row (before any model loads).
    """
    ready = backend if isinstance(backend, Backend) else None
    if isinstance(judge, str):
        options["judge"], judge = judge, None
    # a ready backend is used as given; the config only records which kind it is
    backend_name = backend if ready is None else (ready.name if ready.name in BACKENDS else "hf")
    config = build_config(
        {
            "base": base,
            "tasks": list(tasks),
            "adapters": dict(adapters or {}),
            "full": full,
            "out": str(out) if out is not None else None,
            "backend": backend_name,
            **options,
        }
    )
    return run(config, backend=ready, progress=progress, judge=judge)


def run(
    config: RunConfig,
    *,
    backend: Backend | None = None,
    progress: bool = True,
    judge: Any = None,
) -> Results:
    """Run a validated ``RunConfig``; the typed results, with ``run_dir`` set.

    ``judge`` (a ``pipeline.judge.Judge``) replaces the config's judge model.
    """
    results, run_dir = execute(config, backend=backend, progress=progress, judge=judge)
    return Results.from_dict(results, run_dir=run_dir)


@dataclass(frozen=True)
class Run:
    """A saved run directory, read back.

    Attributes:
        path: the run directory.
        manifest: manifest.json (config, arms, tasks, seeds, environment, status).
        results: results.json, typed.
        samples: every line of samples.jsonl.
    """

    path: Path
    manifest: dict[str, Any]
    results: Results
    samples: list[SampleResult]


def load_run(path: str | Path) -> Run:
    """Read a run directory's manifest, results and samples."""
    directory = RunDirectory(path)
    return Run(
        directory.path,
        directory.read_manifest(),
        Results.from_dict(directory.read_results(), run_dir=directory.path),
        directory.read_samples(),
    )


def rescore(path: str | Path, *, stats_options: StatsOptions | None = None) -> Results:
    """Rebuild a run's results from its samples and manifest alone (no model).

    Args:
        path: the run directory.
        stats_options: other statistical settings; default: those the run was made with.
    """
    directory = RunDirectory(path)
    manifest = directory.read_manifest()
    tasks = [TaskInfo.from_json(t) for t in manifest["tasks"]]
    options = stats_options or recorded_options(manifest)
    from fteval.pipeline.judge import read_judgments

    judgments = read_judgments(directory.path)
    results = build_results(
        manifest["arms"], tasks, directory.read_samples(), options, judgments, manifest=manifest
    )
    return Results.from_dict(results, run_dir=directory.path)


def recorded_options(manifest: Mapping[str, Any]) -> StatsOptions:
    """The statistical settings a run directory was made with (older manifests too)."""
    if "statistics" in manifest:
        return StatsOptions.from_json(manifest["statistics"])
    if manifest.get("kind") not in ("score", "compare"):
        return StatsOptions.from_settings(RunConfig(**manifest["config"]))
    return StatsOptions(seed=manifest["seeds"]["statistics"])

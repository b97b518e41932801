"""The Python API: what ``fteval run`` does, for notebooks and scripts.

>>> results = fteval.evaluate("gpt2", adapters={"lora": "./adapter"}, tasks=["my_task.yaml"])
>>> [r for r in results["comparisons"] if r["verdict"] == "improved"]
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
from fteval.scoring import TaskInfo


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
) -> dict[str, Any]:
    """Evaluate base, adapters and full fine-tune on the same items; return results.

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
            ``limit``, ``seed``, ``max_length``, ``allow_base_mismatch``...).

    Returns:
        The results object (the record contract of results.json), with ``run_dir`` added.
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
) -> dict[str, Any]:
    """Run a validated ``RunConfig``; results with ``run_dir`` added.

    ``judge`` (a ``pipeline.judge.Judge``) replaces the config's judge model.
    """
    results, run_dir = execute(config, backend=backend, progress=progress, judge=judge)
    return {**results, "run_dir": str(run_dir)}


@dataclass(frozen=True)
class Run:
    """A saved run directory, read back."""

    path: Path
    manifest: dict[str, Any]
    results: dict[str, Any]
    samples: list[SampleResult]


def load_run(path: str | Path) -> Run:
    """Read a run directory's manifest, results and samples."""
    directory = RunDirectory(path)
    return Run(
        directory.path,
        directory.read_manifest(),
        directory.read_results(),
        directory.read_samples(),
    )


def rescore(path: str | Path, *, stats_options: StatsOptions | None = None) -> dict[str, Any]:
    """Rebuild a run's results from its samples and manifest alone (no model)."""
    directory = RunDirectory(path)
    manifest = directory.read_manifest()
    tasks = [TaskInfo.from_json(t) for t in manifest["tasks"]]
    if stats_options is None and manifest.get("kind") == "compare":
        statistics = manifest["config"]["statistics"]
        margins = manifest["config"].get("non_inferiority") or None
        stats_options = StatsOptions(**{**statistics, "margins": margins})
    if stats_options is None and manifest.get("kind") != "score":
        from fteval.config import RunConfig
        from fteval.pipeline.run import stats_options_of

        stats_options = stats_options_of(RunConfig(**manifest["config"]))
    options = stats_options or StatsOptions(seed=manifest["seeds"]["statistics"])
    from fteval.pipeline.judge import read_judgments

    judgments = read_judgments(directory.path)
    return build_results(
        manifest["arms"], tasks, directory.read_samples(), options, judgments, manifest=manifest
    )

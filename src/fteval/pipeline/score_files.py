"""``fteval score``: score prediction files with no model, into the same records as a run.

Each file is one arm (named ``NAME=PATH`` or by the file's stem); the first is the
reference every other arm is compared with. Alternatively one file holds every arm,
told apart by ``arm_field``. Rows are paired across arms by ``id_field`` (default: row
number). The reference field holds a string or a list of strings (several references).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval.compare import StatsOptions
from fteval.compare.results import build_results
from fteval.data.checks import check_unique_ids, require_field
from fteval.data.readers import Row, read_rows
from fteval.errors import ConfigError, InputError
from fteval.metrics import make_metrics
from fteval.records import SCHEMA_VERSION, SampleResult, append_jsonl
from fteval.records.rundir import RunDirectory, default_run_dir, utc_now
from fteval.report.markdown import render_markdown
from fteval.scoring import TaskInfo, attach_scores
from fteval.version import __version__

CLASSIFICATION_PREFIXES = ("acc", "f1_", "precision_", "recall_")


@dataclass(frozen=True)
class ScoreOptions:
    """Field names and metric choices of ``fteval score``."""

    metrics: tuple[Any, ...]
    prediction_field: str = "prediction"
    reference_field: str = "reference"
    id_field: str | None = "id"
    arm_field: str | None = None
    prompt_field: str | None = None
    task_name: str = "scored"
    labels: tuple[str, ...] = ()


def parse_file_args(values: Sequence[str]) -> list[tuple[str, str]]:
    """``["base=a.jsonl", "b.jsonl"]`` -> ``[("base", "a.jsonl"), ("b", "b.jsonl")]``."""
    arms = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or Path(value).exists():
            name, path = Path(value).stem, value
        arms.append((name, path))
    names = [n for n, _ in arms]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"arm names repeat: {duplicates}; name files as NAME=PATH")
    return arms


def load_samples(files: Sequence[tuple[str, str]], options: ScoreOptions) -> list[SampleResult]:
    """Every row of every file as a SampleResult; errors name file, row and field."""
    samples: list[SampleResult] = []
    for name, path in files:
        rows = read_rows(path)
        if options.arm_field:
            groups: dict[str, list[Row]] = {}
            for row in rows:
                arm = str(require_field(path, row, options.arm_field))
                groups.setdefault(arm, []).append(row)
            for arm, arm_rows in groups.items():
                samples += _samples(path, arm, arm_rows, options)
        else:
            samples += _samples(path, name, rows, options)
    _check_pairing(samples)
    return samples


def _samples(path: str, arm: str, rows: list[Row], options: ScoreOptions) -> list[SampleResult]:
    ids = (
        check_unique_ids(path, rows, options.id_field)
        if options.id_field and any(options.id_field in r.fields for r in rows)
        else [str(r.number) for r in rows]
    )
    out = []
    for example_id, row in zip(ids, rows):
        prediction = require_field(path, row, options.prediction_field)
        if not isinstance(prediction, (str, int, float)):
            raise InputError(
                path, row.number, options.prediction_field, "expected text", prediction
            )
        target = _reference(path, row, options.reference_field)
        prompt = str(row.fields.get(options.prompt_field, "")) if options.prompt_field else ""
        out.append(
            SampleResult(
                task=options.task_name,
                example_id=example_id,
                arm=arm,
                prompt_hash=hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16],
                target=target,
                prediction=str(prediction),
                generation=str(prediction),
                meta={"row": row.number, "file": path},
            )
        )
    return out


def _reference(path: str, row: Row, field: str) -> Any:
    value = require_field(path, row, field)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value if len(value) > 1 else value[0]
    raise InputError(path, row.number, field, "expected a string or a list of strings", value)


def _check_pairing(samples: Sequence[SampleResult]) -> None:
    """Every arm must hold the same ids, once each, with the same references."""
    by_arm: dict[str, dict[str, SampleResult]] = {}
    for sample in samples:
        items = by_arm.setdefault(sample.arm, {})
        if sample.example_id in items:
            raise ConfigError(
                f"{sample.meta.get('file')}: arm {sample.arm!r} has id {sample.example_id!r} "
                f"twice (rows {items[sample.example_id].meta.get('row')} and "
                f"{sample.meta.get('row')})"
            )
        items[sample.example_id] = sample
    reference_arm, reference = next(iter(by_arm.items()))
    for arm, items in by_arm.items():
        if items.keys() != reference.keys():
            missing = sorted(reference.keys() - items.keys())[:3]
            extra = sorted(items.keys() - reference.keys())[:3]
            raise ConfigError(
                f"arm {arm!r} does not have the same ids as {reference_arm!r} (missing e.g. "
                f"{missing}, extra e.g. {extra}); paired scoring needs the same items"
            )
        for example_id, sample in items.items():
            theirs = reference[example_id]
            if sample.target != theirs.target:
                raise InputError(
                    sample.meta.get("file", ""),
                    sample.meta.get("row"),
                    "reference",
                    f"id {example_id!r} has another reference than in "
                    f"{theirs.meta.get('file')} row {theirs.meta.get('row')} "
                    f"({theirs.target!r}); arms must be scored against the same references",
                    sample.target,
                )


def _labels(samples: Sequence[SampleResult], options: ScoreOptions) -> tuple[str, ...]:
    if options.labels:
        return options.labels
    names = [m if isinstance(m, str) else m.get("name", "") for m in options.metrics]
    if not any(name.startswith(CLASSIFICATION_PREFIXES) for name in names):
        return ()
    return tuple(sorted({str(s.target) for s in samples}))


def _arm_records(arm_names: Sequence[str], files: Sequence[tuple[str, str]]) -> list[dict]:
    """The first arm is the reference (kind ``base``); the others are compared with it."""
    paths = dict(files)
    return [
        {
            "name": arm,
            "kind": "base" if index == 0 else "model",
            "group": arm,
            "identity": {"file": paths.get(arm, files[0][1])},
        }
        for index, arm in enumerate(arm_names)
    ]


def score_files(
    files: Sequence[tuple[str, str]],
    options: ScoreOptions,
    *,
    out: str | Path | None = None,
    stats_options: StatsOptions | None = None,
) -> tuple[dict[str, Any], Path]:
    """Score prediction files; write manifest, samples, results and report.

    Returns:
        The results object (with ``empty_predictions`` per arm) and the run directory.
    """
    samples = load_samples(files, options)
    labels = _labels(samples, options)
    try:
        make_metrics(options.metrics, labels=labels or None)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    arm_names = list(dict.fromkeys(s.arm for s in samples))
    arms = _arm_records(arm_names, files)
    n_items = len(samples) // max(1, len(arm_names))
    task = TaskInfo(options.task_name, "scored", options.metrics, labels, n_items, "")
    config = {**vars(options), "files": [list(f) for f in files]}
    return write_scored_run(samples, arms, task, config, out=out, stats_options=stats_options)


def write_scored_run(
    samples: Sequence[SampleResult],
    arms: Sequence[dict[str, Any]],
    task: TaskInfo,
    config: dict[str, Any],
    *,
    out: str | Path | None,
    stats_options: StatsOptions | None,
    extra_files: dict[str, Sequence[dict[str, Any]]] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Write a run directory for samples scored without a model; return results."""
    stats = stats_options or StatsOptions()
    run_dir = RunDirectory(out or default_run_dir())
    run_dir.create()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "fteval_version": __version__,
        "kind": "score",
        "status": "running",
        "started_at": utc_now(),
        "config": config,
        "arms": list(arms),
        "tasks": [task.to_json()],
        "seeds": {"statistics": stats.seed},
    }
    run_dir.write_manifest(manifest)
    metrics = task.build_metrics()
    for arm in arms:
        attach_scores([s for s in samples if s.arm == arm["name"]], metrics)
    run_dir.append_samples(samples)
    for name, records in (extra_files or {}).items():
        append_jsonl(run_dir.path / name, records)
    results = build_results(arms, [task], samples, stats)
    results["empty_predictions"] = {
        arm["name"]: sum(
            1 for s in samples if s.arm == arm["name"] and not str(s.prediction).strip()
        )
        for arm in arms
    }
    run_dir.write_results(results)
    run_dir.write_report(render_markdown(results, manifest))
    manifest.update(status="complete", finished_at=utc_now())
    run_dir.write_manifest(manifest)
    return results, run_dir.path

"""``fteval score``: score prediction files with no model, into the same records as a run.

Each file is one arm (named ``NAME=PATH`` or by the file's stem); the first is the
reference every other arm is compared with. Alternatively one file holds every arm,
told apart by ``arm_field``. Rows are paired across arms by ``id_field`` (default: row
number). The reference field holds one value or a list (several references).
Predictions and references are text by one rule (``fteval.data.checks.scalar_text``):
strings as they are, ``true``/``false`` as ``"true"``/``"false"``, numbers as their
decimal digits (``1`` and ``1.0`` are both ``"1"``); null, lists (for predictions) and
objects are errors naming file, row and field.

Everything is checked before the run directory is made: options, every row, that each
metric fits prediction files and accepts the references. A failure after that marks
the manifest ``failed`` with the error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fteval._util.paths import check_dir_target
from fteval.compare import StatsOptions
from fteval.compare.results import build_results
from fteval.data.checks import check_unique_ids, reference_texts, require_field, scalar_text
from fteval.data.readers import Row, read_rows
from fteval.errors import ConfigError, InputError
from fteval.metrics import Metric, make_metrics
from fteval.pipeline.manifest import new_manifest
from fteval.records import (
    ArmSpec,
    SampleResult,
    append_jsonl,
    is_empty_prediction,
    prompt_hash,
)
from fteval.records.integrity import check_inputs_survive
from fteval.records.rundir import RunDirectory, default_run_dir, utc_now
from fteval.report.files import write_reports
from fteval.scoring import TaskInfo, attach_scores

CLASSIFICATION_PREFIXES = ("acc", "f1_", "precision_", "recall_")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


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
        if not path.strip():
            raise ConfigError(f"{value!r}: no file given; write NAME=PATH or PATH")
        arms.append((name, path))
    for name, path in arms:
        check_name(name, f"the arm name of {path}", hint="name the file's arm as NAME=PATH")
    names = [n for n, _ in arms]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"arm names repeat: {duplicates}; name files as NAME=PATH")
    return arms


def check_name(name: str, what: str, *, hint: str = "") -> str:
    """``name`` if it is 1-64 letters, digits, ``_ . - @``, starting with a letter or digit.

    The whole name must match (a trailing newline does not pass).

    Raises:
        ConfigError: naming ``what`` and the value.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{what}: {name!r} must be 1-64 letters, digits, '_', '.', '-' or '@', starting "
            f"with a letter or digit{'; ' + hint if hint else ''}"
        )
    return name


def check_options(options: ScoreOptions) -> None:
    """Field names present, task name and labels well formed (before any file is read)."""
    check_name(options.task_name, "--task-name")
    for flag, field in (
        ("--prediction-field", options.prediction_field),
        ("--reference-field", options.reference_field),
        ("--arm-field", options.arm_field),
        ("--prompt-field", options.prompt_field),
    ):
        if field is not None and not field.strip():
            raise ConfigError(f"{flag}: an empty field name")
    empty = [label for label in options.labels if not label.strip()]
    if empty:
        raise ConfigError(f"--labels: an empty label in {list(options.labels)!r}")
    repeated = sorted({x for x in options.labels if options.labels.count(x) > 1})
    if repeated:
        raise ConfigError(f"--labels: {repeated} given more than once")


def load_samples(files: Sequence[tuple[str, str]], options: ScoreOptions) -> list[SampleResult]:
    """Every row of every file as a SampleResult; errors name file, row and field."""
    samples: list[SampleResult] = []
    for name, path in files:
        rows = read_rows(path)
        if options.arm_field:
            groups: dict[str, list[Row]] = {}
            for row in rows:
                arm = scalar_text(
                    path, row, options.arm_field, require_field(path, row, options.arm_field)
                )
                if not NAME.fullmatch(arm):
                    raise InputError(
                        path,
                        row.number,
                        options.arm_field,
                        "an arm name must be 1-64 letters, digits, '_', '.', '-' or '@', "
                        "starting with a letter or digit",
                        arm,
                    )
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
        field = options.prediction_field
        prediction = scalar_text(path, row, field, require_field(path, row, field))
        target = reference_texts(path, row, options.reference_field)
        prompt = _prompt(path, row, options.prompt_field)
        out.append(
            SampleResult(
                task=options.task_name,
                example_id=example_id,
                arm=arm,
                prompt_hash=prompt_hash(prompt),
                target=target,
                prediction=prediction,
                generation=prediction,
                meta={"row": row.number, "file": path},
            )
        )
    return out


def _prompt(path: str, row: Row, field: str | None) -> str:
    if field is None or row.fields.get(field) is None:
        return ""
    return scalar_text(path, row, field, row.fields[field])


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
        check_labels_cover(samples, options.labels)
        return options.labels
    names = [m if isinstance(m, str) else m.get("name", "") for m in options.metrics]
    if not any(name.startswith(CLASSIFICATION_PREFIXES) for name in names):
        return ()
    return tuple(sorted({str(s.target) for s in samples}))


def check_labels_cover(samples: Sequence[SampleResult], labels: Sequence[str]) -> None:
    """Every reference must be one of ``--labels``; the error lists those that are not."""
    missing: dict[str, SampleResult] = {}
    for sample in samples:
        targets = sample.target if isinstance(sample.target, list) else [sample.target]
        for target in targets:
            if target not in labels and target not in missing:
                missing[target] = sample
    if missing:
        first = next(iter(missing.values()))
        shown = ", ".join(repr(m) for m in list(missing)[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise InputError(
            first.meta.get("file", ""),
            first.meta.get("row"),
            "reference",
            f"--labels {','.join(labels)} do not cover the references {shown}{more}; "
            "list every label the references use",
        )


def scored_arm(index: int, name: str, path: str, **identity: Any) -> dict[str, Any]:
    """A scored file's arm record; the identity names the file.

    The first file is the reference (kind ``base``), the others are ``model`` arms
    compared with it.
    """
    spec = ArmSpec(name, "base" if index == 0 else "model", path, name)
    return spec.record({"file": path, **identity})


def _arm_records(arm_names: Sequence[str], files: Sequence[tuple[str, str]]) -> list[dict]:
    paths = dict(files)
    return [
        scored_arm(index, arm, paths.get(arm, files[0][1])) for index, arm in enumerate(arm_names)
    ]


def score_files(
    files: Sequence[tuple[str, str]],
    options: ScoreOptions,
    *,
    out: str | Path | None = None,
    stats_options: StatsOptions | None = None,
) -> tuple[dict[str, Any], Path]:
    """Score prediction files; write manifest, samples, results and report.

    Raises:
        ConfigError, InputError: bad options, rows, or metrics that do not fit the files
            (all before the run directory is made).

    Returns:
        The results object (with ``empty_predictions`` per arm) and the run directory.
    """
    check_options(options)
    if out is not None:
        check_dir_target(out, "--out")
    check_inputs_survive(out, [path for _, path in files])
    samples = load_samples(files, options)
    labels = _labels(samples, options)
    for spec in options.metrics:
        name = spec if isinstance(spec, str) else spec.get("name", "")
        if str(name).startswith("pass@"):
            raise ConfigError(
                f"--metric {name}: scores generated code by running it; give the problems "
                "with --problems FILE and the k values with --k (repeatable) instead"
            )
    try:
        metrics = make_metrics(options.metrics, labels=labels or None)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_metrics_fit(metrics, [s.target for s in samples if s.arm == samples[0].arm])
    arm_names = list(dict.fromkeys(s.arm for s in samples))
    arms = _arm_records(arm_names, files)
    n_items = len(samples) // max(1, len(arm_names))
    task = TaskInfo(options.task_name, "scored", options.metrics, labels, n_items, "")
    config = {**vars(options), "files": [list(f) for f in files]}
    return write_scored_run(samples, arms, task, config, out=out, stats_options=stats_options)


def check_metrics_fit(metrics: Sequence[Metric], targets: Sequence[Any]) -> None:
    """Each metric must read what prediction files hold and accept their references.

    Raises:
        ConfigError: naming the metric and what to use instead.
    """
    for metric in metrics:
        if metric.input_kind == "loglikelihood":
            raise ConfigError(
                f"--metric {metric.key}: scores a model's log-likelihoods of a text set, which "
                "prediction files do not hold; use fteval run with a perplexity task"
            )
        if metric.input_kind == "executions":
            raise ConfigError(
                f"--metric {metric.key}: scores generated code by running it; give the "
                "problems with --problems FILE and the k values with --k (repeatable) "
                "instead of --metric"
            )
        if metric.reads != "prediction":
            raise ConfigError(
                f"--metric {metric.key}: reads each choice's log-likelihood ({metric.reads}), "
                "which prediction files do not hold; use acc"
            )
        check = getattr(metric, "check_targets", None)
        if check is None:
            continue
        try:
            check(targets)
        except ValueError as error:
            raise ConfigError(f"--metric {metric.key}: {error}") from None


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
    """Write a run directory for samples scored without a model; return results.

    The samples are scored before the directory is made, so a metric that refuses the
    data leaves nothing behind; a failure after that marks the manifest ``failed``.

    Raises:
        InputError: a metric refuses the data (the message names the metric).
    """
    stats = stats_options or StatsOptions()
    metrics = task.build_metrics()
    for arm in arms:
        arm_samples = [s for s in samples if s.arm == arm["name"]]
        try:
            attach_scores(arm_samples, metrics)
        except ValueError as error:
            source = arm_samples[0].meta.get("file", arm["name"]) if arm_samples else arm["name"]
            raise InputError(source, None, None, f"cannot be scored: {error}") from None
    run_dir = RunDirectory(out or default_run_dir())
    run_dir.create()
    manifest = new_manifest(
        "score",
        config=config,
        arms=arms,
        tasks=[task.to_json()],
        seeds={"statistics": stats.seed},
        options=stats,
    )
    run_dir.write_manifest(manifest)
    try:
        results = _write_records(run_dir, samples, arms, task, manifest, stats, extra_files)
    except BaseException as error:
        run_dir.mark_failed(manifest, error)
        raise
    return results, run_dir.path


def _write_records(
    run_dir: RunDirectory,
    samples: Sequence[SampleResult],
    arms: Sequence[dict[str, Any]],
    task: TaskInfo,
    manifest: dict[str, Any],
    stats: StatsOptions,
    extra_files: dict[str, Sequence[dict[str, Any]]] | None,
) -> dict[str, Any]:
    run_dir.append_samples(samples)
    for name, records in (extra_files or {}).items():
        append_jsonl(run_dir.path / name, records)
    results = build_results(arms, [task], samples, stats)
    results["empty_predictions"] = {
        arm["name"]: sum(
            1 for s in samples if s.arm == arm["name"] and is_empty_prediction(s.prediction)
        )
        for arm in arms
    }
    run_dir.write_results(results)
    finished = {"status": "complete", "finished_at": utc_now()}
    write_reports(run_dir, results, {**manifest, **finished}, samples=samples, items=[])
    manifest.update(finished)
    run_dir.write_manifest(manifest)
    return results

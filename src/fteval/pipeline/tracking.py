"""``--log-to mlflow``: log a finished run directory to MLflow.

Off by default; needs the ``fteval[mlflow]`` extra. Where it goes: the tracking server
``MLFLOW_TRACKING_URI`` names when it is set; otherwise a SQLite store inside the run
directory (``<run_dir>/mlruns/mlflow.db``, artefacts under ``<run_dir>/mlruns/artifacts``),
which works offline, keeps the log beside the records it describes and leaves the
current folder alone (``mlflow ui --backend-store-uri sqlite:///<run_dir>/mlruns/mlflow.db``
shows it). Experiment ``MLFLOW_EXPERIMENT_NAME`` (default ``fteval``); one MLflow run per
call, named after the run directory's folder, holding:

* parameters: the run config (flattened, ``config.*``), each arm's kind, path and
  identity (``arm.<name>.*``), each task's split, Hub dataset, shots and limit as used
  (``task.<name>.*``), task groups' members, the statistics settings (``statistics.*``),
  the seeds and fteval's version;
* metrics, in the metric's own units as in results.json (accuracy in [0, 1]), one per
  number of every results section, named ``<section>/<row>/<field>``: the section's name
  in results.json, then what identifies the row (``SECTION_KEYS``: task, perturbation,
  slice, arm, metric...), then the field. A comparison nested in a row adds the field it
  sits in and logs its ``COMPARISON_FIELDS``:
  ``robustness/sst2/typo/lora/acc/vs_base/delta``, ``.../ci_low``, ``.../p_adjusted``.
  The main table: ``scores/<task>/<arm>/<metric>/value`` (``ci_low``, ``ci_high``, ``n``)
  and ``comparisons/<task>/<arm>_vs_<reference>/<metric>/delta`` (and the other fields).
  Series (training losses, checkpoint scores) are logged at their steps. Booleans are 1/0;
  undefined numbers are left out;
* tags: each comparison's verdict (the comparison's name + ``/verdict``), the headline's
  verdicts (``headline/<arm>/<task metric>``) and notes (``headline/<label>``, lower case:
  ``headline/ranking``, ``headline/truncated``), the CI gate's outcome (``gate``), and
  the headline as the run's description (``mlflow.note.content``);
* artefacts: report.html, report.md, results.json and manifest.json.

Names keep only the characters MLflow accepts (letters, digits, ``_ - . / space :``);
any other character becomes ``_``, as does a ``/`` inside one part of a name. A name
longer than MLflow's 250 characters is cut and ends in a hash of the whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fteval.compare.sections import RESULTS_SECTIONS
from fteval.errors import ConfigError
from fteval.records.rows import Comparison, Row
from fteval.records.rundir import MANIFEST, REPORT_HTML, REPORT_MD, RESULTS, RunDirectory

logger = logging.getLogger(__name__)

TRACKERS = ("mlflow",)
DEFAULT_EXPERIMENT = "fteval"
STORE_FOLDER = "mlruns"
MAX_PARAM_CHARS = 6000  # MLflow's limits: a parameter's value,
MAX_TAG_CHARS = 8000  # a tag's value,
MAX_KEY_CHARS = 250  # any name,
MAX_BATCH = 1000  # entities per log_batch call,
MAX_BATCH_PARAMS_TAGS = 100  # parameters or tags per call
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /:]")

SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "scores": ("task", "arm", "metric"),
    "advice": ("task", "arm", "metric"),
    "classification": ("task", "arm"),
    "seed_groups": ("group", "task", "metric"),
    "generation": ("task", "arm"),
    "truncation": ("task",),
    "judge": ("task", "arm", "opponent"),
    "robustness": ("task", "perturbation", "arm", "metric"),
    "slices": ("task", "field", "slice", "arm", "metric"),
    "slice_summary": ("task", "field", "arm", "metric"),
    "calibration": ("task", "arm"),
    "training": ("arm",),
    "checkpoints": ("series", "task", "metric"),
    "contamination": ("task", "source"),
    "deployment": ("task", "arm", "metric"),
    "cost": ("arm",),
}
"""Per results section logged as metrics, the fields that name a row, in name order."""

PARAMETER_SECTIONS = ("arms", "tasks", "task_groups")
"""Sections that describe the run rather than measure it: logged as parameters."""

COMPARISON_SECTION = "comparisons"
"""The main table: rows named ``<task>/<arm>_vs_<reference>[/<subject>...]/<metric>``."""

NESTED_KEYS = ("arm", "metric")
"""The fields that name a row nested in a tuple (a contamination row's ``by_arm``)."""

SERIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "training": ("steps", ("train_loss", "eval_loss")),
    "checkpoints": ("steps", ("values", "validation_values")),
}
"""Sections with per-step series: the steps field and the fields logged at those steps."""

COMPARISON_FIELDS = (
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "value",
    "reference_value",
    "se",
    "mde",
    "n",
    "significant",
    "non_inferiority",
    "non_inferiority_margin",
)
"""The numbers logged of every comparison, wherever it sits."""

DISPLAY_FIELDS = ("scale", "higher_is_better")
"""Fields that say how to show a number, not what was measured: not logged."""


def require_tracker(target: str) -> None:
    """Fail (``ConfigError``) unless ``target`` is a known, installed tracker."""
    if target not in TRACKERS:
        raise ConfigError(f"--log-to {target!r}: unknown tracker; choose one of {TRACKERS}")
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "--log-to mlflow needs MLflow, which is not installed: pip install 'fteval[mlflow]'"
        )


def safe_name(text: str) -> str:
    """``text`` with characters MLflow does not accept in names replaced by ``_`` (and no
    ``..``, which MLflow refuses as a path traversal), at most 250 characters (a longer
    name is cut and ends in a hash of the whole, so distinct names stay distinct)."""
    cleaned = _UNSAFE.sub("_", text)
    while ".." in cleaned:
        cleaned = cleaned.replace("..", "._")
    if len(cleaned) > MAX_KEY_CHARS:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        cleaned = f"{cleaned[: MAX_KEY_CHARS - 13]}_{digest}"
    return cleaned


def _part(value: Any) -> str:
    """One part of a name: a ``/`` inside it would read as another level."""
    return str(value).replace("/", "_")


def flatten(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """(dotted key, string value) pairs of a nested mapping, for MLflow parameters."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        yield safe_name(prefix), text[:MAX_PARAM_CHARS]


# ---- parameters ----


def parameters(manifest: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, str]:
    """Everything logged as a parameter (see the module docstring)."""
    params = dict(flatten(manifest.get("config", {}), "config"))
    for arm in results.get("arms") or manifest.get("arms", []):
        name = _part(arm["name"])
        params[safe_name(f"arm.{name}.kind")] = str(arm.get("kind", ""))
        params[safe_name(f"arm.{name}.group")] = str(arm.get("group") or arm["name"])
        identity = dict(arm.get("identity") or {})
        path = str(identity.pop("path", identity.pop("file", "")))
        params[safe_name(f"arm.{name}.path")] = path[:MAX_PARAM_CHARS]
        params.update(flatten(identity, f"arm.{name}.identity"))
    for task in manifest.get("tasks", []):
        params.update(_task_parameters(task))
    for group in results.get("task_groups", []):
        key = safe_name(f"task_group.{_part(group['name'])}.members")
        params[key] = ",".join(group.get("members", []))[:MAX_PARAM_CHARS]
    params.update(flatten(results.get("statistics", {}), "statistics"))
    params.update(flatten(manifest.get("seeds", {}), "seeds"))
    params["fteval_version"] = str(manifest.get("fteval_version", ""))
    params["run_kind"] = str(manifest.get("kind", "run"))
    return params


def _task_parameters(task: Mapping[str, Any]) -> dict[str, str]:
    """A task's split, data, shots and limit as used (the manifest's task record)."""
    prefix = f"task.{_part(task['name'])}"
    out = {}
    for key in (
        "kind", "role", "primary_metric", "source", "split", "num_fewshot", "limit",
        "limit_sampling", "limit_seed", "n_examples", "n_available",
    ):  # fmt: skip
        if task.get(key) is not None:
            out[safe_name(f"{prefix}.{key}")] = str(task[key])[:MAX_PARAM_CHARS]
    dataset = task.get("dataset") or {}
    if dataset.get("id"):
        config = f"/{dataset['config']}" if dataset.get("config") else ""
        revision = dataset.get("revision") or dataset.get("loaded_from") or "unpinned"
        out[safe_name(f"{prefix}.dataset")] = f"{dataset['id']}{config}@{revision}"
    return out


# ---- metrics and tags ----


@dataclass(frozen=True)
class Logged:
    """What one run directory logs as metrics and tags (see the module docstring).

    Attributes:
        metrics: name -> value, in the metric's own units.
        series: name -> (step, value) pairs, in step order.
        tags: name -> text.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def metric(self, name: str, value: Any) -> None:
        """Add ``value`` under ``name`` when it is a defined number (a bool as 1/0)."""
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            self.metrics[_unique(self.metrics, safe_name(name))] = float(value)

    def tag(self, name: str, text: Any) -> None:
        """Add ``text`` under ``name`` (cut to MLflow's limit)."""
        self.tags[_unique(self.tags, safe_name(name))] = str(text)[:MAX_TAG_CHARS]


def _unique(taken: Mapping[str, Any], name: str) -> str:
    """``name``, or ``name_2``, ``name_3``... when two rows would share it (a name must not
    silently overwrite another number)."""
    if name not in taken:
        return name
    logger.warning("two logged values share the name %s; the second gets a suffix", name)
    count = 2
    while f"{name}_{count}" in taken:
        count += 1
    return f"{name}_{count}"


def logged_values(
    results: Mapping[str, Any], sections: Mapping[str, type[Row]] = RESULTS_SECTIONS
) -> Logged:
    """Every number of every results section as metrics and series, every verdict as a tag.

    Args:
        results: the results object (as results.json holds it).
        sections: each list section's row type (default ``compare.sections.RESULTS_SECTIONS``):
            rows are read through their types, so nested comparisons are found wherever
            they sit.
    """
    out = Logged()
    for section, row_type in sections.items():
        if section in PARAMETER_SECTIONS:
            continue
        for data in results.get(section) or []:
            row = row_type.from_json(data)
            if section == COMPARISON_SECTION and isinstance(row, Comparison):
                _comparison(out, f"{section}/{_comparison_name(row)}", row)
                continue
            keys = SECTION_KEYS.get(section) or _fallback_keys(row)
            name = "/".join([section, *(_part(getattr(row, k)) for k in keys)])
            _series(out, section, name, row)
            _fields(out, name, row, (*keys, *_series_fields(section)))
    return out


def _comparison_name(row: Comparison) -> str:
    subject = [_part(v) for _, v in sorted(row.subject.items())]
    return "/".join([_part(row.task), _part(f"{row.arm}_vs_{row.reference_arm}"), *subject,
                     _part(row.metric)])  # fmt: skip


def _fallback_keys(row: Row) -> tuple[str, ...]:
    """The naming fields of a section ``SECTION_KEYS`` does not list (a newer section)."""
    names = {spec.name for spec in dataclasses.fields(row)}  # type: ignore[arg-type]
    return tuple(k for k in ("task", "arm", "metric") if k in names)


def _series_fields(section: str) -> tuple[str, ...]:
    """A section's step and series fields (logged as series, not as single values)."""
    if section not in SERIES:
        return ()
    steps, values = SERIES[section]
    return (steps, *values)


def _series(out: Logged, section: str, name: str, row: Row) -> None:
    if section not in SERIES:
        return
    steps_field, value_fields = SERIES[section]
    steps = getattr(row, steps_field, ()) or ()
    for value_field in value_fields:
        values = getattr(row, value_field, None) or ()
        points = [
            (int(step), float(value))
            for step, value in zip(steps, values, strict=False)
            if isinstance(value, (int, float)) and math.isfinite(float(value))
        ]
        if points:
            out.series[safe_name(f"{name}/{value_field}")] = points


def _fields(out: Logged, name: str, row: Row, skip: Sequence[str] = ()) -> None:
    for spec in dataclasses.fields(row):  # type: ignore[arg-type]
        if spec.name in skip or spec.name in DISPLAY_FIELDS or not spec.metadata.get("json", True):
            continue
        _value(out, f"{name}/{_part(spec.name)}", getattr(row, spec.name))


def _value(out: Logged, name: str, value: Any) -> None:
    if isinstance(value, Comparison):
        _comparison(out, name, value)
    elif isinstance(value, Row):
        _fields(out, name, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _value(out, f"{name}/{_part(key)}", item)
    elif isinstance(value, tuple) and value and all(isinstance(v, Row) for v in value):
        for item in value:
            keys = [k for k in NESTED_KEYS if hasattr(item, k)]
            _fields(out, "/".join([name, *(_part(getattr(item, k)) for k in keys)]), item, keys)
    elif not isinstance(value, (str, tuple, list)) and value is not None:
        out.metric(name, value)


def _comparison(out: Logged, name: str, row: Comparison) -> None:
    for field_name in COMPARISON_FIELDS:
        value = getattr(row, field_name)
        if value is not None:
            out.metric(f"{name}/{field_name}", value)
    if row.verdict:
        out.tag(f"{name}/verdict", row.verdict)


def metrics(
    results: Mapping[str, Any], sections: Mapping[str, type[Row]] = RESULTS_SECTIONS
) -> dict[str, float]:
    """Every number of every results section, by name (the ``Logged.metrics``)."""
    return logged_values(results, sections).metrics


def tags(
    results: Mapping[str, Any],
    sections: Mapping[str, type[Row]] = RESULTS_SECTIONS,
    run_dir: str | None = None,
) -> dict[str, str]:
    """Every verdict (``Logged.tags``) and the ``headline_tags``."""
    return {**logged_values(results, sections).tags, **headline_tags(results, run_dir)}


def headline_tags(results: Mapping[str, Any], run_dir: str | None = None) -> dict[str, str]:
    """The headline's verdicts and notes, the CI gate's outcome, and the headline as the
    run's description (MLflow shows ``mlflow.note.content`` on the run's page)."""
    from fteval.compare.gate import check
    from fteval.report.headline import build_headline
    from fteval.report.terminal import render_terminal

    out = {}
    headline = build_headline(results, run_dir=run_dir, max_lines=1_000_000)
    for block in headline.blocks:
        for line in block.lines:
            text = " ".join(p for p in (line.word, line.delta, line.interval) if p)
            out[safe_name(f"headline/{_part(block.arm)}/{_part(line.label)}")] = (
                f"{text} ({line.note})" if line.note else text
            )[:MAX_TAG_CHARS]
    for note in headline.notes:
        out[safe_name(f"headline/{_part(note.label.lower())}")] = note.text[:MAX_TAG_CHARS]
    out["gate"] = "fails" if check(results, fail_on="regression") else "passes"
    text = render_terminal(results, run_dir)
    out["mlflow.note.content"] = f"```\n{text.rstrip()}\n```"[:MAX_TAG_CHARS]
    return out


# ---- the store and the logging ----


def tracking_store(
    run_dir: Path, environ: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """The tracking URI and, for a store fteval makes, the artefact location.

    ``MLFLOW_TRACKING_URI`` when set (the server decides where artefacts go: None);
    otherwise a SQLite store in ``<run_dir>/mlruns`` with its artefacts beside it.
    """
    environ = os.environ if environ is None else environ
    uri = (environ.get("MLFLOW_TRACKING_URI") or "").strip()
    if uri:
        return uri, None
    store = run_dir.resolve() / STORE_FOLDER
    return f"sqlite:///{store / 'mlflow.db'}", (store / "artifacts").as_uri()


def log_run_dir(
    run_dir: str | Path,
    target: str = "mlflow",
    *,
    sections: Mapping[str, type[Row]] = RESULTS_SECTIONS,
) -> str:
    """Log the run directory to ``target``; returns where it went (tracking URI and run id).

    Args:
        run_dir: a finished run directory.
        target: the tracker (``mlflow``).
        sections: each results section's row type (default
            ``compare.sections.RESULTS_SECTIONS``).
    """
    require_tracker(target)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    directory = RunDirectory(run_dir)
    manifest = directory.read_manifest()
    results = directory.read_results()
    uri, artifacts = tracking_store(directory.path)
    if artifacts is not None:
        (directory.path / STORE_FOLDER).mkdir(exist_ok=True)
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(
        _experiment(client, artifacts), run_name=directory.path.name
    ).info.run_id
    try:
        logged = logged_values(results, sections)
        now = int(time.time() * 1000)
        params = [Param(k, v) for k, v in parameters(manifest, results).items()]
        values = [Metric(k, v, now, 0) for k, v in logged.metrics.items()]
        values += [Metric(k, v, now, s) for k, points in logged.series.items() for s, v in points]
        labels = {**logged.tags, **headline_tags(results, str(directory.path))}
        labels["fteval.run_dir"] = str(directory.path.resolve())
        run_tags = [RunTag(k, v) for k, v in labels.items()]
        for start in range(0, len(params), MAX_BATCH_PARAMS_TAGS):
            client.log_batch(run_id, params=params[start : start + MAX_BATCH_PARAMS_TAGS])
        for start in range(0, len(values), MAX_BATCH):
            client.log_batch(run_id, metrics=values[start : start + MAX_BATCH])
        for start in range(0, len(run_tags), MAX_BATCH_PARAMS_TAGS):
            client.log_batch(run_id, tags=run_tags[start : start + MAX_BATCH_PARAMS_TAGS])
        for name in (REPORT_HTML, REPORT_MD, RESULTS, MANIFEST):
            path = directory.path / name
            if path.exists():
                client.log_artifact(run_id, str(path))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return f"{uri} run {run_id}"


def _experiment(client: Any, artifacts: str | None) -> str:
    """The experiment's id (``MLFLOW_EXPERIMENT_NAME``, default ``fteval``), made if new."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifacts))

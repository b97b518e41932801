"""``--log-to mlflow``: log a finished run directory to an MLflow tracking server.

Off by default; needs the ``fteval[mlflow]`` extra. MLflow's own environment decides
where: ``MLFLOW_TRACKING_URI`` (e.g. ``sqlite:///mlflow.db`` or ``http://host:5000``;
MLflow 3 refuses a plain folder store unless told otherwise) and
``MLFLOW_EXPERIMENT_NAME`` (default ``fteval``). One MLflow run per fteval run directory,
named after the folder, holding:

* parameters: the run config (flattened, ``config.*``), each arm's kind and path
  (``arm.<name>.*``), the statistics settings (``statistics.*``), fteval's version;
* metrics, in the metric's own units as in results.json: every score with its interval
  (``score/<task>/<metric>/<arm>`` and ``.../ci_low``, ``.../ci_high``), every delta with
  its interval and adjusted p-value (``delta/<task>/<metric>/<arm>_vs_<ref>`` ...), and
  the cost facts (``cost/<arm>/<fact>``);
* tags: each comparison's verdict (``verdict/...``) and the CI gate's outcome;
* artefacts: report.html, report.md, results.json and manifest.json.

Names keep only the characters MLflow accepts (letters, digits, ``_ - . / space :``);
any other character becomes ``_``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fteval.errors import ConfigError
from fteval.records.rundir import MANIFEST, REPORT_HTML, REPORT_MD, RESULTS, RunDirectory

TRACKERS = ("mlflow",)
DEFAULT_EXPERIMENT = "fteval"
MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter value
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /:]")
COST_METRICS = (
    "trainable_params",
    "total_params",
    "size_on_disk_bytes",
    "eval_wall_s",
    "tokens",
    "tokens_per_s",
    "peak_memory_bytes",
)


def require_tracker(target: str) -> None:
    """Fail (``ConfigError``) unless ``target`` is a known, installed tracker."""
    if target not in TRACKERS:
        raise ConfigError(f"--log-to {target!r}: unknown tracker; choose one of {TRACKERS}")
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "--log-to mlflow needs MLflow, which is not installed: pip install 'fteval[mlflow]'"
        )


def safe_name(text: str) -> str:
    """``text`` with characters MLflow does not accept in names replaced by ``_``
    (and no ``..``, which MLflow refuses as a path traversal)."""
    cleaned = _UNSAFE.sub("_", text)
    while ".." in cleaned:
        cleaned = cleaned.replace("..", "._")
    return cleaned


def flatten(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """(dotted key, string value) pairs of a nested config, for MLflow parameters."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        yield safe_name(prefix), text[:MAX_PARAM_CHARS]


def _finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def parameters(manifest: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, str]:
    """Everything logged as a parameter (see the module docstring)."""
    params = dict(flatten(manifest.get("config", {}), "config"))
    for arm in manifest.get("arms") or results.get("arms", []):
        identity = arm.get("identity", {})
        name = safe_name(arm["name"])
        params[f"arm.{name}.kind"] = str(arm.get("kind", ""))
        params[f"arm.{name}.path"] = str(identity.get("path", identity.get("file", "")))[
            :MAX_PARAM_CHARS
        ]
    params.update(dict(flatten(results.get("statistics", {}), "statistics")))
    params["fteval_version"] = str(manifest.get("fteval_version", ""))
    params["run_kind"] = str(manifest.get("kind", "run"))
    return params


def metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """Every score and delta with its interval, and the cost facts (metric units)."""
    out: dict[str, float] = {}
    for row in results.get("scores", []):
        key = safe_name(f"score/{row['task']}/{row['metric']}/{row['arm']}")
        for suffix, field in (("", "value"), ("/ci_low", "ci_low"), ("/ci_high", "ci_high")):
            if _finite(row.get(field)):
                out[key + suffix] = float(row[field])
    for row in results.get("comparisons", []):
        key = safe_name(
            f"delta/{row['task']}/{row['metric']}/{row['arm']}_vs_{row['reference_arm']}"
        )
        for suffix, field in (
            ("", "delta"),
            ("/ci_low", "ci_low"),
            ("/ci_high", "ci_high"),
            ("/p_adjusted", "p_adjusted"),
        ):
            if _finite(row.get(field)):
                out[key + suffix] = float(row[field])
    for row in results.get("cost", []):
        for field in COST_METRICS:
            if _finite(row.get(field)):
                out[safe_name(f"cost/{row['arm']}/{field}")] = float(row[field])
    return out


def tags(results: Mapping[str, Any]) -> dict[str, str]:
    """Each comparison's verdict and the CI gate's outcome."""
    from fteval.compare.gate import check

    out = {
        safe_name(f"verdict/{r['task']}/{r['metric']}/{r['arm']}_vs_{r['reference_arm']}"): str(
            r.get("verdict")
        )
        for r in results.get("comparisons", [])
    }
    failures = check(results, fail_on="regression")
    out["gate"] = "fails" if failures else "passes"
    return out


def log_run_dir(run_dir: str | Path, target: str = "mlflow") -> str:
    """Log the run directory to ``target``; returns where it went (tracking URI and run id)."""
    require_tracker(target)
    import os

    import mlflow

    directory = RunDirectory(run_dir)
    manifest = directory.read_manifest()
    results = directory.read_results()
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)
    with mlflow.start_run(run_name=directory.path.name) as active:
        params = parameters(manifest, results)
        items = list(params.items())
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per call
            mlflow.log_params(dict(items[start : start + 100]))
        values = list(metrics(results).items())
        for start in range(0, len(values), 1000):
            mlflow.log_metrics(dict(values[start : start + 1000]))
        mlflow.set_tags(tags(results))
        for name in (REPORT_HTML, REPORT_MD, RESULTS, MANIFEST):
            path = directory.path / name
            if path.exists():
                mlflow.log_artifact(str(path))
        return f"{mlflow.get_tracking_uri()} run {active.info.run_id}"

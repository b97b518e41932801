"""One validation boundary for every command: options and files checked before any work.

Each command calls these before it reads data or loads a model, so a bad value is exit 2
with a message naming the flag (or file) and the value, never a traceback and never a
half-made run directory:

* ``stats_options``: ``--bootstrap``, ``--permutations``, ``--ci-method``,
  ``--correction``, ``--correction-scope``, ``--alpha``, ``--confidence`` with the bounds
  a run config has (``fteval.config.RunConfig``: one source for ``run``, ``score``,
  ``compare``...), and alpha and confidence made to agree (``resolve_levels``);
* ``check_out_dir``: ``--out``/``--out-dir``/``--cache-dir`` must be (or become) a
  directory: not a file, not under one;
* ``parse_labels``: ``--labels`` as a non-empty list of distinct, non-empty labels;
* ``check_text``: a free-text option (``--task-name``...) that must not be empty;
* ``load_results_file``: a results.json (or run directory) read as checked UTF-8, strict
  JSON, and validated against the published schema (docs/results.schema.json).
"""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from fteval.errors import ConfigError, InputError

# RunConfig field -> the flag that sets it
STATS_FLAGS = {
    "bootstrap_resamples": "--bootstrap",
    "permutations": "--permutations",
    "ci_method": "--ci-method",
    "correction": "--correction",
    "correction_scope": "--correction-scope",
    "alpha": "--alpha",
    "confidence": "--confidence",
}


@lru_cache(maxsize=1)
def _stats_model() -> type[BaseModel]:
    """The statistics fields of ``RunConfig``, bounds included, as a model of their own."""
    from fteval.config import RunConfig

    fields: dict[str, Any] = {
        name: (RunConfig.model_fields[name].annotation, RunConfig.model_fields[name])
        for name in STATS_FLAGS
    }
    return create_model("StatisticsFlags", __config__=ConfigDict(extra="forbid"), **fields)


def stats_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The statistics flags given (RunConfig names -> values), validated.

    Raises:
        ConfigError: one line per bad flag, naming it, the bound and the value.
    """
    given = {
        name: getattr(args, name) for name in STATS_FLAGS if getattr(args, name, None) is not None
    }
    try:
        checked = _stats_model().model_validate(given)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            flag = STATS_FLAGS.get(str(item["loc"][0]), str(item["loc"][0]))
            lines.append(f"{flag}: {item['msg']} (value: {item.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None
    return {name: getattr(checked, name) for name in given}


def stats_options(args: argparse.Namespace, *, seed: int | None) -> Any:
    """A validated ``StatsOptions`` from the statistics flags and ``seed`` (None: default).

    ``StatsOptions`` takes the run config's option names, so the flags' values pass as
    they are; one of ``--alpha`` and ``--confidence`` sets the other.

    Raises:
        ConfigError: a flag is out of bounds, or alpha and confidence contradict.
    """
    from fteval.compare import StatsOptions

    settings = stats_settings(args)
    if seed is not None:
        settings["seed"] = seed
    alpha, confidence = settings.pop("alpha", None), settings.pop("confidence", None)
    try:
        return StatsOptions.with_levels(alpha=alpha, confidence=confidence, **settings)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_out_dir(path: str | None, flag: str) -> None:
    """``path`` (when given) must be, or be able to become, a directory.

    Raises:
        ConfigError: it is empty, a file, or lies under a file.
    """
    if path is None:
        return
    from fteval._util.paths import check_dir_target

    check_dir_target(path, flag)


def check_text(value: str | None, flag: str) -> None:
    """A given free-text option must hold more than whitespace."""
    if value is not None and not value.strip():
        raise ConfigError(f"{flag}: must not be empty (value: {value!r})")


def parse_labels(text: str | None) -> tuple[str, ...]:
    """``--labels a,b,c`` -> ``("a", "b", "c")``; ``()`` when not given.

    Raises:
        ConfigError: the list is empty, holds an empty label, or repeats one.
    """
    if text is None:
        return ()
    labels = tuple(part.strip() for part in text.split(","))
    if not any(labels) or any(not label for label in labels):
        raise ConfigError(f"--labels: expected comma-separated, non-empty labels (value: {text!r})")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"--labels: {repeated} given more than once (value: {text!r})")
    return labels


def results_path(path: str | Path) -> Path:
    """``path`` itself, or ``path/results.json`` when it is a directory."""
    path = Path(path)
    return path / "results.json" if path.is_dir() else path


def load_results_file(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Read a results.json (or a run directory's) and check it against the schema.

    Returns:
        The file's path and its results object.

    Raises:
        InputError: the file is missing, not UTF-8 text, not strict JSON, or breaks the
            published schema (the message names the JSON path of each problem).
    """
    from fteval.data.encoding import read_text
    from fteval.data.jsontext import JSONTextError, loads
    from fteval.records.schema import validate_results

    file = results_path(path)
    text = read_text(file)
    try:
        results = loads(text, allow_nan=False)
    except JSONTextError as error:
        raise InputError(file, None, None, f"not valid JSON{error.located()}") from None
    validate_results(results, file)
    return file, results


def check_run_directory(path: str | Path, results: dict[str, Any]) -> None:
    """When ``path`` is a run directory (or its results.json), its records must agree
    (``records.integrity``); a warning (an unfinished run) is printed on stderr."""
    import sys

    from fteval.records.integrity import check_run_records
    from fteval.records.rundir import RunDirectory

    folder = Path(path)
    directory = RunDirectory(folder if folder.is_dir() else folder.parent)
    if not (directory.path / "manifest.json").is_file():
        return  # a results.json on its own, or a folder holding only one
    manifest = directory.read_manifest()
    for warning in check_run_records(directory.path, manifest, results, directory.read_samples()):
        print(f"fteval: warning: {warning}", file=sys.stderr)


def require_comparisons(results: dict[str, Any], path: str | Path) -> None:
    """A gate needs something to judge: results without comparisons are an error."""
    if not results.get("comparisons"):
        arms = [a.get("name") for a in results.get("arms", [])]
        raise InputError(
            path,
            None,
            "comparisons",
            f"nothing to gate: no comparisons (arms: {arms}); a run needs a reference arm "
            "and at least one other arm on the same task",
        )

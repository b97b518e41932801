"""A saved run directory's records checked against each other before they are read.

``fteval report``, ``compare`` and ``check`` (on a run directory) read a run's
manifest.json, results.json and samples.jsonl as one record; a directory whose files
disagree — edited by hand, copied from two runs, cut short by a full disk or a bad copy
— would give a report that silently describes something else. Refused (``InputError``
naming the file, the field and the value):

* a ``schema_version`` this fteval does not read (manifest.json; results.json is checked
  by its JSON Schema);
* arm names that differ between manifest.json and results.json, or samples of an arm
  the manifest does not list;
* missing samples: fewer distinct items of a task x arm in samples.jsonl than the
  manifest's ``n_examples`` (a truncated file).

A run that is not ``complete`` (failed or interrupted after writing its results) is
a warning, returned for the command to print.

Writing: ``check_not_a_record`` refuses an output path that is one of the files of the
run being read (``fteval report RUN --html RUN/results.json`` would destroy the run).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.errors import ConfigError, InputError
from fteval.records.types import SCHEMA_VERSION, SampleResult

REWRITABLE = ("report.md", "report.html")  # the files a report command may replace


def check_run_records(
    path: str | Path,
    manifest: Mapping[str, Any],
    results: Mapping[str, Any],
    samples: Sequence[SampleResult],
) -> list[str]:
    """Refuse records that disagree (see the module docstring); return warnings.

    Args:
        path: the run directory.
        manifest: its manifest.json.
        results: its results.json (already valid against the schema).
        samples: every line of its samples.jsonl.

    Returns:
        Warnings (an unfinished run), one line each.

    Raises:
        InputError: naming the file and field at fault.
    """
    folder = Path(path)
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(
            folder / "manifest.json",
            None,
            "schema_version",
            f"this fteval reads run records of schema version {SCHEMA_VERSION!r} (written by "
            "another fteval version, or edited)",
            version,
        )
    arms = _arm_names(folder / "manifest.json", manifest.get("arms"))
    result_arms = _arm_names(folder / "results.json", results.get("arms"))
    if set(arms) != set(result_arms):
        raise InputError(
            folder / "results.json",
            None,
            "arms",
            f"the arms differ from manifest.json's {sorted(arms)}: the records are not of one "
            "run (edited, or copied from two runs)",
            sorted(result_arms),
        )
    warnings = _check_samples(folder, manifest, arms, samples)
    status = manifest.get("status")
    if status != "complete":
        warnings.append(
            f"{folder}: the run is {status!r}, not complete: its records may be partial"
        )
    return warnings


def _arm_names(file: Path, arms: Any) -> list[str]:
    if not isinstance(arms, list) or not all(
        isinstance(a, dict) and isinstance(a.get("name"), str) for a in arms
    ):
        raise InputError(file, None, "arms", "expected a list of arms, each with a name", arms)
    return [a["name"] for a in arms]


def _check_samples(
    folder: Path, manifest: Mapping[str, Any], arms: Sequence[str], samples: Iterable[SampleResult]
) -> list[str]:
    """Refuse samples of unknown arms and missing items; warn about repeated items."""
    seen: dict[tuple[str, str], set[str]] = {}
    repeated: list[tuple[str, str, str]] = []
    for sample in samples:
        if sample.example_id in seen.get((sample.task, sample.arm), ()):
            repeated.append((sample.task, sample.arm, sample.example_id))
        if sample.arm not in arms:
            raise InputError(
                folder / "samples.jsonl",
                None,
                "arm",
                f"a sample of an arm manifest.json does not list (arms: {list(arms)})",
                sample.arm,
            )
        seen.setdefault((sample.task, sample.arm), set()).add(sample.example_id)
    tasks = manifest.get("tasks")
    if not isinstance(tasks, list) or not all(
        isinstance(t, dict)
        and isinstance(t.get("name"), str)
        and isinstance(t.get("n_examples"), int)
        and not isinstance(t.get("n_examples"), bool)
        for t in tasks
    ):
        raise InputError(
            folder / "manifest.json",
            None,
            "tasks",
            "expected a list of tasks, each with a name and n_examples",
            tasks,
        )
    for task in tasks:
        name, expected = task["name"], task["n_examples"]
        for arm in arms:
            have = len(seen.get((name, arm), ()))
            if have < expected:
                raise InputError(
                    folder / "samples.jsonl",
                    None,
                    None,
                    f"holds {have} of the {expected} items of task {name!r} for arm {arm!r} "
                    "that manifest.json records: the file is truncated or was edited",
                )
    if not repeated:
        return []
    task, arm, item = repeated[0]
    return [
        f"{folder / 'samples.jsonl'}: {len(repeated)} item(s) appear more than once (first: "
        f"task {task!r}, arm {arm!r}, item {item!r}): lines copied in twice?"
    ]


def check_not_a_record(target: str | Path, run_dir: str | Path, flag: str) -> None:
    """Refuse writing ``target`` when it is a file of the run directory being read.

    Only ``report.md`` and ``report.html`` of the run may be replaced. Links count: a
    target that is the same file as any file of the run (symbolic or hard link) is
    refused too, and so is a target that is a directory.

    Raises:
        ConfigError: naming the flag, the path and the record it would destroy.
    """
    target = Path(target)
    folder = Path(run_dir)
    if target.is_dir():
        raise ConfigError(f"{flag} {target}: is a directory; give a file path")
    if target.exists() and not target.is_file():
        raise ConfigError(
            f"{flag} {target}: is not a regular file (a device, pipe or socket), which the "
            "write would replace; give a file path"
        )
    inside = _resolved(target.parent) == _resolved(folder)
    if inside and target.name in REWRITABLE:
        return
    for record in folder.iterdir() if folder.is_dir() else ():
        if record.name in REWRITABLE and not inside:
            continue
        same = (inside and record.name == target.name) or _same_file(target, record)
        if same:
            raise ConfigError(
                f"{flag} {target}: is the run's own {record.name}; writing there would "
                "destroy the run being read. Give another path"
            )


def _resolved(path: Path) -> str:
    return os.path.realpath(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# what a run directory's writers may create or replace
RECORD_NAMES = (
    "manifest.json", "samples.jsonl", "results.json", "items.jsonl", "judgments.jsonl",
    "fteval.log", "report.md", "report.html",
)  # fmt: skip


def check_inputs_survive(out: str | Path | None, inputs: Iterable[str | Path]) -> None:
    """Refuse a run directory whose records would overwrite one of the command's inputs
    (``fteval score OUT/results.json --out OUT`` would replace the file it reads).

    Raises:
        ConfigError: naming the input and the record that would replace it.
    """
    if out is None:
        return
    folder = _resolved(Path(out))
    for path in inputs:
        source = Path(path)
        if source.name in RECORD_NAMES and _resolved(source.parent) == folder:
            raise ConfigError(
                f"--out {out}: the run would write its {source.name} over the input {path}; "
                "give another --out, or move the input"
            )

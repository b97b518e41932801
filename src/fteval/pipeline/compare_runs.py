"""``fteval compare``: pair saved runs item by item, as if one run had held every arm.

Two runs can be compared when they asked the same questions: the same tasks, the same
example ids, and for each id the same prompt (``prompt_hash``) and the same target.
Anything else is refused, naming the first differences. Arms are then merged:

* an arm that appears in several runs with the same identity (the same weights, adapter
  config, dtype and tokenizer; for arms without weight hashes, the same path and
  settings) is one arm, answered by the first run that has it;
* arms whose names clash but whose identities differ are renamed ``RUN:ARM``, where RUN
  is the run's label (its folder name, made unique);
* the first run's base is the reference every other arm is compared with; a later run's
  different base becomes an ordinary arm (kind ``model``) compared with it. The first
  full fine-tune is the yardstick of the adapter-vs-full comparisons.

Judged tasks' saved judgments follow their arms (renamed alike); a task judged against
the base's answers is refused unless every run has the same base (its win rates were
measured against that base). The merged samples are scored with the same statistics
(the first run's settings unless overridden) and written as a run directory of kind
``compare``: manifest, samples, items, results and reports. Because every interval and
test is seeded from the content of the statistics it resamples (never from names), an
arm compared here — renamed ``RUN:ARM`` or not — gets exactly the numbers it would get in
a single run with the same arms.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fteval.compare import StatsOptions, resolve_levels
from fteval.compare.results import build_results
from fteval.errors import ConfigError, FtevalError
from fteval.pipeline.judge import JUDGMENTS_FILE, read_judgments
from fteval.records import SCHEMA_VERSION, SampleResult, append_jsonl
from fteval.records.integrity import check_run_records
from fteval.records.rundir import RunDirectory, default_run_dir, utc_now
from fteval.report.files import write_reports
from fteval.scoring import TaskInfo
from fteval.version import __version__

logger = logging.getLogger(__name__)

VOLATILE_IDENTITY = frozenset(
    {
        "batch_size",
        "device",
        "probe_max_abs_logit_change",
        "software",
        "support_files_sha256",
        "base_mismatch",
        "local",
        "path",
        "base_path",
    }
)
MAX_LISTED = 3


@dataclass(frozen=True)
class SavedRun:
    """One run directory read back for comparison."""

    label: str
    path: Path
    manifest: dict[str, Any]
    results: dict[str, Any]
    samples: list[SampleResult]
    items: list[dict[str, Any]]


def load_runs(paths: Sequence[str | Path]) -> list[SavedRun]:
    """Read each run directory; refuse unfinished runs and fewer than two runs."""
    if len(paths) < 2:
        raise ConfigError("fteval compare needs at least two run directories")
    seen: dict[str, str | Path] = {}
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            raise ConfigError(
                f"{path}: the same run directory as {seen[key]}; a run compared with itself "
                "shows nothing. Give two different runs"
            )
        seen[key] = path
    runs = []
    labels = _labels([Path(p) for p in paths])
    for label, path in zip(labels, paths):
        directory = RunDirectory(path)
        manifest = directory.read_manifest()
        if manifest.get("status") != "complete":
            raise ConfigError(
                f"{path}: the run is {manifest.get('status', 'unfinished')}, not complete; "
                "finish or resume it before comparing"
            )
        results, samples = directory.read_results(), directory.read_samples()
        check_run_records(directory.path, manifest, results, samples)
        runs.append(
            SavedRun(label, directory.path, manifest, results, samples, directory.read_items())
        )
    return runs


def check_out_is_new(out: str | Path | None, paths: Sequence[str | Path]) -> None:
    """The comparison's run directory must not be one of the runs it reads."""
    if out is None:
        return
    for path in paths:
        if os.path.realpath(out) == os.path.realpath(path):
            raise ConfigError(
                f"--out {out}: is the run {path} being compared; writing there would "
                "destroy it. Give another --out"
            )


def _labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, made unique with the parent folder or a number when they repeat."""
    names = [p.resolve().name or "run" for p in paths]
    if len(set(names)) == len(names):
        return names
    names = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    if len(set(names)) == len(names):
        return names
    return [f"run{i + 1}" for i in range(len(paths))]


# ---- the items must be the same ----


def item_keys(samples: Sequence[SampleResult]) -> dict[str, dict[str, tuple[str, Any]]]:
    """Task -> example id -> (prompt hash, target), from any one arm per task."""
    keys: dict[str, dict[str, tuple[str, Any]]] = {}
    seen_arm: dict[str, str] = {}
    for sample in samples:
        arm = seen_arm.setdefault(sample.task, sample.arm)
        if sample.arm != arm:
            continue
        keys.setdefault(sample.task, {})[sample.example_id] = (sample.prompt_hash, sample.target)
    return keys


def check_same_items(runs: Sequence[SavedRun]) -> None:
    """Refuse runs whose tasks, ids, prompts or targets differ; name the first differences."""
    first = runs[0]
    reference = item_keys(first.samples)
    for run in runs[1:]:
        keys = item_keys(run.samples)
        problems = _differences(reference, keys, first.label, run.label)
        if problems:
            raise ConfigError(
                f"cannot compare {first.path} and {run.path}: they were not asked the same "
                f"items ({'; '.join(problems)}). Runs must share tasks, example ids and prompts."
            )


def _differences(
    a: Mapping[str, Mapping[str, tuple[str, Any]]],
    b: Mapping[str, Mapping[str, tuple[str, Any]]],
    label_a: str,
    label_b: str,
) -> list[str]:
    problems = []
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a:
        problems.append(f"task(s) {only_a} only in {label_a}")
    if only_b:
        problems.append(f"task(s) {only_b} only in {label_b}")
    for task in [t for t in a if t in b]:
        ids_a, ids_b = a[task], b[task]
        missing = [i for i in ids_a if i not in ids_b][:MAX_LISTED]
        extra = [i for i in ids_b if i not in ids_a][:MAX_LISTED]
        if missing:
            problems.append(f"{task}: ids {missing} only in {label_a}")
        if extra:
            problems.append(f"{task}: ids {extra} only in {label_b}")
        prompts = [i for i in ids_a if i in ids_b and ids_a[i][0] != ids_b[i][0]][:MAX_LISTED]
        if prompts:
            shown = ", ".join(f"{i} ({ids_a[i][0]} vs {ids_b[i][0]})" for i in prompts)
            problems.append(f"{task}: different prompts for id(s) {shown}")
        targets = [i for i in ids_a if i in ids_b and ids_a[i][1] != ids_b[i][1]][:MAX_LISTED]
        if targets:
            shown = ", ".join(f"{i} ({ids_a[i][1]!r} vs {ids_b[i][1]!r})" for i in targets)
            problems.append(f"{task}: different targets for id(s) {shown}")
        if len(problems) >= MAX_LISTED:
            break
    return problems[:MAX_LISTED]


def check_judged_bases(runs: Sequence[SavedRun], tasks: Sequence[TaskInfo]) -> None:
    """Refuse runs with a task judged against the base's answers unless they share a base.

    A win rate against the base is a comparison with that run's base: two runs with
    different bases measured their arms against different opponents, so their judged
    rows cannot be merged into one comparison.
    """
    judged = [t.name for t in tasks if (t.judge or {}).get("opponent") == "base"]
    if not judged:
        return
    bases = [_base_record(run) for run in runs]
    first = bases[0]
    for run, base in zip(runs[1:], bases[1:]):
        if base is None or first is None or identity_key(base) != identity_key(first):
            raise ConfigError(
                f"cannot compare {runs[0].path} and {run.path}: task(s) {judged} are judged "
                "against the base model's answers, and the two runs have different bases "
                f"({_named(first)} vs {_named(base)}), so their win rates were measured "
                "against different opponents. Compare runs that share a base, or judge "
                "against the task's reference answers."
            )


def _base_record(run: SavedRun) -> Mapping[str, Any] | None:
    arms = run.manifest.get("arms") or run.results.get("arms", [])
    return next((a for a in arms if a.get("kind") == "base"), None)


def _named(arm: Mapping[str, Any] | None) -> str:
    if arm is None:
        return "no base"
    identity = arm.get("identity") or {}
    return str(identity.get("path") or identity.get("base_path") or arm.get("name"))


# ---- merging the arms ----


def identity_key(arm: Mapping[str, Any]) -> tuple[str, str]:
    """What makes two arms of different runs the same arm (see the module docstring)."""
    identity = arm.get("identity") or {}
    if identity.get("weights_sha256"):
        kept = {
            k: identity.get(k)
            for k in (
                "weights_sha256",
                "adapter_config",
                "base_weights_sha256",
                "dtype",
                "tokenizer",
                "backend",
                "max_length_override",
            )
        }
    else:
        kept = {k: v for k, v in identity.items() if k not in VOLATILE_IDENTITY - {"path"}}
    return str(arm.get("kind")), repr(sorted(kept.items(), key=lambda kv: kv[0]))


@dataclass(frozen=True)
class MergedArm:
    """An arm of the comparison: where its answers come from and what it is called."""

    run: int
    source_name: str
    record: dict[str, Any]


def merge_arms(runs: Sequence[SavedRun]) -> list[MergedArm]:
    """The comparison's arms in order: base, adapters, full fine-tunes, other models."""
    chosen: list[MergedArm] = []
    keys: dict[tuple[str, str], int] = {}
    for number, run in enumerate(runs):
        for arm in run.manifest.get("arms") or run.results.get("arms", []):
            key = identity_key(arm)
            if key in keys:
                continue
            keys[key] = len(chosen)
            chosen.append(MergedArm(number, arm["name"], dict(arm)))
    counts: dict[str, int] = {}
    for merged in chosen:
        counts[merged.source_name] = counts.get(merged.source_name, 0) + 1
    base_seen = False
    out = []
    for merged in chosen:
        record = merged.record
        name = merged.source_name
        if counts[name] > 1:
            name = f"{runs[merged.run].label}:{name}"
        kind = record.get("kind")
        if kind == "base":
            kind = "model" if base_seen else "base"
            base_seen = True
        group = record.get("group", merged.source_name)
        if counts[merged.source_name] > 1:
            group = f"{runs[merged.run].label}:{group}"
        renamed = {
            **record,
            "name": name,
            "kind": kind,
            "group": group,
            "source_run": runs[merged.run].label,
            "source_arm": merged.source_name,
        }
        out.append(MergedArm(merged.run, merged.source_name, renamed))
    order = {"base": 0, "adapter": 1, "full": 2}
    return sorted(out, key=lambda m: order.get(str(m.record.get("kind")), 3))


def tokenizer_warnings(runs: Sequence[SavedRun], arms: Sequence[MergedArm]) -> list[str]:
    """A warning per task whose per-token metrics (a signature weighted by token:
    perplexity, cross-entropy) compare arms whose tokenizers differ (class or size)."""
    per_token: dict[str, set[str]] = {}
    for run in runs:
        for score in run.results.get("scores", []):
            if "weighting:token" in str(score.get("signature", "")):
                per_token.setdefault(str(score.get("task")), set()).add(str(score.get("metric")))
    tokenizers: dict[tuple[Any, Any], list[str]] = {}
    for arm in arms:
        facts = arm.record.get("identity", {}).get("tokenizer") or {}
        key = (facts.get("tokenizer_class"), facts.get("vocab_size"))
        tokenizers.setdefault(key, []).append(str(arm.record["name"]))
    if not per_token or len(tokenizers) < 2:
        return []
    described = " vs ".join("/".join(names) for names in tokenizers.values())
    out = [
        f"task {task!r}: {', '.join(sorted(metrics))} are per token, but the arms use "
        f"different tokenizers ({described}): their differences mix the fine-tune with "
        "the tokenization"
        for task, metrics in sorted(per_token.items())
    ]
    for line in out:
        logger.warning("%s", line)
    return out


def merged_samples(runs: Sequence[SavedRun], arms: Sequence[MergedArm]) -> list[SampleResult]:
    """Every chosen arm's samples, renamed, in the arms' order."""
    out = []
    for arm in arms:
        name = arm.record["name"]
        for sample in runs[arm.run].samples:
            if sample.arm == arm.source_name:
                out.append(replace(sample, arm=name, meta=dict(sample.meta)))
    return out


def merged_judgments(runs: Sequence[SavedRun], arms: Sequence[MergedArm]) -> list[dict[str, Any]]:
    """Judged tasks' saved judgments of every chosen arm, renamed like its samples."""
    out = []
    for arm in arms:
        for row in read_judgments(runs[arm.run].path):
            if row.get("arm") == arm.source_name:
                out.append({**row, "arm": arm.record["name"]})
    return out


def merged_items(runs: Sequence[SavedRun]) -> list[dict[str, Any]]:
    """items.jsonl records of every run, once per task x example x prompt."""
    seen = set()
    out = []
    for run in runs:
        for item in run.items:
            key = (item.get("task"), item.get("example_id"), item.get("prompt_hash"))
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def stats_options_of(run: SavedRun) -> StatsOptions:
    """The statistics a saved run used (its results' ``statistics`` and margins).

    Raises:
        ConfigError: the recorded settings are not valid statistics settings.
    """
    statistics = dict(run.results.get("statistics") or {})
    margins = (run.manifest.get("config") or {}).get("non_inferiority")
    if isinstance(margins, Mapping):
        statistics["non_inferiority"] = dict(margins)
    try:
        return StatsOptions.from_json(statistics)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{run.path}: unusable statistics settings: {error}") from None


def with_overrides(options: StatsOptions, overrides: Mapping[str, Any]) -> StatsOptions:
    """``options`` with some fields replaced; one of alpha and confidence sets the other.

    Raises:
        ConfigError: alpha and confidence contradict.
    """
    values = dict(overrides)
    try:
        if "alpha" in values or "confidence" in values:
            alpha, confidence = resolve_levels(
                values.pop("alpha", None), values.pop("confidence", None)
            )
            values.update(alpha=alpha, confidence=confidence)
        return replace(options, **values)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_options(options: StatsOptions) -> None:
    """Refuse statistics settings that ``fteval run`` refuses (same ranges)."""
    problems = []
    if not 0.5 < options.confidence < 1.0:
        problems.append(f"--confidence must be in (0.5, 1), got {options.confidence}")
    if not 0.0 < options.alpha < 0.5:
        problems.append(f"--alpha must be in (0, 0.5), got {options.alpha}")
    if not 100 <= options.bootstrap_resamples <= 1_000_000:
        problems.append(f"--bootstrap must be in [100, 1000000], got {options.bootstrap_resamples}")
    if not 100 <= options.permutations <= 10_000_000:
        problems.append(f"--permutations must be in [100, 10000000], got {options.permutations}")
    if problems:
        raise ConfigError("; ".join(problems))


def compare_runs(
    paths: Sequence[str | Path],
    *,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Compare saved runs item by item; write and return the comparison's results.

    Args:
        paths: two or more run directories.
        out: the comparison's run directory (default ``runs/<UTC time>``).
        overrides: ``StatsOptions`` fields that replace the first run's settings.

    Returns:
        The results object (results.json's contract) and the run directory.

    Raises:
        ConfigError: fewer than two runs, an unfinished run, or runs whose items differ.
    """
    check_out_is_new(out, paths)
    runs = load_runs(paths)
    check_same_items(runs)
    options = stats_options_of(runs[0])
    if overrides:
        options = with_overrides(options, overrides)
    check_options(options)
    for run in runs[1:]:
        other = stats_options_of(run)
        first = stats_options_of(runs[0])
        if replace(other, non_inferiority={}) != replace(first, non_inferiority={}):
            logger.warning(
                "%s used other statistics settings than %s; the comparison uses %s's",
                run.path,
                runs[0].path,
                runs[0].path,
            )
    tasks = [TaskInfo.from_json(t) for t in runs[0].manifest.get("tasks", [])]
    if not tasks:
        raise FtevalError(f"{runs[0].path}: its manifest lists no tasks")
    check_judged_bases(runs, tasks)
    arms = merge_arms(runs)
    warnings = tokenizer_warnings(runs, arms)
    records = [a.record for a in arms]
    samples = merged_samples(runs, arms)
    judgments = merged_judgments(runs, arms)
    results = build_results(records, tasks, samples, options, judgments)
    run_dir = RunDirectory(out or default_run_dir())
    run_dir.create()
    if judgments:
        append_jsonl(run_dir.path / JUDGMENTS_FILE, judgments)
    manifest = _manifest(runs, records, runs[0].manifest.get("tasks", []), options)
    if warnings:
        manifest["warnings"] = warnings
    run_dir.write_manifest(manifest)
    run_dir.append_samples(samples)
    items = merged_items(runs)
    run_dir.write_items(items)
    run_dir.write_results(results)
    finished = {"status": "complete", "finished_at": utc_now()}
    write_reports(run_dir, results, {**manifest, **finished}, samples=samples, items=items)
    manifest.update(finished)
    run_dir.write_manifest(manifest)
    return results, run_dir.path


def _manifest(
    runs: Sequence[SavedRun],
    arms: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]],
    options: StatsOptions,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "fteval_version": __version__,
        "kind": "compare",
        "status": "running",
        "started_at": utc_now(),
        "config": {
            "runs": [str(r.path) for r in runs],
            "statistics": {k: v for k, v in options.to_json().items() if k != "non_inferiority"},
            "non_inferiority": dict(options.non_inferiority),
        },
        "statistics": options.to_json(),
        "sources": [
            {
                "label": r.label,
                "path": str(r.path),
                "kind": r.manifest.get("kind", "run"),
                "started_at": r.manifest.get("started_at"),
                "fteval_version": r.manifest.get("fteval_version"),
                "arms": [a["name"] for a in r.manifest.get("arms", [])],
            }
            for r in runs
        ],
        "arms": list(arms),
        "tasks": list(tasks),
        "seeds": {"statistics": options.seed},
        "environment": runs[0].manifest.get("environment", {}),
    }

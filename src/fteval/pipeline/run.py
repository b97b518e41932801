"""The run loop: config -> tasks -> requests -> backend per arm -> samples -> results.

Order of work, so that bad input never costs a model load and a crash never costs
finished work:
1. the pre-flight (``pipeline.preflight``): output folders writable, every task loaded
   and checked (options, rows, labels, templates), every arm's model files (configs,
   weight headers, adapters against their base, tokenizers), the device, the servers
   (reachable, then probed: ``Backend.check_servers``) and the Ray cluster; a refused
   run leaves no run directory;
2. create the run directory and write the manifest (status ``running``);
3. per arm, per task: infer, score per sample, append the samples to samples.jsonl;
4. build results.json from the samples, write the reports, and only then mark the
   manifest ``complete``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fteval.backends import Backend, make_backend
from fteval.compare import StatsOptions
from fteval.compare.results import IMBALANCE_RATIO, build_results
from fteval.config import RunConfig
from fteval.errors import ConfigError, FtevalError, OutputError
from fteval.pipeline.cost import (
    CostMeter,
    Work,
    arm_costs,
    cost_to_remember,
    processed_tokens,
    with_weight_bytes,
)
from fteval.pipeline.fit import fit_tasks
from fteval.pipeline.items import item_records
from fteval.pipeline.judge import (
    Judge,
    make_judge,
    read_judgments,
    refuse_evaluated_judge,
    run_judge,
    unreadable_judgments,
    with_judge_name,
)
from fteval.pipeline.manifest import arm_record, run_manifest
from fteval.pipeline.preflight import (
    ArmFiles,
    cache_folder,
    check_arm_files,
    check_base_not_served,
    check_input_files,
    check_judge_files,
    check_output_paths,
    check_reachability,
    refuse_unused_judge,
    tokenizer_warnings,
)
from fteval.pipeline.requests import run_task_arms
from fteval.pipeline.robustness_setup import (
    build_variants,
    check_same_variants,
    describe_variants,
    prepare_tasks,
    read_training_logs,
    realign_spans,
    with_guardrails,
)
from fteval.pipeline.task_setup import check_per_task_keys, run_specs, tasks_of
from fteval.pipeline.truncation import tag_context_cuts
from fteval.records.rundir import RunDirectory, default_run_dir, utc_now
from fteval.report.files import write_reports
from fteval.scoring import TaskInfo, attach_scores
from fteval.tasks import Task

logger = logging.getLogger(__name__)


def load_tasks(config: RunConfig) -> list[Task]:
    """Every task of the run (guardrails included), loaded, checked and tagged (slices,
    contamination); duplicate names are an error."""
    tasks = [
        t.with_imbalance_metrics(IMBALANCE_RATIO) for t in with_guardrails(tasks_of(config), config)
    ]
    for task in tasks:
        check_targets(task)
    seen: dict[str, str] = {}
    for task in tasks:
        if task.name in seen:
            raise ConfigError(
                f"two tasks are named {task.name!r} ({seen[task.name]} and {task.source})"
            )
        seen[task.name] = task.source
    check_margin_keys(config, tasks)
    check_per_task_keys(config, tasks, [*run_specs(config), *config.guardrails])
    return prepare_tasks(tasks, config)


def check_margin_keys(config: RunConfig, tasks: Sequence[Task]) -> None:
    """Each non-inferiority margin must name a task of the run (and one of its metrics)."""
    if not config.non_inferiority:
        return
    metrics = {t.name: {m.key for m in t.build_metrics()} for t in tasks}
    for key in config.non_inferiority:
        task, _, metric = key.partition("/")
        if task not in metrics:
            raise ConfigError(
                f"non_inferiority: {key!r} names no task of this run (tasks: {sorted(metrics)})"
            )
        if metric and metric not in metrics[task]:
            raise ConfigError(
                f"non_inferiority: {key!r} names no metric of task {task!r} "
                f"(metrics: {sorted(metrics[task])})"
            )


def check_targets(task: Task) -> None:
    """Let each metric refuse targets it would score wrongly, before any model loads.

    For example ROUGE's ASCII-only tokenizer on non-Latin references.
    """
    targets = [example.target for example in task.examples]
    for metric in task.build_metrics():
        check = getattr(metric, "check_targets", None)
        if check is None:
            continue
        try:
            check(targets)
        except ValueError as error:
            raise ConfigError(f"task {task.name!r} ({task.source}): {error}") from None


def execute(
    config: RunConfig,
    *,
    backend: Backend | None = None,
    progress: bool = True,
    stats_options: StatsOptions | None = None,
    judge: Judge | None = None,
) -> tuple[dict[str, Any], Path]:
    """Run the evaluation described by ``config``.

    Args:
        config: the validated run config.
        backend: serves the arms (default: the config's backend, with the cache).
        progress: show progress bars.
        stats_options: statistics settings (default: the config's).
        judge: the judge of judged tasks (default: the config's ``judge`` model).

    Returns:
        The results object (as written to results.json) and the run directory.
    """
    started = time.monotonic()
    check_output_paths(config)
    check_input_files(config)
    tasks = with_judge_name(load_tasks(config), config)
    refuse_unused_judge(config, tasks)
    arm_files = check_arm_files(config) if backend is None else ArmFiles()
    warnings = tokenizer_warnings(tasks, arm_files)
    training_logs = read_training_logs(config)
    arms = config.arms()
    judged = any(t.judge for t in tasks) and judge is None
    if judged:
        if config.judge is None:
            raise ConfigError(
                f"task {next(t.name for t in tasks if t.judge)!r} is judged: name a judge "
                "model with --judge MODEL (never one of the evaluated models)"
            )
        refuse_evaluated_judge(config.judge, arms)
        check_judge_files(config)
    if backend is None:
        check_reachability(config)
    if judged:
        judge = make_judge(config)  # checks its files now; its weights load after the arms
    backend = backend or build_backend(config, progress=progress)
    kinds = [task.request_kind for task in tasks]
    backend.require(kinds)
    backend.check_inputs()
    backend.check_servers(kinds)  # served models probed before the run directory exists
    tasks = tag_context_cuts(realign_spans(fit_tasks(tasks, backend, arms)), backend, arms)
    variants = fit_tasks(build_variants(tasks, config, backend, arms), backend, arms)
    variants = tag_context_cuts(variants, backend, arms)
    run_dir = RunDirectory(config.out or default_run_dir())
    created = [p for p in (run_dir.path, *run_dir.path.parents) if not p.exists()]
    options = stats_options or StatsOptions.from_settings(config)
    manifest = run_manifest(config, tasks, options)
    if training_logs:
        manifest["training_logs"] = training_logs
    if variants:
        manifest["variants"] = describe_variants(variants)
    if warnings:
        manifest["warnings"] = warnings
    attempt = _Attempt(run_dir, manifest)
    try:
        with run_dir.lock():
            attempt.open(config)
            try:
                results = _run_in(
                    run_dir, config, tasks, backend, manifest, options, attempt.previous, judge,
                    variants,
                )  # fmt: skip
                manifest["timings_s"]["total"] = round(time.monotonic() - started, 3)
                run_dir.write_manifest(manifest)
            except BaseException as error:
                if not attempt.refused(error):
                    run_dir.mark_failed(manifest, error)
                raise
            finally:
                backend.close()
    except BaseException as error:
        if attempt.refused(error):
            run_dir.discard(created=created)  # refused before any work: leave nothing
        raise
    return results, run_dir.path


class _Attempt:
    """One attempt at a run directory: whether it resumed, and whether a failure counts
    as a refusal (bad input found before any sample was written: the directory is then
    removed again, as if the pre-flight had caught it)."""

    def __init__(self, run_dir: RunDirectory, manifest: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.manifest = manifest
        self.opened = False
        self.previous: dict[str, Any] | None = None

    def open(self, config: RunConfig) -> None:
        """Make (or resume) the run directory and write the manifest."""
        resumed = self.run_dir.open_for(config.model_dump())
        self.previous = self.run_dir.read_manifest() if resumed else None
        self.opened = True
        if self.previous is not None:
            check_same_data(self.previous, self.manifest)
            check_same_variants(self.previous, self.manifest)
            self.manifest["started_at"] = self.previous.get(
                "started_at", self.manifest["started_at"]
            )
            self.manifest["resumed_at"] = [*self.previous.get("resumed_at", []), utc_now()]
        self.run_dir.write_manifest(self.manifest)

    def refused(self, error: BaseException) -> bool:
        """Bad input (a ``FtevalError``; not a failed write, whose manifest says why) in a
        new run that has written no sample yet."""
        return (
            isinstance(error, FtevalError)
            and not isinstance(error, OutputError)
            and self.opened
            and self.previous is None
            and not self.run_dir.has_samples()
        )


def _run_in(
    run_dir: RunDirectory,
    config: RunConfig,
    tasks: Sequence[Task],
    backend: Backend,
    manifest: dict[str, Any],
    options: StatsOptions,
    previous: dict[str, Any] | None,
    judge: Judge | None = None,
    variants: Sequence[Task] = (),
) -> dict[str, Any]:
    """Infer what is missing, then score, report and mark the manifest complete.

    ``variants`` (perturbed and validation copies of the tasks, see
    ``fteval.robustness.variants``) are answered like tasks; their samples carry their own
    task names, so the tasks' clean scores never include them.
    """
    done = run_dir.finished_ids()
    backend.prepare()
    manifest["arms"] = [arm_record(backend, arm) for arm in config.arms()]
    if previous is not None:
        check_same_arms(previous, manifest)
    run_dir.write_manifest(manifest)
    run_dir.write_items(item_records([*tasks, *variants]))
    meter = CostMeter({a["name"]: a["identity"].get("device") for a in manifest["arms"]})
    from_ray = None
    if config.ray is not None:
        from fteval.pipeline.distributed import RayPool

        from_ray = backend if isinstance(backend, RayPool) else None
    if from_ray is not None:
        manifest["timings_s"] = from_ray.infer_all([*tasks, *variants], run_dir, done)
    else:
        manifest["timings_s"] = _infer_all(
            config, [*tasks, *variants], backend, run_dir, done, meter
        )
    # again: facts known only once models loaded (adapter probes) join the records
    manifest["arms"] = [arm_record(backend, arm) for arm in config.arms()]
    counters = backend.counters()
    if counters is not None:
        manifest["decode_counters"] = counters
    token_counts = backend.token_counts()
    if token_counts is not None:
        manifest["token_counts"] = token_counts
    cache_stats = backend.cache_stats()
    if cache_stats is not None:
        manifest["response_cache"] = cache_stats
    samples = run_dir.read_samples()
    work = {
        arm["name"]: Work(
            cache=(cache_stats or {}).get(arm["name"], {}),
            tokens_processed=processed_tokens((token_counts or {}).get(arm["name"])),
            recorded=backend.remembered_cost(arm["name"]),
        )
        for arm in manifest["arms"]
    }
    costs = arm_costs(
        manifest["arms"], meter.measured, samples, resumed=previous is not None, work=work
    )
    costs = with_weight_bytes(costs, manifest["arms"], backend.weight_bytes())
    measured_at = utc_now()
    for arm in manifest["arms"]:
        arm["cost"] = costs[arm["name"]]
        remembered = cost_to_remember(arm["cost"], measured_at)
        if remembered is not None:
            backend.remember_cost(arm["name"], remembered)
    if any(t.judge for t in tasks):
        began = time.monotonic()
        judge = judge or make_judge(config)
        manifest["judge"] = judge.identity()
        try:
            run_judge(run_dir.path, tasks, samples, judge)
        finally:
            judge.close()
        unreadable = unreadable_judgments(read_judgments(run_dir.path))
        if unreadable:
            logger.warning("%s", unreadable)
            manifest["warnings"] = [*manifest.get("warnings", []), unreadable]
        manifest["timings_s"]["judge"] = round(time.monotonic() - began, 3)
    began = time.monotonic()
    results = build_results(
        manifest["arms"], [TaskInfo.of(t) for t in tasks], samples, options,
        read_judgments(run_dir.path), manifest=manifest,
    )  # fmt: skip
    manifest["timings_s"]["results"] = round(time.monotonic() - began, 3)
    run_dir.write_results(results)
    began = time.monotonic()
    finished = {"status": "complete", "finished_at": utc_now()}  # what the reports show
    write_reports(run_dir, results, {**manifest, **finished}, samples=samples)
    manifest["timings_s"]["reports"] = round(time.monotonic() - began, 3)
    manifest.update(finished)
    return results


def build_backend(config: RunConfig, *, progress: bool = True) -> Backend:
    """The run's backend: in this process, or spread over a Ray cluster (``config.ray``);
    served arms beside local ones go to their own backend (``served_beside``)."""
    settings = backend_settings(config)
    if served_beside(config):
        return routed_backend(config, settings, progress=progress)
    local = make_backend(config.backend, config.arms(), progress=progress, **settings)
    if config.ray is None:
        return with_cache(local, config)
    from fteval.pipeline.distributed import RayPool

    return RayPool(local, config, settings=settings)


def served_beside(config: RunConfig) -> bool:
    """Whether some arms are served (``openai:MODEL``) beside arms the hf backend loads."""
    from fteval.backends.forms import is_served

    return config.backend == "hf" and any(is_served(a.path) for a in config.arms())


def routed_backend(config: RunConfig, settings: dict[str, Any], *, progress: bool) -> Backend:
    """The local arms on the hf backend, the served ones on the openai backend, each
    behind its own response cache (``backends.routed``).

    Raises:
        ConfigError: a served base (local adapters need local base weights), or Ray.
    """
    from fteval.backends.forms import is_served
    from fteval.backends.routed import RoutedBackend

    check_base_not_served(config)
    arms = config.arms()
    if config.ray is not None:
        raise ConfigError("served arms beside local ones cannot run on Ray; drop --ray")
    local = [a for a in arms if not is_served(a.path)]
    served = [a for a in arms if is_served(a.path)]
    parts = [
        make_backend(config.backend, local, progress=progress, **settings),
        make_backend("openai", served, progress=progress, **served_settings(config)),
    ]
    return RoutedBackend([with_cache(part, config) for part in parts], arms)


def served_settings(config: RunConfig) -> dict[str, Any]:
    """The openai backend's keyword arguments, from the run config."""
    return {
        "base_url": config.base_url,
        "api_key_env": config.api_key_env,
        "tokenizer": config.tokenizer or served_tokenizer(config),
        "concurrency": config.concurrency,
        "timeout_s": config.request_timeout_s,
        "max_retries": config.max_retries,
        "max_length": config.max_length,
        "request_options": dict(config.request_options),
    }


def served_tokenizer(config: RunConfig) -> str | None:
    """Beside local arms, a served arm is read with the local base's tokenizer (its exact
    token boundary) unless ``tokenizer`` names another; None for a served run."""
    if config.backend == "openai" or not Path(config.base, "tokenizer_config.json").is_file():
        return None
    return config.base


def backend_settings(config: RunConfig) -> dict[str, Any]:
    """The backend's own keyword arguments, from the run config."""
    if config.backend == "openai":
        return served_settings(config)
    if config.backend == "vllm":
        return {
            "dtype": config.dtype,
            "max_length": config.max_length,
            "trust_remote_code": config.trust_remote_code,
            "engine_args": dict(config.engine_args),
            "seed": config.seed,
            "allow_base_mismatch": config.allow_base_mismatch,
        }
    if config.backend != "hf":
        return {}
    return {
        "dtype": config.dtype,
        "device": config.device,
        "batch_size": config.batch_size,
        "max_length": config.max_length,
        "allow_base_mismatch": config.allow_base_mismatch,
        "allow_pickle": config.allow_pickle,
        "trust_remote_code": config.trust_remote_code,
        "adapter_serving": config.adapter_serving,
        "batch_tokens": config.batch_tokens,
        "threads": config.threads,
        "add_bos_token": config.add_bos_token,
        "base_quantization": config.base_quantization,
    }


def with_cache(backend: Backend, config: RunConfig) -> Backend:
    """Wrap ``backend`` in the response cache unless ``cache_dir`` is ``off``.

    Arms without content hashes (hub ids, the fake backend) are never cached.
    """
    folder = cache_folder(config)
    if folder is None:
        return backend
    from fteval.backends.cache import ResponseCache
    from fteval.backends.caching import CachingBackend

    return CachingBackend(backend, ResponseCache(folder / "responses.sqlite"))


def check_same_data(previous: dict[str, Any], manifest: dict[str, Any]) -> None:
    """A resumed run must read the same data: its samples are mixed with the old ones."""
    before = {t["name"]: t.get("data_sha256") for t in previous.get("tasks", [])}
    for task in manifest["tasks"]:
        if task["name"] in before and before[task["name"]] != task["data_sha256"]:
            raise FtevalError(
                f"cannot resume: the data of task {task['name']!r} changed since the run "
                "started (its files' sha256 differ); start a new run with another --out"
            )


def check_same_arms(previous: dict[str, Any], manifest: dict[str, Any]) -> None:
    """A resumed run must serve the same weights, adapter configs and tokenizers."""
    before = {a["name"]: a.get("identity", {}) for a in previous.get("arms", [])}
    for arm in manifest["arms"]:
        old = before.get(arm["name"])
        if not old or "weights_sha256" not in old:
            continue  # the earlier attempt died before the arm was identified
        for key in ("weights_sha256", "adapter_config", "base_weights_sha256", "tokenizer"):
            if old.get(key) != arm["identity"].get(key):
                raise FtevalError(
                    f"cannot resume: arm {arm['name']!r} changed since the run started "
                    f"({key} differs); start a new run with another --out"
                )


def remaining_chunks(
    task: Task, arm: str, done: dict[tuple[str, str], set[str]], size: int
) -> list[Task]:
    """The task's examples not yet answered by ``arm``, in chunks of ``size`` (in order).

    One process and Ray workers answer exactly these chunks, one backend call each, so
    both make the same batches and write the same samples. A chunk carries no loader: it
    is sent to Ray workers, and a loader may hold every split's rows.
    """
    finished = done.get((task.name, arm), set())
    remaining = [ex for ex in task.examples if ex.example_id not in finished]
    return [
        dataclasses.replace(task, examples=tuple(remaining[start : start + size]), loader=None)
        for start in range(0, len(remaining), size)
    ]


def arm_groups(backend: Backend, config: RunConfig) -> list[tuple[str, ...]]:
    """The run's arms in the groups the backend answers together, in arm order; an arm
    the backend leaves out is a group of its own."""
    names = [arm.name for arm in config.arms()]
    groups = [tuple(a for a in group if a in names) for group in backend.arm_groups()]
    grouped = [group for group in groups if group]
    covered = {a for group in grouped for a in group}
    grouped += [(name,) for name in names if name not in covered]
    return sorted(grouped, key=lambda group: names.index(group[0]))


def remaining_group_chunks(
    task: Task, arms: Sequence[str], done: dict[tuple[str, str], set[str]], size: int
) -> list[tuple[tuple[str, ...], Task]]:
    """(arms, chunk) pairs covering every example the arms have not yet answered.

    One arm: its ``remaining_chunks``. Several: the task's examples in chunks of ``size``
    from the first; in each, the arms that lack the same examples answer them together
    (all of them, except after an interrupted run), so a resumed run appends its lines
    in the order an uninterrupted one would.
    """
    if len(arms) == 1:
        return [((arms[0],), chunk) for chunk in remaining_chunks(task, arms[0], done, size)]
    out = []
    for start in range(0, len(task.examples), size):
        examples = task.examples[start : start + size]
        needs: dict[tuple[str, ...], list[str]] = {}
        for arm in arms:
            finished = done.get((task.name, arm), set())
            missing = tuple(ex.example_id for ex in examples if ex.example_id not in finished)
            if missing:
                needs.setdefault(missing, []).append(arm)
        for missing, members in needs.items():
            chosen = tuple(ex for ex in examples if ex.example_id in set(missing))
            out.append((tuple(members), dataclasses.replace(task, examples=chosen, loader=None)))
    return out


def _infer_all(
    config: RunConfig,
    tasks: Sequence[Task],
    backend: Backend,
    run_dir: RunDirectory,
    done: dict[tuple[str, str], set[str]],
    meter: CostMeter | None = None,
) -> dict[str, Any]:
    """Answer every (arm, task) example not yet in samples.jsonl, flushing in chunks.

    Arms the backend serves together (``Backend.arm_groups``: a base and its adapters
    with per-row adapters) answer each chunk in one backend call; their samples are
    appended arm by arm after each chunk. Chunks of ``config.flush_every`` examples are
    appended as soon as they are scored, so a killed run loses at most one chunk per arm;
    the order of lines is the same as in an uninterrupted run.
    """
    timings: dict[str, Any] = {"inference": {}, "scoring": 0.0}
    metrics = {task.name: task.build_metrics() for task in tasks}
    meter = meter or CostMeter()
    for group in arm_groups(backend, config):
        meter.start_group(group)
        for task in tasks:
            began = time.monotonic()
            for arms, chunk in remaining_group_chunks(task, group, done, config.flush_every):
                by_arm = run_task_arms(chunk, arms, backend, seed=config.seed)
                scoring_began = time.monotonic()
                for arm in arms:
                    attach_scores(by_arm[arm], metrics[task.name])
                timings["scoring"] += time.monotonic() - scoring_began
                for arm in arms:
                    run_dir.append_samples(by_arm[arm])
            elapsed = round(time.monotonic() - began, 3)
            for arm in group:
                timings["inference"][f"{arm}/{task.name}"] = elapsed
        meter.stop_group(group)
        for arm in group:
            backend.release(arm)
    timings["scoring"] = round(timings["scoring"], 3)
    return timings

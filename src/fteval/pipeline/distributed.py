"""Ray: a run's chunks of work spread over workers, each holding one long-lived backend.

``fteval run --ray [ADDRESS]``. The driver (the process that runs ``fteval run``) loads
the tasks, writes the run directory and loads no weights. Each worker (a Ray actor)
builds the run's backend once and serves every arm with it, as one process would: the HF
backend keeps one base with all adapters, then the full fine-tune.

**The unit of work** is the single-process run's: one flush chunk of one task for one arm
(``pipeline.run.remaining_chunks``), answered by one backend call. A chunk holds whole
examples, so the answer choices that share an item's context are computed together, the
context once; and since each chunk is the very call one process would make, the worker
forms the same batches and returns the same numbers. Chunks are handed out in the
single-process order as workers come free, and their samples are appended to
``samples.jsonl`` in that order (a chunk that finishes early waits for the ones before
it). So a Ray run writes the same samples.jsonl and results.json, byte for byte, as one
process with the same device and thread settings (float sums on CPUs with another thread
count can differ in the last bits). Resuming works as in one process: the driver asks
only for the examples not yet in samples.jsonl, and ``ray`` is not part of what a resumed
config must match, so a run may resume with or without Ray.

**Workers.** One per GPU (``num_gpus=1``) when the cluster has GPUs; else one per node,
with the node's CPUs shared out (``--ray-workers`` overrides the count). A worker moving
on to a later arm first releases the arms before it, so it never holds the base group and
the full fine-tune at once. Each worker keeps its own response cache (the run's
``cache_dir``, on the worker's machine: SQLite is not for shared network storage).

**Failures.** A worker that dies (process killed, node lost) has its chunk handed to
another worker and is replaced by a fresh one; a chunk that outlives ``MAX_ATTEMPTS``
workers fails the run. An error the backend raises (bad input, a model that cannot load)
is not retried: it is raised as in one process.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fteval.backends import make_backend
from fteval.backends.base import ArmIdentity, Backend, TokenBudget
from fteval.config import RunConfig
from fteval.errors import BackendError, ConfigError, FtevalError, MissingDependencyError
from fteval.records import LoglikelihoodRequest, LoglikelihoodResult, SampleResult
from fteval.records.rundir import RunDirectory
from fteval.tasks import Task

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # workers a chunk may outlive before the run fails
RAY_BACKENDS = ("hf", "vllm", "fake")
FORWARDED_ENV = (
    "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS",
)  # fmt: skip
FORWARDED_PREFIXES = ("FTEVAL_",)
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def require_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ModuleNotFoundError:
        raise MissingDependencyError("ray", "ray", "--ray") from None
    return ray


class _Worker:
    """A Ray actor: one backend for every arm, answering chunks of tasks."""

    def __init__(
        self,
        config: RunConfig,
        settings: dict[str, Any],
        cache: str | None,
        env: dict[str, str],
    ) -> None:
        os.environ.update(env)
        self.config = config
        self.arm_order = [arm.name for arm in config.arms()]
        backend = make_backend(config.backend, config.arms(), progress=False, **settings)
        if cache is not None:
            from fteval.backends.cache import ResponseCache
            from fteval.backends.caching import CachingBackend

            backend = CachingBackend(backend, ResponseCache(Path(cache) / "responses.sqlite"))
        self.backend: Backend = backend
        self.released: set[str] = set()
        self.metrics: dict[str, Any] = {}

    def pid(self) -> int:
        return os.getpid()

    def prepare(self, released: list[str]) -> None:
        """Load what the remaining arms need (a replacement skips released groups)."""
        for arm in released:
            self._release(arm)
        group = {arm.name for arm in self.config.arms() if arm.kind in ("base", "adapter")}
        if group <= self.released:
            self.backend.check_inputs()  # the rest loads when first asked
        else:
            self.backend.prepare()

    def run_chunk(self, arm: str, chunk: Task) -> tuple[list[dict[str, Any]], float, float]:
        """The chunk's samples (JSON, scored), and seconds spent inferring and scoring."""
        from fteval.pipeline.requests import run_task
        from fteval.scoring import attach_scores

        for earlier in self.arm_order[: self.arm_order.index(arm)]:
            self._release(earlier)
        began = time.monotonic()
        samples = run_task(chunk, arm, self.backend, seed=self.config.seed)
        scoring = time.monotonic()
        if chunk.name not in self.metrics:
            self.metrics[chunk.name] = chunk.build_metrics()
        attach_scores(samples, self.metrics[chunk.name])
        done = time.monotonic()
        return [s.to_json() for s in samples], scoring - began, done - scoring

    def _release(self, arm: str) -> None:
        if arm not in self.released:
            self.released.add(arm)
            self.backend.release(arm)

    def identity(self, arm: str) -> ArmIdentity:
        return self.backend.identity(arm)

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        return self.backend.tokenizer_facts(arm)

    def report(self) -> tuple[dict[str, int] | None, dict[str, dict[str, Any]] | None]:
        return self.backend.counters(), self.backend.cache_stats()

    def close(self) -> None:
        self.backend.close()


class RayPool(Backend):
    """The driver's side of a Ray run; see the module docstring.

    It is a ``Backend`` for the run loop's hooks (``check_inputs``, ``prepare``,
    ``identity``, ...); the work itself goes through ``infer_all``.

    Args:
        local: the run's backend built on the driver, only for ``check_inputs`` (cheap
            checks before any cluster work); it loads no weights.
        config: the run config (``ray``: ``local`` or a cluster address).
        settings: the backend's keyword arguments.
    """

    def __init__(self, local: Backend, config: RunConfig, *, settings: dict[str, Any]) -> None:
        super().__init__(local.arms)
        if config.backend not in RAY_BACKENDS:
            raise ConfigError(
                f"--ray runs the {', '.join(RAY_BACKENDS)} backends; the {config.backend} "
                "backend sends its requests to a server, which does the work: raise "
                "--concurrency instead"
            )
        require_ray()
        self.local = local
        self.config = config
        self.settings = dict(settings)
        self.name = local.name
        self.supports = local.supports
        self.replacements = 0
        self._ray: Any = None
        self._owns_ray = False
        self._workers: list[Any] = []
        self._options: dict[str, Any] = {}
        self._env: dict[str, str] = {}
        self._released: set[str] = set()
        self._identities: dict[str, ArmIdentity] = {}
        self._reports: list[Any] = []

    # ---- the cluster ----

    def check_inputs(self) -> None:
        self.local.check_inputs()

    def prepare(self) -> None:
        """Connect to (or start) Ray, start the workers, let each load its models."""
        import ray

        self._ray = ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING"}
            try:
                if self.config.ray == "local":
                    ray.init(**options)
                else:
                    ray.init(address=self.config.ray, **options)
            except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
                raise BackendError(
                    f"--ray {self.config.ray}: cannot connect to a Ray cluster: "
                    f"{_first_line(error)}"
                ) from None
            self._owns_ray = True
        count, self._options = self._placement()
        self._check_fits(count)
        self._env = forwarded_env(self._options.get("num_cpus", 1))
        self._workers = [self._spawn() for _ in range(count)]
        logger.info("Ray: %d workers, each with %s", count, self._options)
        self._get([worker.prepare.remote([]) for worker in self._workers])

    def _placement(self) -> tuple[int, dict[str, Any]]:
        """How many workers, and the resources each asks for."""
        ray = self._ray
        resources = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")] or [{"Resources": resources}]
        gpus = int(resources.get("GPU", 0))
        wanted = self.config.ray_workers
        if gpus and self.config.backend != "fake" and self.config.device != "cpu":
            return wanted or gpus, {"num_gpus": 1, "num_cpus": 1}
        count = wanted or len(nodes)
        node_cpus = min(int(n.get("Resources", {}).get("CPU", 1)) for n in nodes)
        return count, {"num_cpus": max(1, node_cpus // math.ceil(count / len(nodes)))}

    def _check_fits(self, count: int) -> None:
        """Refuse more workers than the cluster can place at once: the rest would wait
        for resources forever. Only for a cluster this run started (``local``): a remote
        cluster may scale up for them, so there it is a warning."""
        resources = self._ray.cluster_resources()
        room = {
            kind: int(float(resources.get(key, 0)) // need)
            for kind, key in (("CPUs", "CPU"), ("GPUs", "GPU"))
            if (need := float(self._options.get(f"num_{key.lower()}s", 0))) > 0
        }
        most = min(room.values(), default=count)
        if count <= most:
            return
        problem = (
            f"--ray-workers {count}: the cluster can place {most} workers at once "
            f"(each asks for {self._options}; it has {resources.get('CPU', 0):g} CPUs, "
            f"{resources.get('GPU', 0):g} GPUs)"
        )
        if self.config.ray == "local":
            raise BackendError(f"{problem}; the others would wait forever. Ask for at most {most}")
        logger.warning("%s; the others wait until the cluster grows", problem)

    def _spawn(self) -> Any:
        from fteval.pipeline.run import cache_folder

        folder = cache_folder(self.config)
        actor = self._ray.remote(_Worker).options(max_restarts=0, **self._options)
        return actor.remote(
            self.config, self.settings, None if folder is None else str(folder), self._env
        )

    def _replace(self, slot: int, error: Exception) -> None:
        self.replacements += 1
        if self.replacements > MAX_ATTEMPTS * max(1, len(self._workers)):
            raise BackendError(f"Ray workers keep dying ({self.replacements} lost): {error}")
        logger.warning("Ray worker %d died (%s); starting another", slot, _first_line(error))
        worker = self._spawn()
        self._workers[slot] = worker
        self._get(worker.prepare.remote(sorted(self._released)))

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (for operators and tests)."""
        return [int(pid) for pid in self._get([w.pid.remote() for w in self._workers])]

    def _get(self, refs: Any) -> Any:
        """``ray.get``; an error the backend raised comes back as itself."""
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, FtevalError):
                raise cause from None
            raise

    def _schedule(self, n_tasks: int, submit: Callable[[Any, int], Any]) -> Any:
        """Run tasks ``0..n_tasks-1`` on free workers, yielding (task, result) as each ends.

        A dead worker's task runs again on another.
        """
        ray = self._ray
        queue = deque(range(n_tasks))
        idle = deque(range(len(self._workers)))
        attempts = [0] * n_tasks
        in_flight: dict[Any, tuple[int, int]] = {}
        while queue or in_flight:
            while queue and idle:
                slot, task = idle.popleft(), queue.popleft()
                in_flight[submit(self._workers[slot], task)] = (slot, task)
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            slot, task = in_flight.pop(ready)
            try:
                result = self._get(ready)
            except ray.exceptions.RayActorError as error:
                attempts[task] += 1
                if attempts[task] >= MAX_ATTEMPTS:
                    raise BackendError(
                        f"a chunk of work was lost with {attempts[task]} Ray workers; the "
                        f"last: {_first_line(error)}"
                    ) from None
                queue.appendleft(task)
                self._replace(slot, error)
                idle.append(slot)
                continue
            idle.append(slot)
            yield task, result

    # ---- the work ----

    def infer_all(
        self,
        tasks: Sequence[Task],
        run_dir: RunDirectory,
        done: dict[tuple[str, str], set[str]],
    ) -> dict[str, Any]:
        """Answer every chunk not yet in samples.jsonl; append samples in run order.

        Returns:
            Timings as the single-process loop reports them (seconds summed over workers).
        """
        from fteval.pipeline.run import remaining_chunks

        items = [
            (arm.name, chunk)
            for arm in self.config.arms()
            for task in tasks
            for chunk in remaining_chunks(task, arm.name, done, self.config.flush_every)
        ]
        timings: dict[str, Any] = {"inference": {}, "scoring": 0.0}
        waiting: dict[int, list[dict[str, Any]]] = {}
        written = 0
        jobs = self._schedule(
            len(items), lambda worker, i: worker.run_chunk.remote(items[i][0], items[i][1])
        )
        for index, (samples, inferring, scoring) in jobs:
            arm, chunk = items[index]
            key = f"{arm}/{chunk.name}"
            timings["inference"][key] = round(timings["inference"].get(key, 0.0) + inferring, 3)
            timings["scoring"] += scoring
            waiting[index] = samples
            while written in waiting:
                run_dir.append_samples(SampleResult.from_json(s) for s in waiting.pop(written))
                self._released.update(self._arms_before(items[written][0]))
                written += 1
        timings["scoring"] = round(timings["scoring"], 3)
        self._reports = self._on_each(lambda w: w.report.remote())
        return timings

    def _arms_before(self, arm: str) -> list[str]:
        order = [a.name for a in self.config.arms()]
        return order[: order.index(arm)]

    def _on_each(self, method: Callable[[Any], Any]) -> list[Any]:
        answers = []
        for worker in self._workers:
            try:
                answers.append(self._get(method(worker)))
            except self._ray.exceptions.RayActorError as error:
                logger.warning("a Ray worker did not answer: %s", _first_line(error))
        return answers

    # ---- facts, from the workers ----

    def identity(self, arm: str) -> ArmIdentity:
        if arm not in self._identities:
            [(_, identity)] = self._schedule(1, lambda w, _: w.identity.remote(arm))
            self._identities[arm] = identity
        return self._identities[arm]

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        [(_, facts)] = self._schedule(1, lambda w, _: w.tokenizer_facts.remote(arm))
        return facts

    def token_budget(self, arm: str) -> TokenBudget | None:
        """The driver's own backend measures prompts (tokenizer files only, no weights).

        So prompts are fitted once, before any work is sent to the workers.
        """
        return self.local.token_budget(arm)

    def counters(self) -> dict[str, int] | None:
        """Work counters summed over the workers (a dead worker's counts are lost)."""
        totals: dict[str, int] = {}
        for counts, _ in self._reports:
            for key, value in (counts or {}).items():
                totals[key] = totals.get(key, 0) + int(value)
        return totals or None

    def cache_stats(self) -> dict[str, dict[str, Any]] | None:
        """Response-cache hits and misses per arm, summed over the workers."""
        merged: dict[str, dict[str, Any]] = {}
        for _, stats in self._reports:
            for arm, row in (stats or {}).items():
                into = merged.setdefault(arm, {"hits": 0, "misses": 0, "cached": row["cached"]})
                into["hits"] += row["hits"]
                into["misses"] += row["misses"]
        return merged or None

    # ---- unused by the run loop (work goes through infer_all) ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        raise BackendError("a Ray run answers whole chunks through infer_all")

    def close(self) -> None:
        ray = self._ray
        if ray is not None:
            for worker in self._workers:
                ray.kill(worker)
            self._workers = []
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False
        self.local.close()


def forwarded_env(num_cpus: int) -> dict[str, str]:
    """The driver's settings that workers need; never anything named like a secret.

    Actor arguments are kept by Ray's control store: workers read their own secrets.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if (key in FORWARDED_ENV or key.startswith(FORWARDED_PREFIXES))
        and not any(word in key.upper() for word in SECRET_WORDS)
    }
    env.setdefault("OMP_NUM_THREADS", str(num_cpus))
    env.setdefault("MKL_NUM_THREADS", str(num_cpus))
    return env


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


__all__ = ["RayPool", "forwarded_env", "require_ray"]

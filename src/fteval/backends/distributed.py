"""Ray: the requests of a run spread over workers, each holding one long-lived backend.

``RayBackend`` is itself a ``Backend``: the run loop (``pipeline.run``) is unchanged. It
asks for an arm's answers one flush chunk at a time, in the single-process order, and
appends them to ``samples.jsonl`` in that order; so a Ray run writes the same samples and
results, byte for byte, as a run in one process, and a run cut short resumes the same way
(with or without Ray: ``ray`` is not part of what a resumed config must match). The
response cache stays on the driver (``pipeline.run.with_cache`` wraps this backend), so
only misses travel and the SQLite file never sits on shared storage.

**Workers.** Each worker (a Ray actor) builds the run's backend once and serves every arm
with it: the HF backend keeps one base with all adapters, then the full fine-tune, exactly
as in one process. One worker per GPU (``num_gpus=1``) when the cluster has GPUs; else one
per node, with that node's CPUs shared out. The driver loads no weights.

**Sharding.** A call's requests are grouped by their shared context (the prompt that all
of an item's answer choices follow; the text of a rolling request; the prompt of a
generation), and each group goes to one worker whole, so each prefix is computed once per
arm. Groups are cut into contiguous shards, two per worker, balanced by length, and handed
out as workers come free.

**Failures.** A worker that dies (its process killed, its node lost) has its shard put
back in the queue and is replaced by a new worker, which loads what the remaining arms
need; a shard that has killed ``MAX_ATTEMPTS`` workers fails the run. An error the
backend raises (bad input, a model that cannot load) is not retried: it is raised as in
one process.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from fteval.backends.base import ArmIdentity, Backend
from fteval.errors import BackendError, ConfigError, FtevalError, MissingDependencyError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)

logger = logging.getLogger(__name__)

SHARDS_PER_WORKER = 2
MAX_ATTEMPTS = 3  # workers a shard may outlive before the run fails
FORWARDED_ENV_PREFIXES = ("FTEVAL_",)
FORWARDED_ENV = (
    "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS",
)  # fmt: skip
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
RAY_BACKENDS = ("hf", "vllm", "fake")


def require_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ModuleNotFoundError:
        raise MissingDependencyError("ray", "ray", "--ray") from None
    return ray


def shard_by_context(keys: Sequence[str], costs: Sequence[int], n_shards: int) -> list[list[int]]:
    """Request indices cut into at most ``n_shards`` contiguous shards of whole groups.

    Args:
        keys: each request's shared context; requests with equal keys stay together.
        costs: each request's size (characters), to balance the shards.
        n_shards: shards wanted (>= 1).

    Returns:
        Lists of request indices; groups in order of first appearance.
    """
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    ordered = list(groups.values())
    total = sum(costs) or 1
    target = total / max(1, min(n_shards, len(ordered)))
    shards: list[list[int]] = [[]]
    filled = 0.0
    for group in ordered:
        if shards[-1] and filled >= target * len(shards) and len(shards) < n_shards:
            shards.append([])
        shards[-1].extend(group)
        filled += sum(costs[i] for i in group)
    return [shard for shard in shards if shard]


def _keys_and_costs(kind: str, requests: Sequence[Any]) -> tuple[list[str], list[int]]:
    if kind == "loglikelihood":
        return [r.context for r in requests], [
            len(r.context) + len(r.continuation) for r in requests
        ]
    if kind == "loglikelihood_rolling":
        return [r.text for r in requests], [len(r.text) for r in requests]
    return [r.prompt for r in requests], [len(r.prompt) + r.max_new_tokens for r in requests]


class _Worker:
    """A Ray actor holding one backend for every arm (see the module docstring)."""

    def __init__(
        self, backend: str, arms: Sequence[ArmSpec], settings: dict[str, Any], env: dict[str, str]
    ) -> None:
        os.environ.update(env)
        from fteval.backends import make_backend

        self.backend = make_backend(backend, arms, progress=False, **settings)

    def pid(self) -> int:
        return os.getpid()

    def prepare(self, load: bool) -> None:
        if load:
            self.backend.prepare()
        else:  # only arms that load lazily remain (a replacement after the base group)
            self.backend.check_inputs()

    def call(self, kind: str, arm: str, requests: list[Any]) -> list[Any]:
        return getattr(self.backend, kind)(arm, requests)

    def identity(self, arm: str) -> ArmIdentity:
        return self.backend.identity(arm)

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        return self.backend.tokenizer_facts(arm)

    def counters(self) -> dict[str, int] | None:
        return self.backend.counters()

    def release(self, arm: str) -> None:
        self.backend.release(arm)

    def close(self) -> None:
        self.backend.close()


class RayBackend(Backend):
    """Serves the run's arms from Ray workers; see the module docstring.

    Args:
        local: the same backend built on the driver, used only for ``check_inputs``
            (cheap checks before any cluster work); it loads no weights.
        backend: the backend's name, built again on every worker.
        settings: the backend's keyword arguments.
        address: ``local`` (start a Ray instance on this machine) or a cluster's address
            (``ray://host:10001``, ``host:6379``, ``auto``).
        workers: number of workers (default: one per GPU, else one per node).
    """

    def __init__(
        self,
        local: Backend,
        *,
        backend: str,
        settings: dict[str, Any],
        address: str = "local",
        workers: int | None = None,
    ) -> None:
        super().__init__(local.arms)
        if backend not in RAY_BACKENDS:
            raise ConfigError(
                f"--ray runs the {', '.join(RAY_BACKENDS)} backends; the {backend} backend sends "
                "its requests to a server, which does the work: raise --concurrency instead"
            )
        self.local = local
        self.name = local.name
        self.supports = local.supports
        self.backend_name = backend
        self.settings = dict(settings)
        self.address = address
        self.requested_workers = workers
        self.replacements = 0
        self._ray: Any = None
        self._owns_ray = False
        self._workers: list[Any] = []
        self._options: dict[str, Any] = {}
        self._env: dict[str, str] = {}
        self._released: set[str] = set()
        self._identities: dict[str, ArmIdentity] = {}
        self._dead_counters: dict[str, int] = {}

    # ---- the cluster ----

    def check_inputs(self) -> None:
        self.local.check_inputs()

    def prepare(self) -> None:
        """Connect to (or start) Ray, start the workers, and let each load its models."""
        ray = self._connect()
        count, options = self._placement(ray)
        self._options = options
        self._env = _forwarded_env(options.get("num_cpus", 1))
        self._workers = [self._spawn() for _ in range(count)]
        logger.info(
            "Ray: %d workers (%s each)", count,
            ", ".join(f"{k}={v}" for k, v in options.items() if k.startswith("num_")),
        )  # fmt: skip
        self._get([w.prepare.remote(True) for w in self._workers])

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for operators and tests)."""
        return [int(pid) for pid in self._get([w.pid.remote() for w in self._workers])]

    def _connect(self) -> Any:
        ray = self._ray = require_ray()
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if self.address == "local":
            ray.init(**options)
        else:
            ray.init(address=self.address, **options)
        self._owns_ray = True
        return ray

    def _placement(self, ray: Any) -> tuple[int, dict[str, Any]]:
        """How many workers, and the resources of each."""
        resources = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")] or [{"Resources": resources}]
        gpus = int(resources.get("GPU", 0))
        on_gpu = gpus > 0 and self.backend_name != "fake" and self.settings.get("device") != "cpu"
        if on_gpu:
            count = self.requested_workers or gpus
            return count, {"num_gpus": 1, "num_cpus": 1}
        count = self.requested_workers or len(nodes)
        node_cpus = min(int(n.get("Resources", {}).get("CPU", 1)) for n in nodes)
        per_node = math.ceil(count / len(nodes))
        return count, {"num_cpus": max(1, node_cpus // per_node)}

    def _spawn(self) -> Any:
        actor = self._ray.remote(_Worker).options(max_restarts=0, **self._options)
        return actor.remote(self.backend_name, self.arms, self.settings, self._env)

    def _replace(self, slot: int, error: Exception) -> None:
        self.replacements += 1
        if self.replacements > MAX_ATTEMPTS * max(1, len(self._workers)):
            raise BackendError(f"Ray workers keep dying ({self.replacements} lost): {error}")
        logger.warning("Ray worker %d died (%s); starting a replacement", slot, _first_line(error))
        group = {a.name for a in self.arms if a.kind in ("base", "adapter")}
        worker = self._spawn()
        self._workers[slot] = worker
        for arm in sorted(self._released):
            worker.release.remote(arm)
        self._get([worker.prepare.remote(not group <= self._released)])

    def _get(self, refs: Any) -> Any:
        """``ray.get``, with an error the backend raised re-raised as itself."""
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, FtevalError):
                raise cause from None
            raise

    # ---- sharded requests ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        return self._sharded("loglikelihood", arm, requests)

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        return self._sharded("loglikelihood_rolling", arm, requests)

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        return self._sharded("generate", arm, requests)

    def _sharded(self, kind: str, arm: str, requests: Sequence[Any]) -> list[Any]:
        self.arm(arm)
        if not requests:
            return []
        keys, costs = _keys_and_costs(kind, requests)
        shards = shard_by_context(keys, costs, SHARDS_PER_WORKER * len(self._workers))
        answers = self._schedule(
            len(shards),
            lambda worker, i: worker.call.remote(kind, arm, [requests[j] for j in shards[i]]),
        )
        results: list[Any] = [None] * len(requests)
        for shard, answer in zip(shards, answers):
            if len(answer) != len(shard):
                raise BackendError(
                    f"a Ray worker answered {len(answer)} of {len(shard)} {kind} requests"
                )
            for index, result in zip(shard, answer):
                results[index] = result
        return results

    def _schedule(self, n_tasks: int, submit: Callable[[Any, int], Any]) -> list[Any]:
        """Run tasks ``0..n_tasks-1`` on free workers; a dead worker's task runs again."""
        ray = self._ray
        queue = deque(range(n_tasks))
        idle = deque(range(len(self._workers)))
        attempts = [0] * n_tasks
        in_flight: dict[Any, tuple[int, int]] = {}
        results: list[Any] = [None] * n_tasks
        while queue or in_flight:
            while queue and idle:
                slot, task = idle.popleft(), queue.popleft()
                in_flight[submit(self._workers[slot], task)] = (slot, task)
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            slot, task = in_flight.pop(ready)
            try:
                results[task] = self._get(ready)
            except ray.exceptions.RayActorError as error:
                attempts[task] += 1
                if attempts[task] >= MAX_ATTEMPTS:
                    raise BackendError(
                        f"a shard of requests was lost with {attempts[task]} Ray workers; "
                        f"the last: {_first_line(error)}"
                    ) from None
                queue.appendleft(task)
                self._replace(slot, error)
            idle.append(slot)
        return results

    # ---- facts, from the workers ----

    def identity(self, arm: str) -> ArmIdentity:
        if arm not in self._identities:
            self._identities[arm] = self._ask(lambda w: w.identity.remote(arm))
        return self._identities[arm]

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        return self._ask(lambda w: w.tokenizer_facts.remote(arm))

    def _ask(self, method: Callable[[Any], Any]) -> Any:
        """One answer from the first worker that is alive (replacing dead ones)."""
        [answer] = self._schedule(1, lambda worker, _: method(worker))
        return answer

    def counters(self) -> dict[str, int] | None:
        """Work counters summed over the workers (a dead worker's counts are lost)."""
        totals: dict[str, int] = {}
        for counts in self._on_each(lambda w: w.counters.remote()):
            for key, value in (counts or {}).items():
                totals[key] = totals.get(key, 0) + int(value)
        return totals or None

    def release(self, arm: str) -> None:
        self._released.add(arm)
        self._on_each(lambda w: w.release.remote(arm))

    def _on_each(self, method: Callable[[Any], Any]) -> list[Any]:
        """Call every worker; a dead one is skipped (it is replaced when next needed)."""
        answers = []
        for worker in self._workers:
            try:
                answers.append(self._get(method(worker)))
            except self._ray.exceptions.RayActorError as error:
                logger.warning("a Ray worker did not answer: %s", _first_line(error))
        return answers

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for worker in self._workers:
            ray.kill(worker)
        self._workers = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        self.local.close()


def _forwarded_env(num_cpus: int) -> dict[str, str]:
    """The driver's settings that workers need; never anything named like a secret
    (actor arguments are kept by Ray's control store): workers read their own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if (key in FORWARDED_ENV or key.startswith(FORWARDED_ENV_PREFIXES))
        and not any(word in key.upper() for word in SECRET_WORDS)
    }
    env.setdefault("OMP_NUM_THREADS", str(num_cpus))
    env.setdefault("MKL_NUM_THREADS", str(num_cpus))
    return env


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


__all__ = ["RayBackend", "require_ray", "shard_by_context"]

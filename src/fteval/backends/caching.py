"""A backend that answers from a ``ResponseCache`` and sends only the misses to another.

``CachingBackend(inner, cache)`` is itself a ``Backend``. For each request type it looks
every request up under the arm's cache key, sends the misses (each distinct request once,
in their original relative order) to ``inner``, stores their results in one transaction,
and returns all results in request order. When every request hits, ``inner`` is not called.

An arm's key is computed when first needed (its first request, or its tokenizer facts),
from ``inner.identity(arm)`` plus the hashes of the arm's and the base's small non-weight
files and the library versions (see ``fteval.backends.cache``); weight files are hashed
through the cache's memo (``use_file_hasher``). An arm whose identity has no content hash
is served uncached, with a warning.

Laziness: when the inner backend's identity needs nothing from ``prepare``
(``identity_before_prepare``, as the HF backend's), ``prepare`` is deferred to the first
request the cache cannot answer (the inner backend then loads and checks every arm,
adapter probes included, before computing anything), and the arm's tokenizer facts are
kept in the cache beside its answers. So a run answered wholly from the cache loads no
model and imports no model library. Other backends (an endpoint whose identity holds a
probe of the server) are prepared at once.

Several arms at once (``answer_arms``): each arm is looked up under its own key; arms
answered wholly from the cache are not sent, and the misses of the others go to
``inner.answer_arms`` in one call (so arms sharing a base are still computed together),
each arm's results stored under its key. ``arm_groups`` is ``inner``'s.

The arm's ``token_budget`` (its context window and token counts of prompts) is kept in
the cache's facts too. Every other hook of ``Backend`` (``identity``, ``check_inputs``,
``check_servers``, ``counters``, ``token_counts``, ``weight_bytes``, ``release``,
``close``) goes to ``inner``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.backends.base import ArmIdentity, Backend, TokenBudget
from fteval.backends.cache import ResponseCache
from fteval.backends.cache_keys import (
    arm_cache_key,
    software_versions,
    support_file_hashes,
    uncacheable_reason,
)
from fteval.errors import BackendError
from fteval.records import (
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)

logger = logging.getLogger(__name__)


class CachingBackend(Backend):
    """Serves ``inner``'s arms through ``cache``; see the module docstring.

    Args:
        inner: the backend that computes misses.
        cache: where responses are looked up and stored.
        own_cache: close ``cache`` in ``close`` (the wrapper owns it).

    Attributes:
        hits: arm name -> requests answered from the cache.
        misses: arm name -> requests sent to ``inner`` (uncached arms included).
    """

    def __init__(self, inner: Backend, cache: ResponseCache, *, own_cache: bool = True) -> None:
        super().__init__(inner.arms)
        self.inner = inner
        self.cache = cache
        self.own_cache = own_cache
        self.name = inner.name
        self.supports = inner.supports
        self.hits: dict[str, int] = {arm.name: 0 for arm in self.arms}
        self.misses: dict[str, int] = {arm.name: 0 for arm in self.arms}
        self._keys: dict[str, str | None] = {}
        self._prepare_pending = False
        inner.use_file_hasher(cache.file_sha256)

    # ---- keys ----

    def arm_key(self, arm: str) -> str | None:
        """The arm's cache key (64 hex digits), or None when the arm is not cached."""
        if arm not in self._keys:
            identity = self.key_identity(arm)
            key = arm_cache_key(identity)
            if key is None:
                logger.warning(
                    "arm %r: responses are not cached: %s", arm, uncacheable_reason(identity)
                )
            else:
                logger.debug("arm %r: cache key %s", arm, key)
            self._keys[arm] = key
        return self._keys[arm]

    def key_identity(self, arm: str) -> dict[str, Any]:
        """What the arm's key is computed from: the inner identity plus support files.

        Support files are read for the arm's folder and, for other arms, the base's folder
        too (adapters, and full fine-tunes saved without a tokenizer, use the base's).
        """
        spec = self.arm(arm)
        identity = self.inner.identity(arm).to_json()
        folders = {"arm": spec.path}
        base = self.base_arm()
        if base is not None and base.name != spec.name:
            folders["base"] = base.path
        identity["support_files_sha256"] = {
            role: support_file_hashes(folder) for role, folder in folders.items()
        }
        identity["software"] = software_versions()
        return identity

    def cache_stats(self) -> dict[str, dict[str, Any]]:
        """Per arm: ``hits``, ``misses`` (requests) and ``cached`` (None: not yet used)."""
        return {
            name: {
                "hits": self.hits[name],
                "misses": self.misses[name],
                "cached": (self._keys[name] is not None) if name in self._keys else None,
            }
            for name in self.hits
        }

    # ---- requests ----

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        return self.answer_arms("loglikelihood", {arm: requests})[arm]

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        return self.answer_arms("loglikelihood_rolling", {arm: requests})[arm]

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        return self.answer_arms("generate", {arm: requests})[arm]

    def arm_groups(self) -> list[tuple[str, ...]]:
        return self.inner.arm_groups()

    def answer_arms(self, kind: str, work: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Each arm's answers: cached ones from the cache; every arm's misses (each
        distinct request once, in order) in one call to the inner backend, so arms that
        share a base are still computed together; an arm wholly cached is not sent."""
        results: dict[str, list[Any]] = {}
        todo: dict[str, dict[Any, list[int]]] = {}
        for arm, requests in work.items():
            self.arm(arm)  # an unknown arm fails before any lookup
            key = self.arm_key(arm)
            found = self.cache.get_many(key, kind, requests) if key is not None else None
            results[arm] = list(found) if found is not None else [None] * len(requests)
            missing: dict[Any, list[int]] = {}
            for index, (request, result) in enumerate(zip(requests, results[arm])):
                if result is None:
                    missing.setdefault(request if key is not None else index, []).append(index)
            missed = sum(len(indices) for indices in missing.values())
            self.hits[arm] += len(requests) - missed
            self.misses[arm] += missed
            if missing:
                todo[arm] = missing
        if todo:
            self._prepare_now()
            asked = {arm: self._unique(arm, work[arm], missing) for arm, missing in todo.items()}
            fresh = self.inner.answer_arms(kind, asked)
            for arm, requests in asked.items():
                answers = fresh.get(arm, [])
                if len(answers) != len(requests):
                    raise BackendError(
                        f"the {self.inner.name} backend returned {len(answers)} {kind} results "
                        f"for {len(requests)} requests (arm {arm!r})"
                    )
                key = self._keys.get(arm)
                if key is not None:
                    self.cache.put_many(key, kind, requests, answers)
                for indices, result in zip(todo[arm].values(), answers):
                    for index in indices:
                        results[arm][index] = result
        for arm, requests in work.items():
            logger.debug(
                "arm %r: %d %s requests, %d from the cache", arm, len(requests), kind,
                len(requests) - len([i for m in todo.get(arm, {}).values() for i in m]),
            )  # fmt: skip
        return results

    def _unique(self, arm: str, requests: Sequence[Any], missing: Mapping[Any, list[int]]) -> list:
        """The requests to compute for ``arm``: each distinct miss once (every request of
        an uncached arm, which is keyed by position)."""
        if self._keys.get(arm) is None:
            return [requests[indices[0]] for indices in missing.values()]
        return list(missing)

    # ---- delegated ----

    def identity(self, arm: str) -> ArmIdentity:
        return self.inner.identity(arm)

    def check_inputs(self) -> None:
        self.inner.check_inputs()

    def check_servers(self, kinds: Sequence[str]) -> None:
        self.inner.check_servers(kinds)

    def remembered_cost(self, arm: str) -> dict[str, Any] | None:
        """The arm's cost when its cached answers were computed (a fact of the cache)."""
        key = self.arm_key(arm) if arm in self._keys else None
        if key is None:
            return None
        stored = self.cache.get_fact(key, "cost")
        return dict(stored) if isinstance(stored, dict) else None

    def remember_cost(self, arm: str, cost: dict[str, Any]) -> None:
        """Keep the arm's cost per computed request beside its answers."""
        key = self.arm_key(arm) if arm in self._keys else None
        if key is not None:
            self.cache.put_fact(key, "cost", cost)

    def token_budget(self, arm: str) -> TokenBudget | None:
        """The inner budget, with its window and every count kept in the cache's facts.

        Measuring prompts (fitting them, finding what the window cuts) needs the arm's
        tokenizer; a run answered from the cache finds the window and the counts there,
        so it still loads no tokenizer and imports no model library.
        """
        if not self.inner.identity_before_prepare:  # its key needs prepare (a probe) first
            return self.inner.token_budget(arm)
        key = self.arm_key(arm)
        if key is None:
            return self.inner.token_budget(arm)
        shape = self.cache.get_fact(key, "token_budget")
        if shape is None:
            budget = self.inner.token_budget(arm)
            shape = {} if budget is None else {"max_length": budget.max_length, "key": budget.key}
            self.cache.put_fact(key, "token_budget", shape)
        if not shape:
            return None
        return TokenBudget(_CachedCounts(self, arm, key), int(shape["max_length"]), shape["key"])

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        """The inner backend's facts, kept in the cache under the arm's key (they are a
        function of the keyed files), so a cached run needs no tokenizer library."""
        key = self.arm_key(arm)
        if key is None:
            return self.inner.tokenizer_facts(arm)
        stored = self.cache.get_fact(key, "tokenizer_facts")
        if isinstance(stored, dict):
            return stored
        facts = self.inner.tokenizer_facts(arm)
        if facts is not None:
            self.cache.put_fact(key, "tokenizer_facts", facts)
        return facts

    def counters(self) -> dict[str, int] | None:
        return self.inner.counters()

    def token_counts(self) -> dict[str, dict[str, dict[str, Any]]] | None:
        return self.inner.token_counts()

    def weight_bytes(self) -> dict[str, dict[str, int]] | None:
        return self.inner.weight_bytes()

    def use_file_hasher(self, hasher: Callable[[Path], str]) -> None:
        self.inner.use_file_hasher(hasher)

    def prepare(self) -> None:
        """Deferred to the first request the cache misses when the inner backend allows
        it (``identity_before_prepare``); at once otherwise."""
        if self.inner.identity_before_prepare:
            self._prepare_pending = True
        else:
            self.inner.prepare()

    def _prepare_now(self) -> None:
        if self._prepare_pending:
            self._prepare_pending = False
            self.inner.prepare()

    def release(self, arm: str) -> None:
        if self.hits[arm] or self.misses[arm]:
            logger.info(
                "arm %r: %d of %d responses from the cache %s",
                arm, self.hits[arm], self.hits[arm] + self.misses[arm], self.cache.path,
            )  # fmt: skip
        self.inner.release(arm)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            if self.own_cache:
                self.cache.close()


class _CachedCounts:
    """An arm's token counter that answers from the cache's facts and measures the rest."""

    def __init__(self, backend: CachingBackend, arm: str, key: str) -> None:
        self.backend = backend
        self.arm = arm
        self.key = key

    def __call__(self, texts: Sequence[str]) -> list[int]:
        name = "token_counts:" + hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()
        stored = self.backend.cache.get_fact(self.key, name)
        if isinstance(stored, list) and len(stored) == len(texts):
            return [int(n) for n in stored]
        budget = self.backend.inner.token_budget(self.arm)
        if budget is None:
            raise BackendError(f"arm {self.arm!r}: its backend no longer measures prompts")
        counts = [int(n) for n in budget.count(texts)]
        self.backend.cache.put_fact(self.key, name, counts)
        return counts

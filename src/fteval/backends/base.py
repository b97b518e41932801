"""The backend interface: three string-level request types, answered in request order.

A backend serves a set of arms (``ArmSpec``). Tokenisation, batching and device
placement live inside the backend; tasks see only strings. Every hook the run loop calls
is declared here with a no-op default, so a backend overrides what it has and the run
loop never probes with ``getattr``. A backend lists the request kinds it answers in
``supports``; a run asking for another kind fails before any model loads.

Several arms at once: ``arm_groups`` says which arms the run loop may hand over together
(by default each arm alone), and ``answer_arms`` answers each arm's own requests in one
call (by default one arm after another through the per-arm methods). A backend that
serves arms sharing a base in one pass (per-row adapters) overrides both; results stay
per arm, in each arm's request order.

A backend whose ``identity`` is complete before ``prepare`` says so
(``identity_before_prepare``): the response cache then computes arm keys without it and
calls ``prepare`` only at the first request it cannot answer, so a run served wholly
from the cache loads no model. Otherwise ``prepare`` runs first, as the run loop asks.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fteval.errors import ConfigError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
    base_arm_name,
)

LOGLIKELIHOOD, ROLLING, GENERATE = "loglikelihood", "loglikelihood_rolling", "generate"
REQUEST_KINDS = (LOGLIKELIHOOD, ROLLING, GENERATE)


@dataclass(frozen=True)
class ArmIdentity:
    """What identifies an arm's outputs.

    It is the manifest's ``arms[].identity`` and the response cache key's input.

    Attributes:
        backend: the backend's name (``hf``, ``fake``, ...).
        path: local directory, hub id or served model name of the arm's weights.
        weights_sha256: weight file name -> sha256 (empty when unknown: a hub id without
            local files, an endpoint, the fake backend; such arms are never cached, except
            endpoints, keyed by their ``endpoint`` fact: see ``backends/cache.py``).
        facts: everything else that determines the outputs or explains them (dtype,
            device, adapter config, tokenizer policy, ...), JSON-ready.
    """

    backend: str
    path: str
    weights_sha256: Mapping[str, str] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The identity as one flat JSON object (the record contract's shape)."""
        out: dict[str, Any] = {**self.facts, "backend": self.backend, "path": self.path}
        if self.weights_sha256:
            out["weights_sha256"] = dict(self.weights_sha256)
        return out


@dataclass(frozen=True)
class TokenBudget:
    """How an arm measures prompts: what fits its context window.

    Attributes:
        count: texts -> their token counts, as the arm encodes a prompt.
        max_length: the context window, in tokens.
        key: arms with the same key share tokenizer and window (measured once).
    """

    count: Callable[[Sequence[str]], list[int]]
    max_length: int
    key: str


class Backend(abc.ABC):
    """Serves every arm of a run. Results come back in request order, batch-size free.

    Attributes:
        name: the backend's name, recorded in each arm's identity.
        supports: the request kinds (``REQUEST_KINDS``) this backend answers.
        identity_before_prepare: ``identity`` needs nothing ``prepare`` does (weights are
            hashed from files, configs read), so ``prepare`` may wait for the first
            request the response cache cannot answer.
    """

    name: str = "backend"
    supports: frozenset[str] = frozenset({LOGLIKELIHOOD})
    identity_before_prepare: bool = False

    def __init__(self, arms: Sequence[ArmSpec]) -> None:
        self.arms = list(arms)
        self._by_name = {arm.name: arm for arm in self.arms}

    def arm(self, name: str) -> ArmSpec:
        """The spec of arm ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no arm named {name!r}; arms: {list(self._by_name)}") from None

    def base_arm(self) -> ArmSpec | None:
        """The spec of the base arm (kind ``base``), or None when no arm is one."""
        name = base_arm_name(self.arms)
        return None if name is None else self.arm(name)

    def require(self, kinds: Sequence[str], *, why: str = "the tasks") -> None:
        """Fail (``ConfigError``) unless every request kind in ``kinds`` is supported."""
        missing = [kind for kind in dict.fromkeys(kinds) if kind not in self.supports]
        if missing:
            raise ConfigError(
                f"the {self.name} backend cannot answer {', '.join(missing)} requests, which "
                f"{why} need; it answers {', '.join(sorted(self.supports))}"
            )

    # ---- hooks with no-op defaults ----

    def check_inputs(self) -> None:  # noqa: B027 - optional hook
        """Cheap checks before any weights load (adapter configs, weight formats)."""

    def check_servers(self, kinds: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Find and probe the servers that serve the arms, refusing what they cannot answer.

        The run loop calls it after ``check_inputs`` and before it writes the run
        directory, so a server that cannot answer the run's request ``kinds`` correctly
        (no echoed log-probabilities, wrong ones, a tokenizer that ends every prompt) is
        refused without leaving a failed run behind. Local backends have nothing to do.
        """

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Load and check every arm (adapter probes included) before any scoring."""

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        """Padding, truncation and template facts of the arm's tokenizer, or None."""
        return None

    def token_budget(self, arm: str) -> TokenBudget | None:
        """The arm's tokenizer and context window, without loading weights.

        None when the backend cannot tell (then prompts are not fitted to a window before
        the run).
        """
        return None

    def counters(self) -> dict[str, int] | None:
        """Work counters for the manifest (decode passes, tokens, ...), or None."""
        return None

    def cache_stats(self) -> dict[str, dict[str, Any]] | None:
        """Per arm response-cache hits and misses, or None when there is no cache."""
        return None

    def token_counts(self) -> dict[str, dict[str, dict[str, Any]]] | None:
        """Per arm and request kind: tokens executed and the minimum needed, or None."""
        return None

    def remembered_cost(self, arm: str) -> dict[str, Any] | None:
        """What computing the arm's cached answers cost when they were computed
        (``seconds_per_request``, ``measured_at``), or None (no cache, never recorded)."""
        return None

    def remember_cost(self, arm: str, cost: dict[str, Any]) -> None:  # noqa: B027
        """Keep what computing the arm's answers cost beside them (a response cache)."""

    def weight_bytes(self) -> dict[str, dict[str, int]] | None:
        """Per arm served so far: ``memory`` (the serving model's parameters and buffers
        as loaded) and ``serialized`` (its state dict's bytes), or None."""
        return None

    def use_file_hasher(self, hasher: Callable[[Path], str]) -> None:  # noqa: B027
        """Hash weight files with ``hasher`` (a memo that skips unchanged files)."""

    def release(self, arm: str) -> None:  # noqa: B027 - optional hook
        """Free what only ``arm`` needs, once its work is done."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free everything."""

    # ---- several arms at once ----

    def arm_groups(self) -> list[tuple[str, ...]]:
        """The arms in the groups the run loop hands over together, in arm order (by
        default each arm alone)."""
        return [(arm.name,) for arm in self.arms]

    def answer_arms(self, kind: str, work: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Each arm's answers to its own ``kind`` requests, in request order.

        Args:
            kind: one of ``REQUEST_KINDS``.
            work: arm -> its requests (arms of one group; their lists may differ).

        Returns:
            arm -> results, one per request.
        """
        methods: dict[str, Callable[[str, Any], Sequence[Any]]] = {
            LOGLIKELIHOOD: self.loglikelihood,
            ROLLING: self.loglikelihood_rolling,
            GENERATE: self.generate,
        }
        return {arm: list(methods[kind](arm, requests)) for arm, requests in work.items()}

    # ---- the three requests ----

    @abc.abstractmethod
    def identity(self, arm: str) -> ArmIdentity:
        """What identifies this arm's outputs: path, hashes, adapter config, dtype, backend."""

    @abc.abstractmethod
    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        """Log P(continuation | context) for each request."""

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        """Log P(text) over whole texts (perplexity)."""
        raise NotImplementedError(f"the {self.name} backend does not score rolling loglikelihood")

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        """Continuations of each prompt."""
        raise NotImplementedError(f"the {self.name} backend does not generate")

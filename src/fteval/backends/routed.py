"""Arms from several backends in one run: each arm answered by the backend that serves it.

A deployment is often served by another engine than the weights were evaluated with: the
adapter behind an OpenAI-compatible endpoint (vLLM, TGI, ``transformers serve``) beside
the local base and adapter. ``RoutedBackend`` holds one backend per part of the run (each
with its own arms and, wrapped by the run, its own response cache and cache keys) and
sends every call about an arm to its part, so the served arm is compared with the local
ones item by item like any other arm. Each arm's identity names its own backend (the
manifest's ``arms[].identity.backend``).

Hooks that concern the whole run go to every part in order (checks, probes, ``prepare``,
``close``); per-arm answers come from the arm's part; the counters of all parts are
merged. Groups of arms answered together never span parts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fteval.backends.base import ArmIdentity, Backend, TokenBudget
from fteval.errors import BackendError
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)


class RoutedBackend(Backend):
    """Routes each arm to the backend that serves it (see the module docstring).

    Args:
        parts: the backends, each serving some of the run's arms (no arm twice).
        arms: the run's arms in evaluation order (default: the parts' arms in order).

    Raises:
        BackendError: an arm served by two parts, or by none.
    """

    def __init__(self, parts: Sequence[Backend], arms: Sequence[ArmSpec] | None = None) -> None:
        route: dict[str, Backend] = {}
        for part in parts:
            for arm in part.arms:
                if arm.name in route:
                    raise BackendError(f"arm {arm.name!r} is served by two backends")
                route[arm.name] = part
        ordered = list(arms) if arms is not None else [a for p in parts for a in p.arms]
        missing = [a.name for a in ordered if a.name not in route]
        if missing:
            raise BackendError(f"no backend serves arms {missing}")
        super().__init__(ordered)
        self.parts = list(parts)
        self._route = route
        self.name = "+".join(dict.fromkeys(part.name for part in self.parts))
        self.supports = frozenset.intersection(*(part.supports for part in self.parts))

    def part(self, arm: str) -> Backend:
        """The backend that serves ``arm``."""
        self.arm(arm)  # an unknown arm is named with the run's arms
        return self._route[arm]

    def require(self, kinds: Sequence[str], *, why: str = "the tasks") -> None:
        for part in self.parts:
            part.require(kinds, why=why)

    # ---- the whole run ----

    def check_inputs(self) -> None:
        for part in self.parts:
            part.check_inputs()

    def check_servers(self, kinds: Sequence[str]) -> None:
        for part in self.parts:
            part.check_servers(kinds)

    def prepare(self) -> None:
        for part in self.parts:
            part.prepare()

    def use_file_hasher(self, hasher: Callable[[Path], str]) -> None:
        for part in self.parts:
            part.use_file_hasher(hasher)

    def close(self) -> None:
        errors = []
        for part in self.parts:
            try:
                part.close()
            except Exception as error:  # close every part, then say what failed
                errors.append(error)
        if errors:
            raise errors[0]

    # ---- per arm ----

    def identity(self, arm: str) -> ArmIdentity:
        return self.part(arm).identity(arm)

    def tokenizer_facts(self, arm: str) -> dict[str, Any] | None:
        return self.part(arm).tokenizer_facts(arm)

    def token_budget(self, arm: str) -> TokenBudget | None:
        return self.part(arm).token_budget(arm)

    def release(self, arm: str) -> None:
        self.part(arm).release(arm)

    def arm_groups(self) -> list[tuple[str, ...]]:
        return [group for part in self.parts for group in part.arm_groups()]

    def answer_arms(self, kind: str, work: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Each part answers its own arms' work (in one call per part)."""
        by_part: dict[int, dict[str, Sequence[Any]]] = {}
        for arm, requests in work.items():
            by_part.setdefault(id(self.part(arm)), {})[arm] = requests
        answers: dict[str, list[Any]] = {}
        for part in self.parts:
            if id(part) in by_part:
                answers.update(part.answer_arms(kind, by_part[id(part)]))
        return {arm: answers[arm] for arm in work}

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        return self.part(arm).loglikelihood(arm, requests)

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        return self.part(arm).loglikelihood_rolling(arm, requests)

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        return self.part(arm).generate(arm, requests)

    # ---- counters, merged ----

    def counters(self) -> dict[str, int] | None:
        merged: dict[str, int] = {}
        for part in self.parts:
            for name, value in (part.counters() or {}).items():
                merged[name] = merged.get(name, 0) + value
        return merged or None

    def cache_stats(self) -> dict[str, dict[str, Any]] | None:
        return _merged(part.cache_stats() for part in self.parts)

    def token_counts(self) -> dict[str, dict[str, dict[str, Any]]] | None:
        return _merged(part.token_counts() for part in self.parts)

    def weight_bytes(self) -> dict[str, dict[str, int]] | None:
        return _merged(part.weight_bytes() for part in self.parts)


def _merged(tables: Any) -> Any:
    """Per-arm tables of the parts in one (arms never repeat across parts); None if none."""
    merged: dict[str, Any] = {}
    for table in tables:
        merged.update(table or {})
    return merged or None

"""The backend protocol: three string-level request types, answered in request order.

A backend serves a set of arms (``ArmSpec``). Tokenisation, batching and device
placement live inside the backend; tasks see only strings.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from fteval.config import ArmSpec
from fteval.records import (
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)


class Backend(abc.ABC):
    """Serves every arm of a run. Results come back in request order, batch-size free."""

    name: str = "backend"

    def __init__(self, arms: Sequence[ArmSpec]) -> None:
        self.arms = list(arms)
        self._by_name = {arm.name: arm for arm in self.arms}

    def arm(self, name: str) -> ArmSpec:
        """The spec of arm ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no arm named {name!r}; arms: {list(self._by_name)}") from None

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Load and check every arm (adapter probes included) before any scoring."""

    @abc.abstractmethod
    def identity(self, arm: str) -> dict[str, Any]:
        """What identifies this arm's outputs: path, hashes, adapter config, dtype, backend."""

    @abc.abstractmethod
    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        """log P(continuation | context) for each request."""

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        """log P(text) over whole texts (perplexity)."""
        raise NotImplementedError(f"the {self.name} backend does not score rolling loglikelihood")

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        """Continuations of each prompt."""
        raise NotImplementedError(f"the {self.name} backend does not generate")

    def release(self, arm: str) -> None:  # noqa: B027 - optional hook
        """Free what only ``arm`` needs, once its work is done."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free everything."""

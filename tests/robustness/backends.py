"""Fake backends with known behaviour, for the robustness tests."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from fteval.backends.base import LOGLIKELIHOOD, ArmIdentity, Backend
from fteval.records import LoglikelihoodRequest, LoglikelihoodResult


class KeywordBackend(Backend):
    """Picks the label whose keyword appears in the message; else the ``fallback`` label.

    ``keywords[arm]`` maps label -> keyword; an arm without keywords always answers the
    fallback. A typo inside a keyword therefore provably breaks the prediction.
    """

    name = "fake"
    supports = frozenset({LOGLIKELIHOOD})

    def __init__(self, arms, keywords: Mapping[str, Mapping[str, str]], fallback: str) -> None:
        super().__init__(arms)
        self.keywords = keywords
        self.fallback = fallback

    def identity(self, arm: str) -> ArmIdentity:
        return ArmIdentity(self.name, self.arm(arm).path)

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        out = []
        for request in requests:
            message = request.context.rsplit("Message:", 1)[-1].lower()
            label = request.continuation.strip()
            hits = [lab for lab, word in self.keywords.get(arm, {}).items() if word in message]
            chosen = hits[0] if hits else self.fallback
            out.append(LoglikelihoodResult(-0.1 if label == chosen else -5.0, True, 1))
        return out


class TableBackend(Backend):
    """Choice log-likelihoods looked up per arm and message: known confidences."""

    name = "fake"
    supports = frozenset({LOGLIKELIHOOD})

    def __init__(self, arms, table: Mapping[str, Mapping[str, Sequence[float]]], labels) -> None:
        super().__init__(arms)
        self.table = table
        self.labels = list(labels)

    def identity(self, arm: str) -> ArmIdentity:
        return ArmIdentity(self.name, self.arm(arm).path)

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        out = []
        for request in requests:
            message = request.context.rsplit("Message: ", 1)[-1].split("\n", 1)[0]
            probs = self.table[arm][message]
            p = probs[self.labels.index(request.continuation.strip())]
            out.append(LoglikelihoodResult(math.log(p), False, 1))
        return out

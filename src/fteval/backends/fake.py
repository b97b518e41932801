"""A deterministic fake backend for fast end-to-end and CLI tests (no weights).

Log-probabilities are a pure function of (arm, context, continuation): a hash mapped to
[-12, -1]. An arm can be given *knowledge* — a mapping context -> preferred continuation —
and a *skill* in [0, 1]: for that share of contexts (chosen by hash, so stable) the
preferred continuation gets the highest score. Tests build the knowledge from a task's
gold answers to simulate a fine-tune that helps.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from fteval._util.hashing import stable_unit as _unit
from fteval.backends.base import (
    GENERATE,
    LOGLIKELIHOOD,
    ROLLING,
    ArmIdentity,
    Backend,
    TokenBudget,
)
from fteval.records import (
    ArmSpec,
    GenerateRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)


class FakeBackend(Backend):
    """Deterministic scores; see the module docstring.

    Args:
        arms: the arms to serve.
        skill: arm name -> share of contexts where the arm "knows" the answer (default 0).
        knowledge: context -> the continuation a knowing arm prefers.
        generations: context -> the text a knowing arm generates (generation tasks).
        delay_s: seconds slept per loglikelihood request (to test killing a run midway).
        context_window: a window in characters (one token per character), so prompt
            fitting can be tested; None: no window (prompts are not fitted).
    """

    name = "fake"
    supports = frozenset({LOGLIKELIHOOD, ROLLING, GENERATE})

    def __init__(
        self,
        arms: Sequence[ArmSpec],
        *,
        skill: Mapping[str, float] | None = None,
        knowledge: Mapping[str, str] | None = None,
        generations: Mapping[str, str] | None = None,
        delay_s: float = 0.0,
        context_window: int | None = None,
    ) -> None:
        super().__init__(arms)
        self.skill = dict(skill or {})
        self.knowledge = dict(knowledge or {})
        self.generations = dict(generations or {})
        self.calls: list[tuple[str, str, int]] = []
        self.delay_s = delay_s
        self.context_window = context_window

    def token_budget(self, arm: str) -> TokenBudget | None:
        if self.context_window is None:
            return None
        return TokenBudget(lambda texts: [len(t) for t in texts], self.context_window, "chars")

    def identity(self, arm: str) -> ArmIdentity:
        spec = self.arm(arm)
        return ArmIdentity(
            self.name, spec.path, facts={"kind": spec.kind, "skill": self.skill.get(arm, 0.0)}
        )

    def _knows(self, arm: str, context: str) -> bool:
        return _unit("skill", arm, context) < self.skill.get(arm, 0.0)

    def loglikelihood(
        self, arm: str, requests: Sequence[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        self.arm(arm)
        self.calls.append(("loglikelihood", arm, len(requests)))
        if self.delay_s:
            time.sleep(self.delay_s * len(requests))
        results = []
        for request in requests:
            logprob = -1.0 - 11.0 * _unit(arm, request.context, request.continuation)
            preferred = self.knowledge.get(request.context)
            if preferred is not None and self._knows(arm, request.context):
                logprob = -0.5 if request.continuation == preferred else logprob - 1.0
            results.append(
                LoglikelihoodResult(logprob, logprob > -1.0, max(1, len(request.continuation)))
            )
        return results

    def loglikelihood_rolling(
        self, arm: str, requests: Sequence[RollingLoglikelihoodRequest]
    ) -> list[RollingLoglikelihoodResult]:
        self.arm(arm)
        return [
            RollingLoglikelihoodResult(
                -len(r.text) * (1.0 + _unit(arm, r.text)) * (1.0 - self.skill.get(arm, 0.0) / 2),
                max(1, len(r.text)),
            )
            for r in requests
        ]

    def generate(self, arm: str, requests: Sequence[GenerateRequest]) -> list[GenerationResult]:
        self.arm(arm)
        self.calls.append(("generate", arm, len(requests)))
        results = []
        for request in requests:
            texts = []
            for i in range(request.sampling.n):
                known = self.generations.get(request.prompt)
                if known is not None and self._knows(arm, request.prompt + str(i)):
                    texts.append(known)
                else:
                    texts.append(f"fake {arm} {int(_unit(arm, request.prompt, str(i)) * 1e6)}")
            results.append(
                GenerationResult(
                    tuple(texts), tuple(len(t) for t in texts), tuple("stop" for _ in texts)
                )
            )
        return results

"""Language-model metrics over a text set: perplexity and mean token cross-entropy.

Per document the backend returns the summed natural-log probability of its tokens and
their count (rolling windows, each token predicted once). Statistics per item are
``[negative log-likelihood (nats), tokens]``; the corpus values are token-weighted:

* ``cross_entropy`` = Σ nll / Σ tokens, in nats per token (the validation loss), >= 0;
* ``perplexity`` = exp(cross_entropy), >= 1; computed from the mean, never as a product
  of probabilities, so it cannot overflow before the exponent exceeds ~709 (then +inf).

A document with zero tokens contributes nothing; a set with zero tokens scores NaN.
Lower is better for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.metrics.base import Metric
from fteval.metrics.registry import register_class
from fteval.version import __version__


def _pair(prediction: Any) -> tuple[float, float]:
    if isinstance(prediction, Mapping):
        nll, tokens = -float(prediction["logprob"]), float(prediction["n_tokens"])
    else:
        logprob, tokens = prediction
        nll, tokens = -float(logprob), float(tokens)
    if tokens == 0 and nll != 0:
        raise ValueError(f"a document with 0 tokens cannot have log-likelihood {-nll!r}")
    return nll, tokens


class CrossEntropy(Metric):
    """Token-weighted mean negative log-likelihood, nats per token, in [0, inf)."""

    name: ClassVar[str] = "cross_entropy"
    higher_is_better: ClassVar[bool] = False
    input_kind: ClassVar[str] = "loglikelihood"
    tokenizer_dependent: ClassVar[bool] = True  # nats per token of the arm's tokenizer

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        """``predictions[i]`` is ``{"logprob": float, "n_tokens": int}`` (targets unused)."""
        return np.array([_pair(p) for p in predictions], dtype=np.float64).reshape(-1, 2)

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        totals = np.asarray(totals, dtype=np.float64)
        nll, tokens = totals[..., 0], totals[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tokens > 0, nll / np.where(tokens > 0, tokens, 1), np.nan)

    def signature(self) -> str:
        return f"{self.name}|unit:nats/token|weighting:token|fteval:{__version__}"


class Perplexity(CrossEntropy):
    """exp(token-weighted cross-entropy), in [1, inf)."""

    name: ClassVar[str] = "perplexity"

    def from_totals(self, totals: np.ndarray, n: int | np.ndarray) -> np.ndarray:
        mean = super().from_totals(totals, n)
        with np.errstate(over="ignore"):
            return np.exp(mean)

    def signature(self) -> str:
        return f"{self.name}|exp(mean nll)|weighting:token|fteval:{__version__}"


register_class("cross_entropy", CrossEntropy)
register_class("perplexity", Perplexity)

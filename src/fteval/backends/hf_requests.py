"""An arm's requests as scorer rows, and the rows' scores back as the arm's results.

Log-likelihood requests: each distinct (context, continuation) once, encoded at the token
boundary (``hf_scoring.encode_pair``), cut from the left to the window. Rolling requests:
each text's windows, every token predicted once (``hf_scoring.rolling_windows``). The
scorer sees only rows; ``ScoredRows.results`` turns its scores into results in request
order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fteval.backends.hf_models import LoadedModel
from fteval.backends.hf_scoring import ModelInput, encode_pair, model_input, rolling_windows
from fteval.errors import BackendError
from fteval.records import (
    LoglikelihoodRequest,
    LoglikelihoodResult,
    RollingLoglikelihoodRequest,
    RollingLoglikelihoodResult,
)


class ScoredRows:
    """An arm's requests as scorer rows, and how the rows' scores become its results."""

    def __init__(self, rows: list[ModelInput], finish: Callable[[list], list[Any]]) -> None:
        self.rows = rows
        self._finish = finish

    def results(self, scored: list[tuple[float, bool]]) -> list[Any]:
        """The arm's results, in request order, from its rows' (log-prob, greedy)."""
        return self._finish(scored)


def pair_rows(loaded: LoadedModel, requests: Sequence[LoglikelihoodRequest]) -> ScoredRows:
    """Each distinct (context, continuation) once, encoded at the token boundary."""
    unique = list(dict.fromkeys((r.context, r.continuation) for r in requests))
    rows = [
        model_input(
            encode_pair(loaded.encode, c, x, loaded.prefix_token, bos_token=loaded.bos),
            loaded.max_length,
        )
        for c, x in unique
    ]

    def finish(scored: list[tuple[float, bool]]) -> list[LoglikelihoodResult]:
        by_pair = {
            pair: LoglikelihoodResult(
                logprob=logprob,
                is_greedy=greedy,
                n_tokens=len(row.target_ids),
                truncated_tokens=row.truncated,
                truncation_side="left" if row.truncated else None,
            )
            for pair, row, (logprob, greedy) in zip(unique, rows, scored)
        }
        return [by_pair[(r.context, r.continuation)] for r in requests]

    return ScoredRows(rows, finish)


def rolling_rows(
    loaded: LoadedModel, requests: Sequence[RollingLoglikelihoodRequest]
) -> ScoredRows:
    """Each text's windows (every token predicted once)."""
    if loaded.prefix_token is None:
        raise BackendError("rolling loglikelihood needs a BOS or EOS token as prefix")
    rows: list[ModelInput] = []
    owners: list[int] = []
    for index, request in enumerate(requests):
        tokens = (loaded.prefix_token, *loaded.encode(request.text))
        step = min(request.stride or loaded.max_length, loaded.max_length)
        for start, predict, end in rolling_windows(len(tokens) - 1, loaded.max_length, step):
            rows.append(ModelInput(tokens[start : end - 1], tokens[predict:end], start))
            owners.append(index)

    def finish(scored: list[tuple[float, bool]]) -> list[RollingLoglikelihoodResult]:
        totals = [0.0] * len(requests)
        counts = [0] * len(requests)
        for owner, row, (logprob, _) in zip(owners, rows, scored):
            totals[owner] += logprob
            counts[owner] += len(row.target_ids)
        return [RollingLoglikelihoodResult(t, c) for t, c in zip(totals, counts)]

    return ScoredRows(rows, finish)

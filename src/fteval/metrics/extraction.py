"""Answer extraction then exact match: lm-evaluation-harness's ``gsm8k`` scoring.

Two filters read the final number out of a generation, then ``exact_match`` compares it
with the reference, exactly as lm-evaluation-harness's ``gsm8k`` task (0.4.x) does:

* ``strict_match``: the first match of ``#### (\\-?[0-9\\.\\,]+)`` (the format the
  few-shot answers teach); no match gives ``[invalid]``.
* ``flexible_extract``: the last match of ``(-?[$0-9.,]{2,})|(-?[0-9]+)`` (any number),
  its first non-empty group; no match gives ``[invalid]``.

The extracted text is stripped; then on both the extraction and the reference (the full
worked answer) the regular expressions ``,``, ``\\$``, ``(?s).*#### `` and ``\\.$`` are
deleted in that order and both are lower-cased; the item scores 1 when they are equal.
Tests check the filters and the match against lm-evaluation-harness's documented rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fteval.metrics._textutil import prediction_strings, reference_lists
from fteval.metrics.base import MeanMetric, check_lengths
from fteval.metrics.registry import register_class
from fteval.version import __version__

FALLBACK = "[invalid]"
IGNORED = (",", r"\$", r"(?s).*#### ", r"\.$")
STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")


def extract(text: str, pattern: re.Pattern[str], group_select: int) -> str:
    """lm-evaluation-harness's ``regex`` filter: the selected match, or ``[invalid]``."""
    found = pattern.findall(text)
    if not found:
        return FALLBACK
    match = found[group_select]
    if isinstance(match, tuple):
        parts = [m for m in match if m]
        match = parts[0] if parts else FALLBACK
    return match.strip()


def normalise(text: str) -> str:
    """Delete the ignored expressions in order, then lower-case."""
    for pattern in IGNORED:
        text = re.sub(pattern, "", text)
    return text.lower()


class _ExtractMatch(MeanMetric):
    """1 when the extracted answer equals the reference's final answer, else 0."""

    binary_outcome: ClassVar[bool] = True
    scale: ClassVar[float] = 100.0
    unit: ClassVar[str] = "proportion"
    pattern: ClassVar[re.Pattern[str]]
    group_select: ClassVar[int]

    def item_stats(self, targets: Sequence[Any], predictions: Sequence[Any]) -> np.ndarray:
        check_lengths(self.name, targets, predictions)
        refs = reference_lists(self.name, targets)
        preds = prediction_strings(self.name, predictions)
        hits = []
        for ref_list, pred in zip(refs, preds):
            answer = normalise(extract(pred, self.pattern, self.group_select))
            hits.append(float(any(answer == normalise(ref) for ref in ref_list)))
        return np.asarray(hits, dtype=np.float64).reshape(-1, 1)

    def signature(self) -> str:
        return (
            f"{self.name}|regex:{self.pattern.pattern}|group:{self.group_select}"
            f"|ignore:{','.join(IGNORED)}|case:insensitive|lm-eval-gsm8k|fteval:{__version__}"
        )


class StrictMatch(_ExtractMatch):
    """The ``#### N`` answer, exactly (lm-evaluation-harness's ``strict-match``)."""

    name: ClassVar[str] = "strict_match"
    pattern = STRICT
    group_select = 0


class FlexibleExtract(_ExtractMatch):
    """The last number in the output (lm-evaluation-harness's ``flexible-extract``)."""

    name: ClassVar[str] = "flexible_extract"
    pattern = FLEXIBLE
    group_select = -1


register_class("strict_match", StrictMatch)
register_class("flexible_extract", FlexibleExtract)

"""Multiple-comparison families: which comparisons are corrected together, and how.

A family is the set of tests whose p-values one Holm (or BH) adjustment covers:

* scope ``arm-pair`` (the default): one family per (arm, reference arm) pair, over its
  tasks x metrics — "did this adapter beat base anywhere?" is one question, and adding a
  second adapter does not weaken the first one's claims.
* scope ``run``: every comparison of the run in one family, over arm pairs x tasks x
  metrics — the stricter choice when any claim of the run counts as a discovery.

Within a family, comparisons whose tests read exactly the same numbers are one test:
counted once in the family size ``m`` and given the same adjusted p-value. That happens
when two 0/1 metrics give every item the same outcome in both arms — ``acc`` and
``acc_norm`` when every choice has the same length — so a metric that repeats another
does not make the correction stricter.

Each comparison row records its family (``correction_family``, a readable name),
``family_size`` (the distinct tests in it) and ``mde_alpha``, the level its own step of
the procedure compared its p-value with (``stats.step_levels``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from fteval import stats
from fteval.compare.options import StatsOptions


def family_name(row: dict[str, Any], scope: str) -> str:
    """The readable name of the family a comparison row belongs to."""
    if scope == "run":
        return "run over arm pairs×tasks×metrics"
    return f"arm-pair {row['reference_arm']}→{row['arm']} over tasks×metrics"


def adjust_families(
    rows: Sequence[dict[str, Any]], test_keys: Sequence[Hashable], options: StatsOptions
) -> None:
    """Fill each row's ``p_adjusted``, ``correction_family``, ``family_size``, ``mde_alpha``.

    Args:
        rows: comparison rows with ``arm``, ``reference_arm`` and ``p_value`` (changed in
            place).
        test_keys: per row, what identifies its test's data; rows of one family with
            equal keys are one test.
        options: the correction method, its scope and alpha.
    """
    families: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        families.setdefault(family_name(row, options.correction_scope), []).append(index)
    for name, members in families.items():
        distinct: dict[Hashable, int] = {}  # test key -> position among the distinct tests
        for index in members:
            distinct.setdefault(test_keys[index], len(distinct))
        raw = np.full(len(distinct), np.nan)
        for index in members:
            raw[distinct[test_keys[index]]] = rows[index]["p_value"]
        adjusted = stats.adjust_pvalues(raw, method=options.correction)
        levels = stats.step_levels(raw, alpha=options.alpha, method=options.correction)
        size = int(np.count_nonzero(~np.isnan(raw)))
        for index in members:
            position = distinct[test_keys[index]]
            rows[index].update(
                p_adjusted=float(adjusted[position]),
                correction_family=name,
                family_size=size,
                mde_alpha=float(levels[position]),
            )

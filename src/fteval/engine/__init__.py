"""The comparison engine: every "arm A differs from arm B" statement fteval makes.

Per-item statistics of two arms, paired by item id (``items``) -> a ``Comparison`` with
delta, interval, test and p-value (``measure.compare``; ``selection.compare_with_best``
when the reference was chosen as the best of several on the same items) -> one
correction step over the run's comparisons, by family (``family.adjust``) -> the one
significance rule and a verdict. ``StatsOptions`` (``options``) are the settings every
step reads. Seeds come from content, never from names.

Clean scores, task groups, perturbation drops and gaps, slices, contamination subsets,
calibration deltas, checkpoints and judged win rates all go through here; the sections
above (``robustness``, ``compare``, ``report``) import it, it imports nothing of theirs.
"""

from fteval.engine.family import adjust, family_name
from fteval.engine.items import ItemStats, Paired, PerItem, digest_of, pair
from fteval.engine.measure import (
    UNPAIRED_PERMUTATION,
    compare,
    compare_groups,
    is_binary,
    seed_for,
    test_for,
)
from fteval.engine.options import (
    CORRECTION_SCOPES,
    DEFAULT_CORRECTION_SCOPE,
    DEFAULT_SEED,
    CorrectionScope,
    StatsOptions,
    resolve_levels,
)
from fteval.engine.selection import MAX_PERMUTATION, compare_with_best

__all__ = [
    "CORRECTION_SCOPES",
    "DEFAULT_CORRECTION_SCOPE",
    "DEFAULT_SEED",
    "MAX_PERMUTATION",
    "UNPAIRED_PERMUTATION",
    "CorrectionScope",
    "ItemStats",
    "Paired",
    "PerItem",
    "StatsOptions",
    "adjust",
    "compare",
    "compare_groups",
    "compare_with_best",
    "digest_of",
    "family_name",
    "is_binary",
    "pair",
    "resolve_levels",
    "seed_for",
    "test_for",
]

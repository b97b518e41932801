"""Statistics over per-item sufficient statistics: CIs, paired tests, corrections, verdicts.

Every function here is pure: data in, frozen result out, randomness only through an
explicit seed or ``numpy.random.Generator``. Methods, defaults and p-value conventions
are documented in docs/statistics.md.
"""

from fteval.stats._common import SeedLike
from fteval.stats.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    BootstrapCI,
    bootstrap_ci,
)
from fteval.stats.correction import CORRECTIONS, adjust_pvalues, step_levels
from fteval.stats.paired import (
    DEFAULT_N_PERMUTATIONS,
    MCNEMAR_EXACT,
    PAIRED_PERMUTATION,
    PairedDelta,
    PairedTestResult,
    choose_test,
    discordant_pairs,
    mcnemar_exact,
    paired_bootstrap_delta,
    paired_permutation_test,
    paired_test,
)
from fteval.stats.seeds import SeedSummary, spread_exceeds_effect, summarize_seeds
from fteval.stats.verdicts import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_ITEMS,
    DEFAULT_POWER,
    IMPROVED,
    INSUFFICIENT_DATA,
    NO_DIFFERENCE,
    REGRESSED,
    VERDICT_LABELS,
    Verdict,
    minimum_detectable_effect,
    non_inferior,
    significant,
    verdict,
)

__all__ = [
    "CORRECTIONS",
    "DEFAULT_ALPHA",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_MIN_ITEMS",
    "DEFAULT_N_PERMUTATIONS",
    "DEFAULT_N_RESAMPLES",
    "DEFAULT_POWER",
    "DEFAULT_SEED",
    "IMPROVED",
    "INSUFFICIENT_DATA",
    "MCNEMAR_EXACT",
    "NO_DIFFERENCE",
    "PAIRED_PERMUTATION",
    "REGRESSED",
    "VERDICT_LABELS",
    "BootstrapCI",
    "PairedDelta",
    "PairedTestResult",
    "SeedLike",
    "SeedSummary",
    "Verdict",
    "adjust_pvalues",
    "bootstrap_ci",
    "choose_test",
    "discordant_pairs",
    "mcnemar_exact",
    "minimum_detectable_effect",
    "non_inferior",
    "paired_bootstrap_delta",
    "paired_permutation_test",
    "paired_test",
    "significant",
    "spread_exceeds_effect",
    "step_levels",
    "summarize_seeds",
    "verdict",
]

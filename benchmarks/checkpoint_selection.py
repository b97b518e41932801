"""How often "last checkpoint regressed vs the best" is said when no checkpoint is better.

Simulates checkpoint series with no true difference: ``--checkpoints`` checkpoints whose
items are right with the same per-item chance (drawn once per series, uniform in
[0.2, 0.9]), independently, on ``--items`` items. Each series is judged three ways, with
the same statistical settings:

* ``fixed``: the last checkpoint against a checkpoint fixed in advance (the first) — the
  false-positive rate a test is built for;
* ``naive``: the best checkpoint chosen on the test items, then tested against the last
  as if it had been fixed (what fteval did before; the winner's curse);
* ``fteval``: ``engine.compare_with_best`` (a max-statistic permutation test over the
  whole series and an interval that re-selects the best in every resample).

Prints each way's false "regressed" rate with a 95% Wilson interval; fteval's must not
exceed alpha::

    python benchmarks/checkpoint_selection.py                 # 400 series
    python benchmarks/checkpoint_selection.py --series 1000 --items 300
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from fteval import engine, stats
from fteval.engine import ItemStats, StatsOptions
from fteval.metrics import Accuracy


def simulate(rng: np.random.Generator, checkpoints: int, items: int) -> list[ItemStats]:
    chance = rng.uniform(0.2, 0.9, items)
    outcomes = (rng.random((checkpoints, items)) < chance).astype(float)
    ids = tuple(f"i{i}" for i in range(items))
    return [ItemStats(Accuracy(), ids, row.reshape(-1, 1)) for row in outcomes]


def regressed(row: engine.PerItem | object, options: StatsOptions) -> bool:
    (decided,) = engine.adjust([row], options)  # type: ignore[list-item]
    return decided.verdict == stats.REGRESSED


def judge(series: list[ItemStats], options: StatsOptions) -> dict[str, bool]:
    names = [f"step{i}" for i in range(len(series))]
    best = int(np.argmax([item.value for item in series]))
    pairs = {"fixed": series[0], "naive": series[best]}
    out = {
        way: regressed(
            engine.compare(series[-1], other, options, task="t", arm="last", reference_arm=way),
            options,
        )
        for way, other in pairs.items()
    }
    out["fteval"] = regressed(engine.compare_with_best(series, names, options, task="t"), options)
    return out


def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=400)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = StatsOptions(bootstrap_resamples=args.bootstrap, permutations=args.permutations)
    rng = np.random.default_rng(args.seed)
    counts = {"fixed": 0, "naive": 0, "fteval": 0}
    start = time.perf_counter()
    for _ in range(args.series):
        for way, said in judge(simulate(rng, args.checkpoints, args.items), options).items():
            counts[way] += said
    elapsed = time.perf_counter() - start
    print(
        f"{args.series} series of {args.checkpoints} interchangeable checkpoints, "
        f"{args.items} items, alpha {options.alpha:g} ({elapsed:.0f} s)"
    )
    print(f"{'way':<8} {'false regressed':>16} {'95% interval':>18}")
    for way, hits in counts.items():
        low, high = wilson(hits, args.series)
        print(f"{way:<8} {hits / args.series:>15.1%} [{low:6.1%}, {high:6.1%}]")
    rate = counts["fteval"] / args.series
    verdict = "within" if rate <= options.alpha else "ABOVE"
    print(f"fteval's false 'regressed' rate {rate:.1%} is {verdict} alpha {options.alpha:g}")


if __name__ == "__main__":
    main()

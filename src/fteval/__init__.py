"""fteval: did my fine-tune help, by how much, is the difference real, and what did it cost?

The public API (imported on first use, so ``import fteval`` stays cheap):
``evaluate``, ``run``, ``rescore``, ``load_run``, and the types they return or take:
``Results`` (with ``Score``, ``Comparison``, ``Advice``), ``Run``, ``StatsOptions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fteval.version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports it
    from fteval.api import (
        Advice,
        Comparison,
        Results,
        Run,
        Score,
        StatsOptions,
        evaluate,
        load_run,
        rescore,
        run,
    )

__all__ = [
    "Advice",
    "Comparison",
    "Results",
    "Run",
    "Score",
    "StatsOptions",
    "__version__",
    "evaluate",
    "load_run",
    "rescore",
    "run",
]


def __getattr__(name: str) -> Any:
    # The API imports numpy/scipy; keep ``import fteval`` cheap until it is used.
    if name in __all__:
        from fteval import api

        return getattr(api, name)
    raise AttributeError(f"module 'fteval' has no attribute {name!r}")

"""Backends: the three-request model interface and its implementations.

Heavy imports (torch, transformers, peft) happen inside ``make_backend``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fteval.backends.base import Backend
from fteval.errors import ConfigError, MissingDependencyError
from fteval.records import ArmSpec

BACKENDS = ("hf", "fake")


def make_backend(
    name: str, arms: Sequence[ArmSpec], *, progress: bool = True, **settings: Any
) -> Backend:
    """The backend called ``name``, serving ``arms``.

    Args:
        name: one of ``BACKENDS``.
        arms: the arms it serves, base first.
        progress: show progress bars.
        **settings: the backend's own keyword arguments (e.g. ``HFBackend``'s ``dtype``).
    """
    if name == "fake":
        import os

        from fteval.backends.fake import FakeBackend

        # test-only knob of the test-only backend: slow it down to be killed mid-run
        settings.setdefault("delay_s", float(os.environ.get("FTEVAL_FAKE_DELAY_S", "0")))
        return FakeBackend(arms, **settings)
    if name == "hf":
        try:
            import peft  # noqa: F401
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ModuleNotFoundError as error:
            raise MissingDependencyError(error.name or "torch", "hf", "the hf backend") from None
        from fteval.backends.hf import HFBackend

        return HFBackend(arms, progress=progress, **settings)
    raise ConfigError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "make_backend"]

"""Backends: the three-request model interface and its implementations.

Heavy imports (torch, transformers, peft) happen inside ``make_backend``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fteval.backends.base import Backend
from fteval.config import ArmSpec, RunConfig
from fteval.errors import ConfigError, MissingDependencyError


def make_backend(
    config: RunConfig, arms: Sequence[ArmSpec], *, progress: bool = True, **options: Any
) -> Backend:
    """The backend named by ``config.backend``, serving ``arms``."""
    if config.backend == "fake":
        import os

        from fteval.backends.fake import FakeBackend

        # test-only knob of the test-only backend: slow it down to be killed mid-run
        options.setdefault("delay_s", float(os.environ.get("FTEVAL_FAKE_DELAY_S", "0")))
        return FakeBackend(arms, **options)
    if config.backend == "hf":
        try:
            import peft  # noqa: F401
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ModuleNotFoundError as error:
            raise MissingDependencyError(error.name or "torch", "hf", "the hf backend") from None
        from fteval.backends.hf import HFBackend

        return HFBackend(
            arms,
            dtype=config.dtype,
            device=config.device,
            batch_size=config.batch_size,
            max_length=config.max_length,
            allow_base_mismatch=config.allow_base_mismatch,
            allow_pickle=config.allow_pickle,
            trust_remote_code=config.trust_remote_code,
            progress=progress,
            adapter_serving=config.adapter_serving,
        )
    raise ConfigError(f"unknown backend {config.backend!r}")


__all__ = ["Backend", "make_backend"]

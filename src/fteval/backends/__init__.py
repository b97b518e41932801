"""Backends: the three-request model interface and its implementations.

Heavy imports (torch, transformers, peft) happen only when a model is needed: ``make_backend``
checks they are installed without importing them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from fteval.backends.base import Backend
from fteval.errors import ConfigError, MissingDependencyError
from fteval.records import ArmSpec

BACKENDS = ("hf", "fake", "vllm", "openai")


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
    _check_arm_paths(name, arms)
    if name == "fake":
        import os

        from fteval.backends.fake import FakeBackend

        # test-only knob of the test-only backend: slow it down to be killed mid-run
        settings.setdefault("delay_s", float(os.environ.get("FTEVAL_FAKE_DELAY_S", "0")))
        return FakeBackend(arms, **settings)
    if name == "hf":
        # found, not imported: a run served from the response cache never imports them
        for module in ("torch", "transformers", "peft"):
            if importlib.util.find_spec(module) is None:
                # core dependencies of fteval: name the package itself, there is no extra
                raise MissingDependencyError(module, None, "the hf backend")
        from fteval.backends.hf import HFBackend

        return HFBackend(arms, progress=progress, **settings)
    if name == "vllm":
        from fteval.backends.vllm import VLLMBackend, require_vllm

        require_vllm()
        return VLLMBackend(arms, progress=progress, **settings)
    if name == "openai":
        from fteval.backends.openai import OpenAIBackend

        return OpenAIBackend(arms, progress=progress, **settings)
    raise ConfigError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")


def _check_arm_paths(name: str, arms: Sequence[ArmSpec]) -> None:
    """A served model name (``openai:NAME``) only means something to the openai backend."""
    if name == "openai":
        return
    for arm in arms:
        if arm.path.startswith("openai:"):
            raise ConfigError(
                f"arm {arm.name!r} is {arm.path!r}, a served model name: use --backend openai "
                f"with --base-url (the run uses the {name} backend)"
            )


__all__ = ["BACKENDS", "Backend", "make_backend"]

"""Installed package versions: the one lookup behind signatures, manifests and cache keys."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (a pip name), or None when not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed_versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """``distribution -> installed version`` (None for those not installed), in input order."""
    return {name: installed_version(name) for name in distributions}

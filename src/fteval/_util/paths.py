"""Where fteval keeps per-user files (demo models, response cache, nltk data)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$FTEVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/fteval``, else ``~/.cache/fteval``."""
    explicit = os.environ.get("FTEVAL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "fteval"


def check_dir_target(path: str | Path, what: str) -> None:
    """Refuse a path that cannot be (or become) a directory, before any work starts.

    Args:
        path: where a directory is (or will be made).
        what: how the user named it, for the message (``"--out"``, ``"cache_dir"``).

    Raises:
        ConfigError: ``path`` is empty, is an existing file, or lies under one.
    """
    from fteval.errors import ConfigError

    if not str(path).strip():
        raise ConfigError(f"{what}: an empty path")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: is a file, not a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what} {path}: lies under {parent}, which is a file")
            return

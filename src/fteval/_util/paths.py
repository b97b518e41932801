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

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
    """Refuse a path that cannot be (or become) a writable directory, before any work.

    Args:
        path: where a directory is (or will be made).
        what: how the user named it, for the message (``"--out"``, ``"cache_dir"``).

    Raises:
        ConfigError: ``path`` is empty, is an existing file, lies under one, or cannot be
            written (or created).
    """
    from fteval.errors import ConfigError

    if not str(path).strip():
        raise ConfigError(f"{what}: an empty path")
    path = Path(path)
    try:
        _check_dir_target(path, what)
    except OSError as error:  # a name too long, a loop of links, a forbidden parent
        raise ConfigError(f"{what} {path}: {error.strerror or error}") from None


def _check_dir_target(path: Path, what: str) -> None:
    from fteval.errors import ConfigError

    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: is a file, not a directory")
    if path.is_dir():
        _check_writable(path, path, what)
        return
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what} {path}: lies under {parent}, which is a file")
            _check_writable(path, parent, what)
            return


def _check_writable(path: Path, folder: Path, what: str) -> None:
    """Refuse ``path`` when ``folder`` (itself, or its nearest existing parent) takes no
    new entries: a read-only file system, missing permissions, a virtual file system.

    Proven by doing it, not by ``os.access`` (which says yes to root everywhere): a
    temporary file (or, in a parent, a temporary folder) is made and removed again.
    """
    import tempfile

    from fteval.errors import ConfigError

    try:
        if folder == path:
            with tempfile.TemporaryFile(dir=folder, prefix=".fteval-probe-"):
                pass
        else:
            os.rmdir(tempfile.mkdtemp(dir=folder, prefix=".fteval-probe-"))
    except OSError as error:
        place = "" if folder == path else f" (nothing can be created in {folder})"
        raise ConfigError(
            f"{what} {path}: not writable{place}: {error.strerror or error}"
        ) from None

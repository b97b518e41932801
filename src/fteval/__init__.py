"""fteval: did my fine-tune help, by how much, is the difference real, and what did it cost?"""

from fteval.version import __version__


def __getattr__(name: str):
    # The API imports numpy/scipy; keep ``import fteval`` cheap until it is used.
    if name in ("evaluate", "load_run", "rescore", "run"):
        from fteval import api

        return getattr(api, name)
    raise AttributeError(f"module 'fteval' has no attribute {name!r}")


__all__ = ["__version__", "evaluate", "load_run", "rescore", "run"]

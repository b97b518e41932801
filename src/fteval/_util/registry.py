"""One generic registry: names a user writes -> entries (metric factories, task factories).

Entries register themselves at import time (a decorator or a call). Modules whose import
registers entries can be named as *loaders*: they are imported on the first lookup, and
the registry counts as loaded only after every one of them imported cleanly, so a failed
import is raised again on the next lookup instead of leaving a silently partial registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Unique names -> entries of one kind.

    Args:
        kind: what the entries are, for messages (``"metric"``, ``"built-in task"``).
        loaders: modules to import before the first lookup; a loader that does not exist
            (``ModuleNotFoundError`` for that very module) is skipped.
    """

    def __init__(self, kind: str, *, loaders: Sequence[str] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._loaders = tuple(loaders)
        self._loaded = not self._loaders
        self._loading = False

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; returns ``entry``.

        Raises:
            ValueError: ``name`` is empty or already registered.
        """
        if not name:
            raise ValueError(f"a {self.kind} needs a non-empty name")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator registering the decorated object under ``name``."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def find(self, name: str) -> T | None:
        """The entry registered under ``name``, or None."""
        self._load()
        return self._entries.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._entries)

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered (lists the known names)."""
        known = ", ".join(self.names()) or "none yet"
        return f"unknown {self.kind} {name!r}; known {self.kind}s: {known}"

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        if self._loaded or self._loading:
            return  # loading: a loader looked a name up while it was being imported
        self._loading = True
        try:
            self._import_loaders()
        finally:
            self._loading = False
        self._loaded = True

    def _import_loaders(self) -> None:
        for module in self._loaders:
            before = set(self._entries)
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as error:
                self._forget(before)
                if error.name != module:
                    raise
            except BaseException:
                # the module is not kept in sys.modules; a retry runs it (and its
                # registrations) again, so forget what it registered before failing
                self._forget(before)
                raise

    def _forget(self, keep: set[str]) -> None:
        for name in set(self._entries) - keep:
            del self._entries[name]

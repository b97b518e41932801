"""Progress bars with ETA on stderr (tqdm); silent when disabled."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(
    *, total: int, desc: str, enabled: bool = True, unit: str = "req"
) -> Iterator[Any]:
    """A tqdm bar (count, rate, ETA) on stderr, or a no-op object when not enabled."""
    if not enabled:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    with tqdm(
        total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False
    ) as bar:
        yield bar


class _Silent:
    def update(self, n: int = 1) -> None:
        return None

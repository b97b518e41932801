"""Stable numbers from content: one hash -> integer rule for seeds and fake scores.

``stable_int`` is the only place fteval turns text into a number. It joins the parts
with the unit separator (``\\x1f``, which no part is expected to contain), hashes them
with sha256 and keeps the low ``bits`` of its first ``ceil(bits / 8)`` bytes read
big-endian, so the number depends on the content
alone: not on Python's per-process ``hash`` salt, the platform, or the order of work.
"""

from __future__ import annotations

import hashlib

SEPARATOR = "\x1f"


def stable_int(*parts: object, bits: int = 32) -> int:
    """A non-negative integer below ``2**bits`` from ``parts`` (each turned into ``str``).

    Args:
        *parts: the content to hash; ``bytes`` parts are hashed as hex.
        bits: size of the result in bits, 1-256 (32 fits any NumPy seed; 63 a signed int64).

    Returns:
        An integer in ``[0, 2**bits)``.
    """
    if not 1 <= bits <= 256:
        raise ValueError(f"bits must be in [1, 256], got {bits!r}")
    text = SEPARATOR.join(p.hex() if isinstance(p, bytes) else str(p) for p in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[: (bits + 7) // 8], "big") & ((1 << bits) - 1)


def stable_unit(*parts: object) -> float:
    """A number in ``[0, 1)`` from ``parts`` (64 bits of ``stable_int``)."""
    return stable_int(*parts, bits=64) / 2**64

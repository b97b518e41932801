"""How much room a line of chart text takes, estimated without a browser.

The charts are laid out in Python (``report.svg``), so each label's width must be known
before any browser draws it; a guess that is too small is a label cut by its chart's edge.
The estimate uses the advance widths of DejaVu Sans, what ``system-ui, sans-serif``
resolves to on most Linux systems and the widest of the common interface fonts (Arial,
Helvetica, Segoe UI, San Francisco and Roboto are all narrower), so it errs on the wide
side: a label may get a few pixels more room than it needs, never less.

Widths are in em (multiply by the font size in px). ASCII characters have their own
width (rounded up to 1/100 em); a few non-ASCII marks the report draws have theirs;
combining marks take none; every other character counts as one em (``FALLBACK_EM``),
except emoji and other characters beyond the Basic Multilingual Plane
(``ASTRAL_EM``), which colour-emoji fonts draw wider than one em.
"""

from __future__ import annotations

import unicodedata

ASCENT_EM = 0.93  # DejaVu Sans's ascent: how far a text's box reaches above its baseline
DESCENT_EM = 0.24  # and below it
FALLBACK_EM = 1.0
ASTRAL_EM = 1.3

_ASCII_GROUPS = {  # em -> characters (DejaVu Sans Book, advance width / units per em)
    0.28: "'ijl",
    0.30: "IJ",
    0.32: " ,.",
    0.34: "/:;\\|",
    0.36: "f",
    0.37: "-",
    0.40: "()[]t",
    0.41: "!",
    0.42: "r",
    0.46: '"',
    0.50: "*_`",
    0.53: "sz",
    0.54: "?",
    0.55: "c",
    0.56: "L",
    0.58: "Fk",
    0.60: "vxy",
    0.61: "P",
    0.62: "TYaeo",
    0.64: "$0123456789ESbdghnpqu{}",
    0.66: "K",
    0.69: "ABVXZ",
    0.70: "CR",
    0.74: "U",
    0.75: "N",
    0.76: "H",
    0.78: "&DG",
    0.79: "OQ",
    0.82: "w",
    0.84: "#+<=>^~",
    0.87: "M",
    0.96: "%",
    0.98: "m",
    0.99: "W",
    1.00: "@",
}
_MARKS = {  # the non-ASCII characters the report itself writes into charts
    "·": 0.32,
    "–": 0.50,
    "—": 1.00,
    "−": 0.84,
    "…": 1.00,
    "Δ": 0.69,
    "α": 0.66,
    "≥": 0.84,
    "≤": 0.84,
    "±": 0.84,
    "×": 0.84,
    "→": 0.84,
    "↓": 0.84,
    "▲": 0.77,
    "▼": 0.77,
    "✓": 0.84,
    "✗": 0.84,
}
EM: dict[str, float] = {c: em for em, chars in _ASCII_GROUPS.items() for c in chars}
EM.update(_MARKS)


def char_em(char: str) -> float:
    """The width of one character in em (see the module docstring)."""
    known = EM.get(char)
    if known is not None:
        return known
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0.0
    return ASTRAL_EM if ord(char) > 0xFFFF else FALLBACK_EM


def text_width(text: str, size: float) -> float:
    """The width of ``text`` drawn at ``size`` px, in px (an upper estimate, >= 0)."""
    return size * sum(char_em(c) for c in text)


def fit(text: str, width: float, size: float) -> str:
    """``text``, cut at the end with "…" so that it takes at most ``width`` px."""
    if text_width(text, size) <= width:
        return text
    room = width - text_width("…", size)
    kept = []
    used = 0.0
    for char in text:
        used += size * char_em(char)
        if used > room:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"

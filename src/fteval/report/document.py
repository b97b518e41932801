"""The report as neutral blocks (sections of tables, notes and charts).

``sections.build_document`` turns results and the manifest into these blocks once;
``markdown`` writes the tables and notes as Markdown and ``html`` writes them as HTML with
the charts, so report.md and report.html always hold the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and a tone for colour in HTML (``up``, ``down``, ``warn``).

    The text alone must say everything (a ``*``, a word, ▲/▼): the tone only adds colour.
    """

    text: str
    tone: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Table:
    """A table of strings (or cells).

    ``align`` gives each column's alignment (``l`` text, ``r`` numbers); when empty, the
    first ``label_columns`` columns are text and the rest numbers.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str | Cell, ...], ...]
    caption: str = ""
    label_columns: int = 1
    kind: str = ""
    align: str = ""

    def aligned_left(self, column: int) -> bool:
        """Whether column ``column`` holds text (left-aligned) rather than numbers."""
        if self.align:
            return column >= len(self.align) or self.align[column] == "l"
        return column < self.label_columns


@dataclass(frozen=True)
class Note:
    """A sentence for the reader; ``level`` is ``info``, ``warning`` or ``alert``."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class Chart:
    """An SVG chart (HTML only); ``kind`` names what it shows (``scores``, ``deltas``...)."""

    kind: str
    svg: str
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``level`` 2 is a top-level section, 3 a sub-section.

    A ``collapsed`` section is folded in report.html (``<details>``, closed: its title and
    ``summary``, a one-line gist, until the reader opens it); report.md shows it whole.
    """

    id: str
    title: str
    blocks: tuple[Any, ...] = field(default_factory=tuple)
    level: int = 2
    collapsed: bool = False
    summary: str = ""


Block = Table | Note | Chart | Section

"""An SVG drawing that knows where its text is, so the chart can always hold it.

Charts add shapes (markup) and text (with position, anchor, size and angle) to a
``Canvas``; for each text it keeps the box the text will take (``report.textwidth``:
an upper estimate), rotated when the text is. ``Canvas.svg`` then writes an ``<svg>``
whose view box is the chart's own area grown to hold every such box, so no label, value
or tick is cut by the chart's edge, whatever the names and numbers are. Charts still lay
themselves out from the same estimates (label columns as wide as their longest label);
the view box is the guarantee, not the layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from fteval.report.textwidth import ASCENT_EM, DESCENT_EM, fit, text_width

FONT = 12  # px, the charts' text size
SMALL = 11  # px, tick labels
MARGIN = 2.0  # px left around the outermost text


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in the chart's coordinates (px)."""

    left: float
    top: float
    right: float
    bottom: float


def text_box(
    x: float, y: float, text: str, *, anchor: str = "start", size: float = FONT, angle: float = 0.0
) -> Box:
    """The box a text drawn at baseline point (x, y) takes.

    Args:
        x: the anchor point's horizontal position (px).
        y: the anchor point's vertical position, on the baseline (px).
        text: the text.
        anchor: ``start``, ``middle`` or ``end`` (SVG ``text-anchor``).
        size: font size in px.
        angle: rotation about (x, y) in degrees (SVG ``rotate``: positive is clockwise).
    """
    width = text_width(text, size)
    start = {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]
    corners = [
        (start + dx, dy) for dx in (0.0, width) for dy in (-ASCENT_EM * size, DESCENT_EM * size)
    ]
    turn = math.radians(angle)
    cos, sin = math.cos(turn), math.sin(turn)
    points = [(x + cx * cos - cy * sin, y + cx * sin + cy * cos) for cx, cy in corners]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return Box(min(xs), min(ys), max(xs), max(ys))


class Canvas:
    """Markup and text of one chart (see the module docstring)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.boxes: list[Box] = []

    def add(self, markup: str) -> None:
        """A shape (markup that holds no text)."""
        self.parts.append(markup)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "start",
        size: float = FONT,
        angle: float = 0.0,
        css: str = "",
        fill: str = "",
        width: float | None = None,
    ) -> Box:
        """A line of text at baseline point (x, y); returns the box it takes.

        Args:
            x: the anchor point's horizontal position (px).
            y: the anchor point's vertical position, on the baseline (px).
            text: the text (escaped here).
            anchor: ``start``, ``middle`` or ``end``.
            size: font size in px.
            angle: rotation about (x, y) in degrees, clockwise.
            css: a class for the stylesheet (colour only: the size is set here).
            fill: the text colour, when not the default.
            width: at most this many px: a longer text is cut with "…" and keeps its
                whole text as a tooltip.
        """
        shown = fit(text, width, size) if width is not None else text
        box = text_box(x, y, shown, anchor=anchor, size=size, angle=angle)
        self.boxes.append(box)
        attrs = [f'x="{x:.1f}"', f'y="{y:.1f}"', f'text-anchor="{anchor}"']
        if size != FONT:
            attrs.append(f'font-size="{size:g}"')
        if angle:
            attrs.append(f'transform="rotate({angle:g} {x:.1f} {y:.1f})"')
        if css:
            attrs.append(f'class="{css}"')
        if fill:
            attrs.append(f'fill="{fill}"')
        element = f"<text {' '.join(attrs)}>{escape(shown)}</text>"
        if shown != text:
            element = f"<g><title>{escape(text)}</title>{element}</g>"
        self.parts.append(element)
        return box

    def svg(self, width: float, height: float, *, title: str, kind: str) -> str:
        """The ``<svg>``: the area (0, 0, width, height) grown to hold every text's box."""
        left = min([0.0, *(b.left - MARGIN for b in self.boxes)])
        top = min([0.0, *(b.top - MARGIN for b in self.boxes)])
        right = max([width, *(b.right + MARGIN for b in self.boxes)])
        bottom = max([height, *(b.bottom + MARGIN for b in self.boxes)])
        left, top = math.floor(left), math.floor(top)
        w, h = math.ceil(right - left), math.ceil(bottom - top)
        label = escape(title)
        return (
            f'<svg class="chart-svg" data-kind="{escape(kind)}" role="img" aria-label="{label}" '
            f'viewBox="{left} {top} {w} {h}" width="{w}" height="{h}" '
            f'font-family="system-ui, sans-serif" font-size="{FONT}">'
            f"<title>{label}</title>{''.join(self.parts)}</svg>"
        )

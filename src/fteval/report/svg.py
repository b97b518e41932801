"""Inline SVG charts for report.html, written as text by Python (no plotting library).

Why inline SVG generated here rather than a JavaScript charting library or images: the
report must open offline from disk with no request to any address, stay small (a chart
is a few kilobytes of text; a charting library is megabytes), print sharply at any size,
read without JavaScript, and be testable as text (a test can find each number in it).

Every chart reads without colour: each arm has a marker shape and a hatch pattern as
well as a colour (Okabe-Ito, readable by colour-blind readers and in grey), every mark
carries its number as text, significant deltas are filled markers and "*", others
hollow. Each ``<svg>`` has ``role="img"`` and a ``<title>`` naming what it shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#000")
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
PATTERNS = ("solid", "hatch", "dots", "cross", "vertical", "grid", "backhatch", "horizontal")
FONT = 12
ROW_HEIGHT = 22
LABEL_WIDTH = 170
VALUE_WIDTH = 150
PLOT_WIDTH = 340


def defs() -> str:
    """One hidden ``<svg>`` with the hatch patterns every chart refers to (once per page)."""
    patterns = []
    for index, name in enumerate(PATTERNS):
        colour = PALETTE[index % len(PALETTE)]
        body = {
            "solid": f'<rect width="8" height="8" fill="{colour}"/>',
            "hatch": f'<rect width="8" height="8" fill="#fff"/><path d="M0,8 L8,0" '
            f'stroke="{colour}" stroke-width="2"/>',
            "dots": f'<rect width="8" height="8" fill="#fff"/><circle cx="4" cy="4" r="2" '
            f'fill="{colour}"/>',
            "cross": f'<rect width="8" height="8" fill="#fff"/><path d="M0,0 L8,8 M8,0 L0,8" '
            f'stroke="{colour}" stroke-width="1.5"/>',
            "vertical": f'<rect width="8" height="8" fill="#fff"/><path d="M4,0 L4,8" '
            f'stroke="{colour}" stroke-width="2"/>',
            "grid": f'<rect width="8" height="8" fill="#fff"/><path d="M0,4 L8,4 M4,0 L4,8" '
            f'stroke="{colour}" stroke-width="1.5"/>',
            "backhatch": f'<rect width="8" height="8" fill="#fff"/><path d="M0,0 L8,8" '
            f'stroke="{colour}" stroke-width="2"/>',
            "horizontal": f'<rect width="8" height="8" fill="#fff"/><path d="M0,4 L8,4" '
            f'stroke="{colour}" stroke-width="2"/>',
        }[name]
        patterns.append(
            f'<pattern id="fp-{index}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f"{body}</pattern>"
        )
    return (
        '<svg width="0" height="0" aria-hidden="true" style="position:absolute">'
        f"<defs>{''.join(patterns)}</defs></svg>"
    )


def colour(style: int) -> str:
    """The colour of style ``style`` (an arm's index)."""
    return PALETTE[style % len(PALETTE)]


def pattern(style: int) -> str:
    """A fill referring to style ``style``'s hatch pattern."""
    return f"url(#fp-{style % len(PATTERNS)})"


def marker(style: int, x: float, y: float, *, filled: bool = True, size: float = 5.0) -> str:
    """The marker of ``style`` at (x, y): a shape per arm, filled or hollow."""
    shape = SHAPES[style % len(SHAPES)]
    stroke = colour(style)
    fill = stroke if filled else "#fff"
    attrs = f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"'
    s = size
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s:.1f}" {attrs}/>'
    if shape == "square":
        side = 2 * s
        return (
            f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{side:.1f}" height="{side:.1f}" '
            f"{attrs}/>"
        )
    if shape == "triangle":
        points = f"{x:.1f},{y - s - 1:.1f} {x + s + 1:.1f},{y + s:.1f} {x - s - 1:.1f},{y + s:.1f}"
        return f'<polygon points="{points}" {attrs}/>'
    if shape == "diamond":
        r = s + 1
        points = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
        return f'<polygon points="{points}" {attrs}/>'
    if shape == "cross":
        a, b, c, d = x - s, y - s, x + s, y + s
        path = f"M{a:.1f},{b:.1f} L{c:.1f},{d:.1f} M{c:.1f},{b:.1f} L{a:.1f},{d:.1f}"
        return f'<path d="{path}" stroke="{stroke}" stroke-width="2.5" fill="none"/>'
    points = " ".join(
        f"{x + (s + 1) * (1 if i % 2 == 0 else 0.45) * math.sin(i * math.pi / 5):.1f},"
        f"{y - (s + 1) * (1 if i % 2 == 0 else 0.45) * math.cos(i * math.pi / 5):.1f}"
        for i in range(10)
    )
    return f'<polygon points="{points}" {attrs}/>'


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (about ``count`` of them)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks and ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _svg(width: float, height: float, title: str, body: Sequence[str], kind: str) -> str:
    label = escape(title)
    return (
        f'<svg class="chart-svg" data-kind="{escape(kind)}" role="img" aria-label="{label}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="system-ui, sans-serif" '
        f'font-size="{FONT}"><title>{label}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


@dataclass(frozen=True)
class IntervalRow:
    """One row of an interval chart: a point estimate with its confidence interval.

    Attributes:
        label: the row's name (an arm, "lora vs base", a slice...).
        value: the estimate in display units (None: not available).
        low: lower end of the interval (None: no interval).
        high: upper end of the interval.
        style: the arm's style index (colour, shape).
        filled: filled marker (significant) or hollow.
        text: the number shown at the right (estimate and interval as text).
    """

    label: str
    value: float | None
    low: float | None
    high: float | None
    style: int
    filled: bool
    text: str


def _finite(*values: float | None) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def interval_chart(
    rows: Sequence[IntervalRow],
    *,
    title: str,
    kind: str,
    zero_line: bool = False,
    domain: tuple[float, float] | None = None,
) -> str:
    """Horizontal point-and-interval chart (a forest plot), one row per estimate.

    Args:
        rows: the estimates, top to bottom.
        title: what the chart shows (the SVG's title).
        kind: the chart's kind (``data-kind``), e.g. ``scores`` or ``deltas``.
        zero_line: draw a dashed line at 0 (for differences).
        domain: fixed axis range in display units (default: fitted to the data).
    """
    values = [v for r in rows for v in _finite(r.value, r.low, r.high)]
    if zero_line:
        values.append(0.0)
    if domain is not None:
        low, high = domain
        values = [*values, low, high]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    ticks = nice_ticks(low, high)
    if ticks:
        low, high = ticks[0], ticks[-1]
    span = (high - low) or 1.0

    def x_of(v: float) -> float:
        return LABEL_WIDTH + (v - low) / span * PLOT_WIDTH

    top = 8
    height = top + len(rows) * ROW_HEIGHT + 30
    body = []
    for tick in ticks:
        x = x_of(tick)
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 24}" stroke="#ddd"/>'
        )
        body.append(_text(x, height - 10, f"{tick:g}", anchor="middle", css="tick"))
    if zero_line and low <= 0 <= high:
        x = x_of(0.0)
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 24}" stroke="#333" '
            'stroke-dasharray="4 3"/>'
        )
    for index, row in enumerate(rows):
        y = top + index * ROW_HEIGHT + ROW_HEIGHT / 2
        body.append(_text(LABEL_WIDTH - 8, y + 4, row.label, anchor="end"))
        ends = _finite(row.low, row.high)
        if len(ends) == 2:
            x1, x2 = x_of(ends[0]), x_of(ends[1])
            stroke = colour(row.style)
            body.append(
                f'<path d="M{x1:.1f},{y:.1f} L{x2:.1f},{y:.1f} M{x1:.1f},{y - 4:.1f} '
                f'L{x1:.1f},{y + 4:.1f} M{x2:.1f},{y - 4:.1f} L{x2:.1f},{y + 4:.1f}" '
                f'stroke="{stroke}" stroke-width="2" fill="none"/>'
            )
        if _finite(row.value):
            body.append(marker(row.style, x_of(float(row.value or 0.0)), y, filled=row.filled))
        body.append(_text(LABEL_WIDTH + PLOT_WIDTH + 10, y + 4, row.text, css="value"))
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH + 20
    return _svg(width, height, title, body, kind)


def heatmap(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    counts: Sequence[Sequence[float]],
    *,
    title: str,
    kind: str = "confusion",
    row_axis: str = "gold",
    column_axis: str = "predicted",
) -> str:
    """A matrix of counts: cells shaded by their share of the row, each with its count.

    The shade is grey (darker = larger share of the row), so it prints and reads without
    colour; the count is written in every cell, and the diagonal is outlined.
    """
    cell = 44 if len(column_labels) <= 8 else 30
    left, top = 110, 70
    width = left + cell * len(column_labels) + 20
    height = top + cell * len(row_labels) + 12
    body = [
        _text(left + cell * len(column_labels) / 2, 14, column_axis, anchor="middle", css="axis"),
        _text(12, top - 8, f"{row_axis} ↓", css="axis"),
    ]
    for j, name in enumerate(column_labels):
        x = left + j * cell + cell / 2
        body.append(
            f'<text x="{x:.1f}" y="{top - 8}" text-anchor="start" '
            f'transform="rotate(-35 {x:.1f} {top - 8})">{escape(_short(name, 14))}</text>'
        )
    for i, name in enumerate(row_labels):
        y = top + i * cell
        total = sum(counts[i]) or 1
        body.append(_text(left - 6, y + cell / 2 + 4, _short(name, 16), anchor="end"))
        for j, count in enumerate(counts[i]):
            share = count / total
            grey = round(255 - share * 200)
            ink = "#fff" if share > 0.55 else "#000"
            x = left + j * cell
            outline = ' stroke="#000" stroke-width="2"' if i == j else ' stroke="#bbb"'
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="rgb({grey},{grey},{grey})"{outline}/>'
            )
            body.append(
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                f'fill="{ink}">{count:g}</text>'
            )
    return _svg(width, height, title, body, kind)


def reliability_chart(
    lower: Sequence[float],
    upper: Sequence[float],
    counts: Sequence[float],
    confidence: Sequence[float | None],
    accuracy: Sequence[float | None],
    *,
    title: str,
    style: int = 0,
) -> str:
    """Reliability diagram: accuracy per confidence bin (hatched bars) against the diagonal.

    A bar below the diagonal is overconfidence. Each non-empty bin's mean confidence is a
    marker, and its item count is written under the axis.
    """
    size, left, top = 220, 44, 10
    body = [
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
        f'<line x1="{left}" y1="{top + size}" x2="{left + size}" y2="{top}" stroke="#333" '
        'stroke-dasharray="4 3"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        body.append(_text(left + tick * size, top + size + 14, f"{tick:g}", anchor="middle"))
        body.append(_text(left - 4, top + size - tick * size + 4, f"{tick:g}", anchor="end"))
    for lo, hi, count, conf, acc in zip(lower, upper, counts, confidence, accuracy):
        if not count or acc is None:
            continue
        x, w = left + lo * size, (hi - lo) * size
        h = float(acc) * size
        body.append(
            f'<rect x="{x:.1f}" y="{top + size - h:.1f}" width="{max(w - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{pattern(style)}" stroke="{colour(style)}"/>'
        )
        if conf is not None:
            body.append(marker(style, left + float(conf) * size, top + size - h, size=3))
    body.append(_text(left + size / 2, top + size + 30, "confidence", anchor="middle"))
    body.append(
        f'<text x="12" y="{top + size / 2:.1f}" transform="rotate(-90 12 {top + size / 2:.1f})" '
        'text-anchor="middle">accuracy</text>'
    )
    return _svg(left + size + 16, top + size + 40, title, body, "reliability")


@dataclass(frozen=True)
class Series:
    """One line of a line chart: y against x, with a style and a dash pattern."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    style: int
    dashed: bool = False


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    kind: str,
    x_label: str,
    y_label: str,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """Lines over a shared x axis (training losses, checkpoint scores), with a legend.

    ``marks`` are vertical lines with a label (e.g. the best step). Missing points (None)
    break a line rather than joining across them.
    """
    xs = [float(x) for s in series for x in s.xs]
    ys = [float(y) for s in series for y in s.ys if y is not None and math.isfinite(float(y))]
    if not xs or not ys:
        return ""
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    left, top, width, height = 56, 10, 420, 200

    def pos(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / ((x1 - x0) or 1) * width,
            top + height - (y - y0) / ((y1 - y0) or 1) * height,
        )

    body = [
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>'
    ]
    for tick in x_ticks:
        x, _ = pos(tick, y0)
        body.append(_text(x, top + height + 14, f"{tick:g}", anchor="middle", css="tick"))
    for tick in y_ticks:
        _, y = pos(x0, tick)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#eee"/>'
        )
        body.append(_text(left - 4, y + 4, f"{tick:g}", anchor="end", css="tick"))
    for value, label in marks:
        x, _ = pos(float(value), y0)
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" stroke="#333" '
            'stroke-dasharray="2 2"/>'
        )
        body.append(_text(x + 3, top + 12, label))
    for line in series:
        segments: list[list[tuple[float, float]]] = [[]]
        for x_value, y_value in zip(line.xs, line.ys):
            if y_value is None or not math.isfinite(float(y_value)):
                segments.append([])
                continue
            segments[-1].append(pos(float(x_value), float(y_value)))
        dash = ' stroke-dasharray="6 3"' if line.dashed else ""
        for points in segments:
            if len(points) > 1:
                path = " L".join(f"{px:.1f},{py:.1f}" for px, py in points)
                body.append(
                    f'<path d="M{path}" fill="none" stroke="{colour(line.style)}" '
                    f'stroke-width="2"{dash}/>'
                )
            for px, py in points[:: max(1, len(points) // 12)]:
                body.append(marker(line.style, px, py, filled=not line.dashed, size=3))
    legend_y = top + height + 32
    for index, line in enumerate(series):
        x = left + (index % 3) * 150
        y = legend_y + (index // 3) * 16
        dash = ' stroke-dasharray="6 3"' if line.dashed else ""
        body.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 22}" y2="{y - 4}" stroke="{colour(line.style)}" '
            f'stroke-width="2"{dash}/>'
        )
        body.append(marker(line.style, x + 11, y - 4, filled=not line.dashed, size=3))
        body.append(_text(x + 28, y, _short(line.name, 20)))
    legend_rows = (len(series) + 2) // 3
    body.append(_text(left + width / 2, legend_y + legend_rows * 16 + 4, x_label, anchor="middle"))
    middle = top + height / 2
    body.append(
        f'<text x="12" y="{middle:.1f}" transform="rotate(-90 12 {middle:.1f})" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return _svg(left + width + 20, legend_y + legend_rows * 16 + 14, title, body, kind)


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a label, a value (display units) and the text written beside it."""

    label: str
    value: float | None
    text: str
    style: int


def bar_chart(bars: Sequence[Bar], *, title: str, kind: str) -> str:
    """Horizontal bars from 0, each hatched in its arm's pattern, with its number as text."""
    values = _finite(*(b.value for b in bars))
    high = max(values, default=1.0) or 1.0
    top = 6
    height = top + len(bars) * ROW_HEIGHT + 8
    body = []
    for index, bar in enumerate(bars):
        y = top + index * ROW_HEIGHT
        body.append(_text(LABEL_WIDTH - 8, y + ROW_HEIGHT / 2 + 4, bar.label, anchor="end"))
        if _finite(bar.value):
            w = max(1.0, float(bar.value or 0.0) / high * PLOT_WIDTH)
            body.append(
                f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{w:.1f}" height="{ROW_HEIGHT - 6}" '
                f'fill="{pattern(bar.style)}" stroke="{colour(bar.style)}"/>'
            )
        body.append(_text(LABEL_WIDTH + PLOT_WIDTH + 10, y + ROW_HEIGHT / 2 + 4, bar.text))
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH + 20
    return _svg(width, height, title, body, kind)


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]], *, title: str, kind: str
) -> str:
    """Shares of a whole per row (e.g. wins / ties / losses), each part patterned and labelled."""
    top = 6
    height = top + len(rows) * ROW_HEIGHT + 24
    body = []
    names: list[str] = []
    for index, (label, parts) in enumerate(rows):
        y = top + index * ROW_HEIGHT
        body.append(_text(LABEL_WIDTH - 8, y + ROW_HEIGHT / 2 + 4, label, anchor="end"))
        total = sum(v for _, v in parts) or 1.0
        x = float(LABEL_WIDTH)
        for part, (name, value) in enumerate(parts):
            if name not in names:
                names.append(name)
            w = value / total * PLOT_WIDTH
            body.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{ROW_HEIGHT - 6}" '
                f'fill="{pattern(part)}" stroke="{colour(part)}"/>'
            )
            if w > 28:
                body.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + ROW_HEIGHT / 2 + 4:.1f}" '
                    f'text-anchor="middle" class="inbar">{value:g}</text>'
                )
            x += w
        summary = ", ".join(f"{n} {v:g}" for n, v in parts)
        body.append(_text(LABEL_WIDTH + PLOT_WIDTH + 10, y + ROW_HEIGHT / 2 + 4, summary))
    y = top + len(rows) * ROW_HEIGHT + 14
    for part, name in enumerate(names):
        x = LABEL_WIDTH + part * 90
        body.append(
            f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{pattern(part)}" '
            f'stroke="{colour(part)}"/>'
        )
        body.append(_text(x + 16, y + 1, name))
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH + 60
    return _svg(width, height, title, body, kind)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

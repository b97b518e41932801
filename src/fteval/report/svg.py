"""Inline SVG charts for report.html, written as text by Python (no plotting library).

Why inline SVG generated here rather than a JavaScript charting library or images: the
report must open offline from disk with no request to any address, stay small (a chart
is a few kilobytes of text; a charting library is megabytes), print sharply at any size,
read without JavaScript, and be testable as text (a test can find each number in it).

Every chart reads without colour: each arm has a marker shape and a hatch pattern as
well as a colour (Okabe-Ito, readable by colour-blind readers and in grey), every mark
carries its number as text, significant deltas are filled markers and "*", others
hollow. Each ``<svg>`` has ``role="img"`` and a ``<title>`` naming what it shows.

No text is ever cut by its chart: label and value columns are as wide as their longest
text (``report.textwidth``), a label longer than ``MAX_LABEL`` px is shortened with "…"
and keeps its whole text as a tooltip (the tables beside the chart hold every name in
full), and each chart's view box holds every text's box (``report.canvas``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fteval.report.canvas import FONT, SMALL, Canvas
from fteval.report.textwidth import text_width

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#000")
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
PATTERNS = ("solid", "hatch", "dots", "cross", "vertical", "grid", "backhatch", "horizontal")
ROW_HEIGHT = 22
PLOT_WIDTH = 340
GAP = 10  # px between a label column and the plot, and between the plot and its values
MAX_LABEL = 260  # px: a longer row label is shortened (its whole text stays as a tooltip)
MAX_VALUE = 420  # px: the same for the text written beside a mark
HEADER_ANGLE = -35.0  # degrees: a heatmap's column names, read upwards to the right


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


def _widest(texts: Sequence[str], size: float = FONT, cap: float = MAX_LABEL) -> float:
    """The width of the widest text, at most ``cap`` px (0 when there is none)."""
    return min(cap, max((text_width(t, size) for t in texts), default=0.0))


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
    tick_texts = [f"{tick:g}" for tick in ticks]
    # the first tick's text is centred on the plot's left edge: leave it room
    left = max(_widest([r.label for r in rows]), _widest(tick_texts[:1], SMALL) / 2) + GAP
    values_x = left + PLOT_WIDTH + GAP

    def x_of(v: float) -> float:
        return left + (v - low) / span * PLOT_WIDTH

    top = 8
    height = top + len(rows) * ROW_HEIGHT + 30
    canvas = Canvas()
    for tick, label in zip(ticks, tick_texts):
        x = x_of(tick)
        canvas.add(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 24}" stroke="#ddd"/>')
        canvas.text(x, height - 10, label, anchor="middle", css="tick", size=SMALL)
    if zero_line and low <= 0 <= high:
        x = x_of(0.0)
        canvas.add(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 24}" stroke="#333" '
            'stroke-dasharray="4 3"/>'
        )
    for index, row in enumerate(rows):
        y = top + index * ROW_HEIGHT + ROW_HEIGHT / 2
        canvas.text(left - GAP, y + 4, row.label, anchor="end", width=MAX_LABEL)
        ends = _finite(row.low, row.high)
        if len(ends) == 2:
            x1, x2 = x_of(ends[0]), x_of(ends[1])
            stroke = colour(row.style)
            canvas.add(
                f'<path d="M{x1:.1f},{y:.1f} L{x2:.1f},{y:.1f} M{x1:.1f},{y - 4:.1f} '
                f'L{x1:.1f},{y + 4:.1f} M{x2:.1f},{y - 4:.1f} L{x2:.1f},{y + 4:.1f}" '
                f'stroke="{stroke}" stroke-width="2" fill="none"/>'
            )
        if _finite(row.value):
            canvas.add(marker(row.style, x_of(float(row.value or 0.0)), y, filled=row.filled))
        canvas.text(values_x, y + 4, row.text, css="value", width=MAX_VALUE)
    width = values_x + _widest([r.text for r in rows], cap=MAX_VALUE) + GAP
    return canvas.svg(width, height, title=title, kind=kind)


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
    colour; the count is written in every cell, and the diagonal is outlined. Column
    names are written upwards at an angle above their columns, row names to the left,
    each as long as it needs up to ``MAX_LABEL`` px.
    """
    cell = 44 if len(column_labels) <= 8 else 30
    turn = math.radians(-HEADER_ANGLE)
    header = _widest(column_labels) * math.sin(turn) + FONT * math.cos(turn)
    top = math.ceil(24 + header + 8)
    left = math.ceil(max(_widest(row_labels), text_width(f"{row_axis} ↓", FONT)) + GAP)
    canvas = Canvas()
    canvas.text(left + cell * len(column_labels) / 2, 14, column_axis, anchor="middle", css="axis")
    canvas.text(4, top - 8, f"{row_axis} ↓", css="axis")
    for j, name in enumerate(column_labels):
        x = left + j * cell + cell / 2
        canvas.text(x, top - 8, name, angle=HEADER_ANGLE, width=MAX_LABEL)
    for i, name in enumerate(row_labels):
        y = top + i * cell
        total = sum(counts[i]) or 1
        canvas.text(left - 6, y + cell / 2 + 4, name, anchor="end", width=MAX_LABEL)
        for j, count in enumerate(counts[i]):
            share = count / total
            grey = round(255 - share * 200)
            x = left + j * cell
            outline = ' stroke="#000" stroke-width="2"' if i == j else ' stroke="#bbb"'
            canvas.add(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="rgb({grey},{grey},{grey})"{outline}/>'
            )
            canvas.text(
                x + cell / 2,
                y + cell / 2 + 4,
                f"{count:g}",
                anchor="middle",
                fill="#fff" if share > 0.55 else "#000",
            )
    width = left + cell * len(column_labels) + 20
    return canvas.svg(width, top + cell * len(row_labels) + 12, title=title, kind=kind)


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
    marker.
    """
    size, left, top = 220, 44, 10
    canvas = Canvas()
    canvas.add(
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#999"/>'
    )
    canvas.add(
        f'<line x1="{left}" y1="{top + size}" x2="{left + size}" y2="{top}" stroke="#333" '
        'stroke-dasharray="4 3"/>'
    )
    for tick in (0.0, 0.5, 1.0):
        canvas.text(left + tick * size, top + size + 14, f"{tick:g}", anchor="middle")
        canvas.text(left - 4, top + size - tick * size + 4, f"{tick:g}", anchor="end")
    for lo, hi, count, conf, acc in zip(lower, upper, counts, confidence, accuracy):
        if not count or acc is None:
            continue
        x, w = left + lo * size, (hi - lo) * size
        h = float(acc) * size
        canvas.add(
            f'<rect x="{x:.1f}" y="{top + size - h:.1f}" width="{max(w - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="{pattern(style)}" stroke="{colour(style)}"/>'
        )
        if conf is not None:
            canvas.add(marker(style, left + float(conf) * size, top + size - h, size=3))
    canvas.text(left + size / 2, top + size + 30, "confidence", anchor="middle")
    canvas.text(14, top + size / 2, "accuracy", anchor="middle", angle=-90)
    return canvas.svg(left + size + 16, top + size + 40, title=title, kind="reliability")


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
    break a line rather than joining across them. The legend puts as many series on a
    line as their names leave room for.
    """
    xs = [float(x) for s in series for x in s.xs]
    ys = [float(y) for s in series for y in s.ys if y is not None and math.isfinite(float(y))]
    if not xs or not ys:
        return ""
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    width, height, top = 420, 200, 10
    left = math.ceil(24 + _widest([f"{t:g}" for t in y_ticks], SMALL) + 6)

    def pos(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / ((x1 - x0) or 1) * width,
            top + height - (y - y0) / ((y1 - y0) or 1) * height,
        )

    canvas = Canvas()
    canvas.add(
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>'
    )
    for tick in x_ticks:
        x, _ = pos(tick, y0)
        canvas.text(x, top + height + 14, f"{tick:g}", anchor="middle", css="tick", size=SMALL)
    for tick in y_ticks:
        _, y = pos(x0, tick)
        canvas.add(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#eee"/>'
        )
        canvas.text(left - 4, y + 4, f"{tick:g}", anchor="end", css="tick", size=SMALL)
    for value, label in marks:
        x, _ = pos(float(value), y0)
        canvas.add(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" stroke="#333" '
            'stroke-dasharray="2 2"/>'
        )
        canvas.text(x + 3, top + 12, label)
    for line in series:
        _draw_series(canvas, line, pos)
    legend_y = top + height + 32
    item = 28 + _widest([s.name for s in series]) + 16
    per_line = max(1, int(width // item))
    for index, line in enumerate(series):
        x = left + (index % per_line) * item
        y = legend_y + (index // per_line) * 16
        dash = ' stroke-dasharray="6 3"' if line.dashed else ""
        canvas.add(
            f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 22:.1f}" y2="{y - 4}" '
            f'stroke="{colour(line.style)}" stroke-width="2"{dash}/>'
        )
        canvas.add(marker(line.style, x + 11, y - 4, filled=not line.dashed, size=3))
        canvas.text(x + 28, y, line.name, width=MAX_LABEL)
    legend_rows = (len(series) + per_line - 1) // per_line
    bottom = legend_y + legend_rows * 16 + 4
    canvas.text(left + width / 2, bottom, x_label, anchor="middle")
    canvas.text(14, top + height / 2, y_label, anchor="middle", angle=-90, width=height)
    return canvas.svg(left + width + 20, bottom + 10, title=title, kind=kind)


def _draw_series(
    canvas: Canvas, line: Series, pos: Callable[[float, float], tuple[float, float]]
) -> None:
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
            canvas.add(
                f'<path d="M{path}" fill="none" stroke="{colour(line.style)}" '
                f'stroke-width="2"{dash}/>'
            )
        for px, py in points[:: max(1, len(points) // 12)]:
            canvas.add(marker(line.style, px, py, filled=not line.dashed, size=3))


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
    left = _widest([b.label for b in bars]) + GAP
    top = 6
    height = top + len(bars) * ROW_HEIGHT + 8
    canvas = Canvas()
    for index, bar in enumerate(bars):
        y = top + index * ROW_HEIGHT
        canvas.text(left - GAP, y + ROW_HEIGHT / 2 + 4, bar.label, anchor="end", width=MAX_LABEL)
        if _finite(bar.value):
            w = max(1.0, float(bar.value or 0.0) / high * PLOT_WIDTH)
            canvas.add(
                f'<rect x="{left:.1f}" y="{y + 3}" width="{w:.1f}" height="{ROW_HEIGHT - 6}" '
                f'fill="{pattern(bar.style)}" stroke="{colour(bar.style)}"/>'
            )
        canvas.text(left + PLOT_WIDTH + GAP, y + ROW_HEIGHT / 2 + 4, bar.text, width=MAX_VALUE)
    width = left + PLOT_WIDTH + GAP + _widest([b.text for b in bars], cap=MAX_VALUE) + GAP
    return canvas.svg(width, height, title=title, kind=kind)


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]], *, title: str, kind: str
) -> str:
    """Shares of a whole per row (e.g. wins / ties / losses), each part patterned and labelled."""
    left = _widest([label for label, _ in rows]) + GAP
    summaries = [", ".join(f"{n} {v:g}" for n, v in parts) for _, parts in rows]
    top = 6
    height = top + len(rows) * ROW_HEIGHT + 24
    canvas = Canvas()
    names: list[str] = []
    for index, ((label, parts), summary) in enumerate(zip(rows, summaries)):
        y = top + index * ROW_HEIGHT
        canvas.text(left - GAP, y + ROW_HEIGHT / 2 + 4, label, anchor="end", width=MAX_LABEL)
        total = sum(v for _, v in parts) or 1.0
        x = float(left)
        for part, (name, value) in enumerate(parts):
            if name not in names:
                names.append(name)
            w = value / total * PLOT_WIDTH
            canvas.add(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{ROW_HEIGHT - 6}" '
                f'fill="{pattern(part)}" stroke="{colour(part)}"/>'
            )
            text = f"{value:g}"
            if w > text_width(text, FONT) + 8:
                canvas.text(x + w / 2, y + ROW_HEIGHT / 2 + 4, text, anchor="middle", css="inbar")
            x += w
        canvas.text(left + PLOT_WIDTH + GAP, y + ROW_HEIGHT / 2 + 4, summary, width=MAX_VALUE)
    y = top + len(rows) * ROW_HEIGHT + 14
    x = float(left)
    for part, name in enumerate(names):
        canvas.add(
            f'<rect x="{x:.1f}" y="{y - 9}" width="12" height="12" fill="{pattern(part)}" '
            f'stroke="{colour(part)}"/>'
        )
        box = canvas.text(x + 16, y + 1, name, width=MAX_LABEL)
        x = box.right + 14
    width = left + PLOT_WIDTH + GAP + _widest(summaries, cap=MAX_VALUE) + GAP
    return canvas.svg(width, height, title=title, kind=kind)

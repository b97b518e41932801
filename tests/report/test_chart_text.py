"""Chart text never crosses its chart's edge: every text's box (by the width estimate)
lies inside the chart's view box, long labels are shortened with their whole text kept,
and the estimate is never narrower than the font the charts ask for."""

from __future__ import annotations

import math
import re
from html import unescape
from pathlib import Path

import pytest

from fteval.report import svg
from fteval.report.canvas import FONT, text_box
from fteval.report.textwidth import EM, fit, text_width

LONG = "customer_support_intents_from_the_2024_helpdesk_export · qlora-r64-rank-sixty-four"
TEXT = re.compile(r"<text ([^>]*)>([^<]*)</text>")
ATTR = re.compile(r'([a-z-]+)="([^"]*)"')


def _charts() -> dict[str, str]:
    """One chart of each kind, every label long."""
    row = svg.IntervalRow(LONG, 40.0, 30.0, 50.0, 1, True, "+46.7* [+31.7, +61.7]  improved")
    return {
        "interval": svg.interval_chart([row, row], title="t", kind="deltas", zero_line=True),
        "heatmap": svg.heatmap(
            [LONG, "cancellation"],
            [LONG, "cancellation", "(other)"],
            [[3, 1, 0], [0, 9, 2]],
            title="t",
        ),
        "reliability": svg.reliability_chart(
            [0, 0.5], [0.5, 1], [3, 4], [0.3, 0.9], [0.2, 0.6], title="t"
        ),
        "line": svg.line_chart(
            [
                svg.Series(LONG, [1, 2, 3], [0.5, 0.25, 0.125], 0),
                svg.Series("eval loss", [1, 2, 3], [0.6, None, 0.3], 1, dashed=True),
            ],
            title="t",
            kind="training",
            x_label="step",
            y_label="a rather long axis label",
            marks=[(2, "best")],
        ),
        "bars": svg.bar_chart([svg.Bar(LONG, 12.5, "12.5 GiB", 0)], title="t", kind="cost"),
        "stacked": svg.stacked_bar_chart(
            [(LONG, [("wins", 120.0), ("ties", 20.0), ("losses", 58.0)])], title="t", kind="j"
        ),
    }


def _boxes(chart: str):
    for attrs, content in TEXT.findall(chart):
        found = dict(ATTR.findall(attrs))
        angle = 0.0
        if "transform" in found:
            angle = float(re.match(r"rotate\(([-\d.]+)", found["transform"]).group(1))
        yield text_box(
            float(found["x"]),
            float(found["y"]),
            unescape(content),
            anchor=found.get("text-anchor", "start"),
            size=float(found.get("font-size", FONT)),
            angle=angle,
        )


@pytest.mark.parametrize("kind", list(_charts()))
def test_every_text_lies_inside_its_charts_view_box(kind):
    chart = _charts()[kind]
    left, top, width, height = map(float, re.search(r'viewBox="([^"]+)"', chart).group(1).split())
    boxes = list(_boxes(chart))
    assert boxes
    for box in boxes:
        assert left <= box.left and box.right <= left + width, (kind, box)
        assert top <= box.top and box.bottom <= top + height, (kind, box)


def test_a_long_label_is_shortened_to_its_room_and_kept_whole_as_a_tooltip():
    chart = _charts()["interval"]
    assert f"<title>{LONG}</title>" in chart.replace("&#x27;", "'")
    shown = [unescape(c) for _, c in TEXT.findall(chart) if c.endswith("…")]
    assert shown and all(text_width(s, FONT) <= svg.MAX_LABEL for s in shown)
    assert fit("short", 100, FONT) == "short"


def test_the_chart_grows_with_its_text_instead_of_cutting_it():
    narrow = svg.interval_chart([svg.IntervalRow("a", 1, 0, 2, 0, True, "1")], title="t", kind="s")
    wide = svg.interval_chart(
        [
            svg.IntervalRow(
                "a", 1, 0, 2, 0, True, "+46.7* [+31.7, +61.7]  no significant difference"
            )
        ],
        title="t",
        kind="s",
    )
    width = [float(re.search(r'width="(\d+)"', c).group(1)) for c in (narrow, wide)]
    assert width[1] - width[0] >= text_width("[+31.7, +61.7]  no significant difference", FONT)


def test_a_rotated_text_takes_its_rotated_box():
    box = text_box(0, 0, "cancellation", angle=-90)
    assert box.right - box.left == pytest.approx((0.93 + 0.24) * FONT)
    assert box.bottom - box.top == pytest.approx(text_width("cancellation", FONT))


def test_the_width_estimate_is_never_below_the_fonts_advance_widths():
    ttlib = pytest.importorskip("fontTools.ttLib")
    path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not path.exists():
        pytest.skip("DejaVu Sans is not installed")
    font = ttlib.TTFont(str(path))
    cmap, metrics = font.getBestCmap(), font["hmtx"]
    units = font["head"].unitsPerEm
    for char, em in EM.items():
        advance = metrics[cmap[ord(char)]][0] / units
        assert em >= advance and math.isclose(em, advance, abs_tol=0.011), char

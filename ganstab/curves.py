"""Line charts of named (x, y) curves, with no plotting library and no torch: a search draws one
per trial (a matplotlib figure each cost more than the training of a small member), the label
examples one per run. Two styles; one layout (ranges, pixel positions, labels) and two outputs of
it: a PNG drawn with Pillow, or an SVG document written as text (a search's per-trial plot: about
10x cheaper than the PNG, no font rasterizing and no compression)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Curves = dict[str, tuple[np.ndarray, np.ndarray]]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ChartStyle:
    size: tuple[int, int]  # width, height in pixels
    margins: tuple[int, int, int, int]  # left, right, top, bottom: the plot area's distance to the edges
    frame: RGB  # the plot area's outline colour
    colours: tuple[RGB, ...]  # one per curve, in turn
    line_width: int
    dots_up_to: int  # mark each point of a curve that has at most this many (0: never)
    # y axis from the 1st-99th percentiles with values clipped to it, so one spike (a diverging
    # loss) does not flatten the rest; otherwise the full range (or the caller's y_range)
    robust: bool
    x_ticks: str  # "ends": 'step N' at both ends; "thirds": the x value at 0, 1/2 and 1
    legend: tuple[int, int, int]  # the curve names: x offset from the plot's left, spacing, y


# A trial's losses (search artifacts): robust to a diverged spike, thin lines.
TRACE_STYLE = ChartStyle(
    size=(640, 320),
    margins=(56, 10, 24, 28),
    frame=(160, 160, 160),
    colours=((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)),
    line_width=1,
    dots_up_to=0,
    robust=True,
    x_ticks="ends",
    legend=(8, 90, 28),
)
# Evaluation metrics of the label examples (docs/labels.md): few points, marked.
LABEL_STYLE = ChartStyle(
    size=(560, 300),
    margins=(48, 10, 24, 34),
    frame=(180, 180, 180),
    colours=((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (127, 127, 127)),
    line_width=2,
    dots_up_to=40,
    robust=False,
    x_ticks="thirds",
    legend=(6, 120, 284),
)
GREY: RGB = (80, 80, 80)  # tick labels
BLACK: RGB = (0, 0, 0)  # the title


@dataclass(frozen=True)
class _Label:
    x: float  # the text's top left, as Pillow places it
    y: float
    text: str
    colour: RGB


@dataclass(frozen=True)
class _Chart:
    """What both outputs draw: pixel positions, not yet pixels."""

    style: ChartStyle
    box: tuple[int, int, int, int] | None  # the plot area (left, top, right, bottom); None: no axes
    lines: list[tuple[np.ndarray, RGB]]  # each curve's points in pixels (n x 2), its colour
    labels: list[_Label]  # tick labels, the legend, the title


def _percentiles(ys: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """np.percentile's default (linear) percentiles of a 1-d array: the same numbers, without its
    overhead (the search draws a chart per trial, of 60-odd points), by partial sorting."""
    last = len(ys) - 1
    at = [(last * q / 100, int(last * q / 100)) for q in qs]
    s = np.partition(ys, sorted({k for _, lo in at for k in (lo, min(lo + 1, last))}))
    return [float(s[lo] + (s[min(lo + 1, last)] - s[lo]) * (pos - lo)) for pos, lo in at]


def _robust_ranges(curves: Curves):
    """x over the points with a finite x and y, y over their 1st-99th percentiles; None when empty."""
    xs, ys = [], []
    for x, y in curves.values():
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        xs.append(x[ok])
        ys.append(y[ok])
    if not xs or not sum(len(x) for x in xs):
        return None
    xs_all, ys_all = np.concatenate(xs), np.concatenate(ys)
    x0 = float(xs_all.min())
    x1 = max(float(xs_all.max()), x0 + 1)
    y0, y1 = _percentiles(ys_all, (1, 99))
    return (x0, x1), ((y0 - 0.5, y1 + 0.5) if y1 - y0 < 1e-9 else (y0, y1))


def _full_ranges(curves: Curves, y_range: tuple[float, float] | None):
    """x and y over every finite value (or y over the caller's y_range); None when empty."""
    if not curves:
        return None
    xs = np.concatenate([np.asarray(x, float) for x, _ in curves.values()])
    ys = np.concatenate([np.asarray(y, float) for _, y in curves.values()])
    xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
    if not xs.size:
        return None
    x0, x1 = float(xs.min()), float(xs.max())
    if y_range is not None:
        y0, y1 = y_range
    else:
        y0, y1 = (float(ys.min()), float(ys.max())) if len(ys) else (0.0, 1.0)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return (x0, x1 if x1 > x0 else x0 + 1), (y0, y1)


def _first_where(mask: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Per run, the first index where `mask` holds (every run has one)."""
    idx = np.flatnonzero(mask)
    return idx[np.r_[True, run[idx][1:] != run[idx][:-1]]]


def _decimate(u: np.ndarray, v: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """At most four points per pixel column (M4): of each run of consecutive points in one column,
    its first, lowest, highest and last, in their order. The line drawn covers the same pixels and
    joins the columns as before, and a 10,000-row trace stays a small document."""
    if len(u) <= width:
        return u, v
    col = np.floor(u).astype(np.int64)
    change = col[1:] != col[:-1]
    firsts = np.flatnonzero(np.r_[True, change])
    lasts = np.r_[firsts[1:] - 1, len(u) - 1]
    run = np.r_[0, np.cumsum(change)]
    lowest = _first_where(v == np.minimum.reduceat(v, firsts)[run], run)
    highest = _first_where(v == np.maximum.reduceat(v, firsts)[run], run)
    keep = np.unique(np.concatenate([firsts, lowest, highest, lasts]))  # in the curve's order
    return u[keep], v[keep]


def _points(style: ChartStyle, x, y, box, ranges) -> np.ndarray:
    """A curve's points in pixels (n x 2): those with a finite x and y, robust: y clipped to the
    y range; decimated to at most four per pixel column."""
    (left, top, right, bottom), ((x0, x1), (y0, y1)) = box, ranges
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if style.robust:
        y = np.clip(y, y0, y1)
    u = left + (x - x0) * ((right - left) / (x1 - x0))
    v = bottom - (y - y0) * ((bottom - top) / (y1 - y0))
    u, v = _decimate(u, v, right - left)
    return np.stack([u, v], axis=1)


def _axis_labels(style: ChartStyle, box, ranges) -> list[_Label]:
    (left, top, right, bottom), ((x0, x1), (y0, y1)) = box, ranges
    labels = []
    for frac in (0.0, 0.5, 1.0):
        labels.append(_Label(4, bottom - frac * (bottom - top) - 6, f"{y0 + frac * (y1 - y0):.3g}", GREY))
        if style.x_ticks == "thirds":
            xv = x0 + frac * (x1 - x0)
            u = left + (xv - x0) / (x1 - x0) * (right - left)
            labels.append(_Label(u - 12, bottom + 4, f"{xv:.0f}", GREY))
    if style.x_ticks == "ends":
        labels.append(_Label(left, bottom + 6, f"step {x0:.0f}", GREY))
        labels.append(_Label(right - 70, bottom + 6, f"step {x1:.0f}", GREY))
    return labels


def _layout(curves: Curves, title: str, style: ChartStyle, y_range: tuple[float, float] | None) -> _Chart:
    (w, h), (ml, mr, mt, mb) = style.size, style.margins
    box = (ml, mt, w - mr, h - mb)
    ranges = _robust_ranges(curves) if style.robust else _full_ranges(curves, y_range)
    lines: list[tuple[np.ndarray, RGB]] = []
    labels: list[_Label] = []
    if ranges is not None:
        labels += _axis_labels(style, box, ranges)
        colours = [style.colours[i % len(style.colours)] for i in range(len(curves))]
        lines = [(_points(style, x, y, box, ranges), c) for (x, y), c in zip(curves.values(), colours)]
        lx, spacing, ly = style.legend
        labels += [
            _Label(ml + lx + spacing * i, ly, name, c) for i, (name, c) in enumerate(zip(curves, colours))
        ]
    if title:
        labels.append(_Label(ml, 6, title, BLACK))
    return _Chart(style, box if ranges is not None else None, lines, labels)


@functools.cache
def _default_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font, which each new ImageDraw would otherwise decode and load again (a
    search draws a chart per trial)."""
    return ImageFont.load_default()


def _draw_png(chart: _Chart, path: Path | BinaryIO, fast: bool) -> None:
    style = chart.style
    if fast:
        img = Image.new("P", style.size, 0)
        img.putpalette([255, 255, 255])  # index 0 white; the colours drawn are added as used
    else:
        img = Image.new("RGB", style.size, "white")
    draw = ImageDraw.Draw(img)
    draw.font = _default_font()  # what the draw would load for itself, made once per process
    if chart.box is not None:
        draw.rectangle(chart.box, outline=style.frame)
    for pts, colour in chart.lines:
        if len(pts) > 1:
            draw.line(pts.ravel().tolist(), fill=colour, width=style.line_width)
        for px, py in pts.tolist() if len(pts) <= style.dots_up_to else []:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
    for label in chart.labels:
        draw.text((label.x, label.y), label.text, fill=label.colour)
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    # fast: zlib's run-length strategy, the cheapest for a chart's runs of white (same pixels)
    img.save(path, format="PNG", **({"compress_level": 1, "compress_type": 3} if fast else {}))


# Pillow's default font (Aileron, 10 px) puts the text's top at y and its baseline about 9 px
# below; SVG places text by its baseline. Generic families only: no font is fetched.
_FONT = 'font-family="Helvetica,Arial,sans-serif" font-size="10"'
_BASELINE = 9
# characters XML 1.0 forbids (C0 controls other than tab, newline, return): dropped from text
_NOT_XML = {c: None for c in range(32) if chr(c) not in "\t\n\r"}


def _hex(rgb: RGB) -> str:
    return f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"


def _text(s: str) -> str:
    return escape(s).translate(_NOT_XML)


def _svg(chart: _Chart) -> str:
    style = chart.style
    w, h = style.size
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" {_FONT}>',
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
    ]
    if chart.box is not None:
        left, top, right, bottom = chart.box
        # half-pixel offsets: a 1-px outline on pixel centres, crisp as Pillow's
        out.append(
            f'<rect x="{left + 0.5}" y="{top + 0.5}" width="{right - left}" height="{bottom - top}" '
            f'fill="none" stroke="{_hex(style.frame)}"/>'
        )
    for pts, colour in chart.lines:
        if len(pts) > 1:
            coords = ("%.1f,%.1f " * len(pts))[:-1] % tuple(pts.ravel().tolist())  # one call: fastest
            out.append(
                f'<polyline fill="none" stroke="{_hex(colour)}" stroke-width="{style.line_width}" '
                f'stroke-linejoin="round" points="{coords}"/>'
            )
        if 0 < len(pts) <= style.dots_up_to:
            out.append(f'<g fill="{_hex(colour)}">')
            out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2"/>' for px, py in pts.tolist()]
            out.append("</g>")
    for label in chart.labels:
        at = f'x="{label.x:.1f}" y="{label.y + _BASELINE:.1f}"'
        out.append(f'<text {at} fill="{_hex(label.colour)}">{_text(label.text)}</text>')
    out.append("</svg>\n")
    return "\n".join(out)


def svg_curves(
    curves: Curves,
    title: str = "",
    *,
    style: ChartStyle = TRACE_STYLE,
    y_range: tuple[float, float] | None = None,
) -> bytes:
    """The chart `save_curves` draws, as an SVG 1.1 document (UTF-8): a polyline per curve, text
    for the labels, no external fonts or scripts. A few kB for a search's trace."""
    return _svg(_layout(curves, title, style, y_range)).encode()


def save_curves(
    path: Path | BinaryIO,
    curves: Curves,
    title: str = "",
    *,
    style: ChartStyle = TRACE_STYLE,
    y_range: tuple[float, float] | None = None,
    fast: bool = False,
) -> None:
    """One chart of named (x, y) curves sharing the axes (non-finite points are skipped), as PNG
    at `path` (or into a binary file object), or as SVG where `path` ends in .svg. `y_range` fixes
    the y axis (full-range styles). `fast` (PNG): a palette image, lightly compressed (about 2.5x
    cheaper, the same chart, its text without anti-aliasing)."""
    if isinstance(path, Path) and path.suffix.lower() == ".svg":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(svg_curves(curves, title, style=style, y_range=y_range))
        return
    _draw_png(_layout(curves, title, style, y_range), path, fast)

"""Line charts of named (x, y) curves, drawn with Pillow (no plotting library, no torch): a
search draws one per trial (a matplotlib figure each cost more than the training of a small
member), the label examples one per run. Two styles, one renderer."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Curves = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ChartStyle:
    size: tuple[int, int]  # width, height in pixels
    margins: tuple[int, int, int, int]  # left, right, top, bottom: the plot area's distance to the edges
    frame: tuple[int, int, int]  # the plot area's outline colour
    colours: tuple[tuple[int, int, int], ...]  # one per curve, in turn
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


def _robust_ranges(curves: Curves):
    """x over the points with a finite y, y over their 1st-99th percentiles; None when empty."""
    finite = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves.values()]
    xs = np.concatenate([x[np.isfinite(y)] for x, y in finite]) if finite else np.zeros(0)
    ys = np.concatenate([y[np.isfinite(y)] for _, y in finite]) if finite else np.zeros(0)
    if not (xs.size and ys.size):
        return None
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))
    y0, y1 = float(np.percentile(ys, 1)), float(np.percentile(ys, 99))
    return (x0, x1), ((y0 - 0.5, y1 + 0.5) if y1 - y0 < 1e-9 else (y0, y1))


def _full_ranges(curves: Curves, y_range: tuple[float, float] | None):
    xs = np.concatenate([np.asarray(x, float) for x, _ in curves.values()])
    ys = np.concatenate([np.asarray(y, float) for _, y in curves.values()])
    ys = ys[np.isfinite(ys)]
    x0, x1 = float(np.nanmin(xs)), float(np.nanmax(xs))
    y0, y1 = y_range if y_range is not None else ((float(ys.min()), float(ys.max())) if len(ys) else (0.0, 1.0))
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return (x0, x1 if x1 > x0 else x0 + 1), (y0, y1)


def _points(style: ChartStyle, x, y, box, ranges) -> list[tuple[float, float]]:
    """A curve's points in pixels: those with a finite y (robust: clipped to the y range), else
    those with a finite x and y."""
    (left, top, right, bottom), ((x0, x1), (y0, y1)) = box, ranges
    x, y = np.asarray(x, float), np.asarray(y, float)
    if style.robust:
        ok = np.isfinite(y)
        u = left + (x[ok] - x0) / (x1 - x0) * (right - left)
        v = bottom - (np.clip(y[ok], y0, y1) - y0) / (y1 - y0) * (bottom - top)
        return list(zip(u.tolist(), v.tolist()))
    return [
        (left + (float(a) - x0) / (x1 - x0) * (right - left), top + (1 - (float(b) - y0) / (y1 - y0)) * (bottom - top))
        for a, b in zip(x, y)
        if np.isfinite(a) and np.isfinite(b)
    ]


def _axes(draw: ImageDraw.ImageDraw, style: ChartStyle, box, ranges) -> None:
    (left, top, right, bottom), ((x0, x1), (y0, y1)) = box, ranges
    grey = (80, 80, 80)
    draw.rectangle((left, top, right, bottom), outline=style.frame)
    for frac in (0.0, 0.5, 1.0):
        draw.text((4, bottom - frac * (bottom - top) - 6), f"{y0 + frac * (y1 - y0):.3g}", fill=grey)
        if style.x_ticks == "thirds":
            xv = x0 + frac * (x1 - x0)
            draw.text((left + (xv - x0) / (x1 - x0) * (right - left) - 12, bottom + 4), f"{xv:.0f}", fill=grey)
    if style.x_ticks == "ends":
        draw.text((left, bottom + 6), f"step {x0:.0f}", fill=grey)
        draw.text((right - 70, bottom + 6), f"step {x1:.0f}", fill=grey)


@functools.cache
def _default_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font, which each new ImageDraw would otherwise decode and load again (a
    search draws a chart per trial)."""
    return ImageFont.load_default()


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
    at `path` (or into a binary file object). `y_range` fixes the y axis (full-range styles). `fast`: a palette image, lightly
    compressed (a search draws one per trial: about 2.5x cheaper, the same chart, its text
    without anti-aliasing)."""
    (w, h), (ml, mr, mt, mb) = style.size, style.margins
    box = (ml, mt, w - mr, h - mb)
    if fast:
        img = Image.new("P", style.size, 0)
        img.putpalette([255, 255, 255])  # index 0 white; the colours drawn are added as used
    else:
        img = Image.new("RGB", style.size, "white")
    draw = ImageDraw.Draw(img)
    draw.font = _default_font()  # what the draw would load for itself, made once per process
    ranges = _robust_ranges(curves) if style.robust else _full_ranges(curves, y_range)
    if ranges is not None:
        _axes(draw, style, box, ranges)
        colours = [style.colours[i % len(style.colours)] for i in range(len(curves))]
        for (x, y), colour in zip(curves.values(), colours):
            pts = _points(style, x, y, box, ranges)
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=style.line_width)
            for p in pts if len(pts) <= style.dots_up_to else []:
                draw.ellipse((p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2), fill=colour)
        lx, spacing, ly = style.legend
        for i, (name, colour) in enumerate(zip(curves, colours)):
            draw.text((ml + lx + spacing * i, ly), name, fill=colour)
    if title:
        draw.text((ml, 6), title, fill=(0, 0, 0))
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    # fast: zlib's run-length strategy, the cheapest for a chart's runs of white (same pixels)
    img.save(path, format="PNG", **({"compress_level": 1, "compress_type": 3} if fast else {}))

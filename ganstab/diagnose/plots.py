"""Small line charts drawn with Pillow (no plotting library): metric curves for docs/labels.md
and trace plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (127, 127, 127)]


def save_curves(
    path: Path,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str = "",
    size: tuple[int, int] = (560, 300),
    y_range: tuple[float, float] | None = None,
) -> None:
    """One chart, several named (x, y) curves sharing the axes; non-finite points are skipped."""
    w, h = size
    left, right, top, bottom = 48, 10, 24, 34
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()])
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()])
    ys = ys[np.isfinite(ys)]
    x0, x1 = float(np.nanmin(xs)), float(np.nanmax(xs))
    y0, y1 = (
        y_range if y_range is not None else ((float(ys.min()), float(ys.max())) if len(ys) else (0.0, 1.0))
    )
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x0) / (x1 - x0) * (w - left - right),
            top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom),
        )

    draw.rectangle((left, top, w - right, h - bottom), outline=(180, 180, 180))
    for frac in (0.0, 0.5, 1.0):
        y = y0 + frac * (y1 - y0)
        _, py = px(x0, y)
        draw.text((4, py - 6), f"{y:.3g}", fill=(80, 80, 80))
        xv = x0 + frac * (x1 - x0)
        qx, _ = px(xv, y0)
        draw.text((qx - 12, h - bottom + 4), f"{xv:.0f}", fill=(80, 80, 80))
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = [px(float(a), float(b)) for a, b in zip(x, y) if np.isfinite(a) and np.isfinite(b)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for p in pts if len(pts) <= 40 else []:
            draw.ellipse((p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2), fill=colour)
        draw.text((left + 6 + 120 * i, h - 16), name, fill=colour)
    if title:
        draw.text((left, 6), title, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)

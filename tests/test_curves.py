"""ganstab.curves: one renderer of line charts, two styles."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganstab.curves import LABEL_STYLE, TRACE_STYLE, save_curves, svg_curves


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_each_style_draws_at_its_size_and_in_its_colours(tmp_path):
    x = np.arange(50.0)
    curves = {"a": (x, np.sin(x / 5)), "b": (x, np.cos(x / 5))}
    for style in (TRACE_STYLE, LABEL_STYLE):
        save_curves(tmp_path / "c.png", curves, title="t", style=style)
        img = _pixels(tmp_path / "c.png")
        assert img.shape == (style.size[1], style.size[0], 3)
        colours = {tuple(p) for p in img.reshape(-1, 3)}
        assert set(style.colours[:2]) <= colours  # both curves are drawn


def test_nothing_finite_draws_no_axes(tmp_path):
    save_curves(tmp_path / "c.png", {"a": (np.arange(3.0), np.full(3, np.nan))})
    assert (_pixels(tmp_path / "c.png") == 255).all()  # a white picture, not a crash


def test_robust_axis_keeps_a_spike_from_flattening_the_curve(tmp_path):
    x = np.arange(200.0)
    y = np.sin(x / 10)
    spiked = y.copy()
    spiked[100] = 1e6
    save_curves(tmp_path / "a.png", {"a": (x, y)})
    save_curves(tmp_path / "b.png", {"a": (x, spiked)})
    a, b = _pixels(tmp_path / "a.png"), _pixels(tmp_path / "b.png")
    blue = np.array(TRACE_STYLE.colours[0])
    rows = lambda img: np.unique(np.nonzero((img == blue).all(axis=2))[0])  # noqa: E731
    assert len(rows(b)) > 0.8 * len(rows(a))  # the curve still spans about as many rows


def test_fixed_y_range_and_nan_points_are_skipped(tmp_path):
    x = np.arange(10.0)
    y = np.linspace(0, 1, 10)
    y[3] = np.nan
    save_curves(tmp_path / "c.png", {"a": (x, y)}, style=LABEL_STYLE, y_range=(0, 1))
    assert _pixels(tmp_path / "c.png").shape == (300, 560, 3)


def test_a_fast_chart_drawn_in_memory_is_the_one_on_disk(tmp_path):
    """A search draws each trial's chart into memory (no temporary file): the same PNG bytes as on
    disk, a palette image with the curves' colours, lighter than the full-colour one."""
    import io

    x = np.arange(60.0)
    curves = {"d_loss": (x, np.sin(x / 5)), "g_loss": (x, np.cos(x / 5))}
    memory = io.BytesIO()
    save_curves(memory, curves, title="trial 3 (finished)", fast=True)
    save_curves(tmp_path / "fast.png", curves, title="trial 3 (finished)", fast=True)
    save_curves(tmp_path / "full.png", curves, title="trial 3 (finished)")
    assert memory.getvalue() == (tmp_path / "fast.png").read_bytes()
    assert Image.open(io.BytesIO(memory.getvalue())).mode == "P"
    colours = {tuple(p) for p in _pixels(io.BytesIO(memory.getvalue())).reshape(-1, 3)}
    assert set(TRACE_STYLE.colours[:2]) <= colours
    assert len(memory.getvalue()) < (tmp_path / "full.png").stat().st_size


# --- the SVG output: the same layout, as a text document -------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _svg(curves, title="", **kwargs):
    import xml.etree.ElementTree as ET

    return ET.fromstring(svg_curves(curves, title, **kwargs))


def _polylines(root) -> list[np.ndarray]:
    return [
        np.array([[float(c) for c in p.split(",")] for p in line.get("points").split()])
        for line in root.iter(SVG + "polyline")
    ]


def _inside_plot(points: np.ndarray, style=TRACE_STYLE) -> bool:
    (w, h), (ml, mr, mt, mb) = style.size, style.margins
    u, v = points[:, 0], points[:, 1]
    return bool(((u >= ml) & (u <= w - mr) & (v >= mt) & (v <= h - mb)).all())


def test_svg_is_an_svg_document_with_a_polyline_per_curve_inside_the_plot():
    x = np.arange(10.0, 610.0, 10.0)
    curves = {"d_loss": (x, np.sin(x / 50)), "g_loss": (x, 2 + np.cos(x / 50))}
    data = svg_curves(curves, "trial 3 (finished)")
    root = _svg(curves, "trial 3 (finished)")
    assert root.tag == SVG + "svg" and root.get("version") == "1.1"
    assert (root.get("width"), root.get("height")) == tuple(map(str, TRACE_STYLE.size))
    lines = _polylines(root)
    assert [len(p) for p in lines] == [60, 60]
    assert all(_inside_plot(p) for p in lines)
    # the curves' colours, the legend, 'step N' at both ends, the title
    assert [line.get("stroke") for line in root.iter(SVG + "polyline")] == ["#1f77b4", "#ff7f0e"]
    texts = [t.text for t in root.iter(SVG + "text")]
    assert {"d_loss", "g_loss", "step 10", "step 600", "trial 3 (finished)"} <= set(texts)
    assert 1000 < len(data) < 5000  # a few kB
    assert b"<script" not in data and b"href" not in data  # nothing fetched, nothing run


def test_svg_and_png_share_one_layout():
    """The SVG's points are where the PNG draws them: its first and last points on the frame, its
    y range the robust one."""
    x = np.arange(100.0)
    y = np.linspace(0.0, 1.0, 100)
    (line,) = _polylines(_svg({"a": (x, y)}))
    (w, h), (ml, mr, mt, mb) = TRACE_STYLE.size, TRACE_STYLE.margins
    # the 1st-99th percentiles of 0..1 are 0.01 and 0.99: the ends are clipped onto the frame
    assert line[0].tolist() == [ml, h - mb] and line[-1].tolist() == [w - mr, mt]


def test_svg_clips_a_spike_to_the_robust_range():
    x = np.arange(200.0)
    y = np.sin(x / 10)
    spiked = y.copy()
    spiked[100] = 1e6
    (plain,) = _polylines(_svg({"a": (x, y)}))
    (line,) = _polylines(_svg({"a": (x, spiked)}))
    assert _inside_plot(line)
    assert line[100, 1] == TRACE_STYLE.margins[2]  # the spike sits on the top edge
    # the rest keeps its spread: the spike did not flatten the curve
    assert np.ptp(np.delete(line[:, 1], 100)) > 0.9 * np.ptp(plain[:, 1])


def test_svg_skips_nan_and_inf_points():
    x = np.arange(60.0)
    y = np.cos(x / 7)
    y[[5, 20]] = np.nan
    y[30] = np.inf
    y[40] = -np.inf
    xx = x.copy()
    xx[50] = np.nan
    (line, other) = _polylines(_svg({"a": (x, y), "b": (xx, np.sin(x))}))
    assert len(line) == 56 and len(other) == 59
    assert np.isfinite(line).all() and _inside_plot(line) and _inside_plot(other)


def test_svg_escapes_titles_and_names():
    data = svg_curves({"a<b>&c": (np.arange(5.0), np.arange(5.0))}, 'trial <1> & "x"\x00')
    assert b"a&lt;b&gt;&amp;c" in data and b"trial &lt;1&gt; &amp;" in data
    texts = [t.text for t in _svg({"a<b>&c": (np.arange(5.0), np.arange(5.0))}, "<&>").iter(SVG + "text")]
    assert "a<b>&c" in texts and "<&>" in texts


def test_svg_without_finite_points_draws_no_axes():
    """As the PNG: nothing finite (or no curve at all) draws neither frame nor lines, only the title."""
    for curves in ({}, {"a": (np.arange(3.0), np.full(3, np.nan))}):
        root = _svg(curves, "empty")
        assert _polylines(root) == []
        assert [t.text for t in root.iter(SVG + "text")] == ["empty"]
        assert len(list(root.iter(SVG + "rect"))) == 1  # the white background only


def test_svg_of_a_long_trace_stays_small():
    rng = np.random.default_rng(0)
    x = np.arange(10_000.0)
    curves = {"d_loss": (x, rng.normal(size=10_000)), "g_loss": (x, np.cumsum(rng.normal(size=10_000)))}
    data = svg_curves(curves)
    lines = _polylines(_svg(curves))
    plot_width = TRACE_STYLE.size[0] - sum(TRACE_STYLE.margins[:2])
    assert all(len(p) <= 4 * plot_width and _inside_plot(p) for p in lines)
    assert all((np.diff(p[:, 0]) >= 0).all() for p in lines)  # still in the curve's order
    assert len(data) < 60_000  # of 10,000 rows of noise: 440 kB without downsampling


def test_downsampling_keeps_each_pixel_columns_first_lowest_highest_and_last_point():
    from ganstab.curves import _decimate

    rng = np.random.default_rng(1)
    u = np.sort(rng.uniform(0, 50, size=2000))
    v = rng.normal(size=2000)
    du, dv = _decimate(u, v, width=50)
    assert len(du) <= 4 * 50
    assert (np.diff(du) >= 0).all()  # a subsequence, in order
    for col in range(50):
        full, kept = v[np.floor(u) == col], dv[np.floor(du) == col]
        assert {full[0], full.min(), full.max(), full[-1]} == set(kept)
    few = v[:50]
    assert _decimate(u[:50], few, width=50)[1] is few  # no more points than columns: as is


def test_save_curves_writes_svg_for_a_svg_path(tmp_path):
    x = np.arange(10.0)
    save_curves(tmp_path / "c.svg", {"a": (x, x)}, title="t", style=LABEL_STYLE)
    root = _svg({"a": (x, x)}, "t", style=LABEL_STYLE)
    assert (tmp_path / "c.svg").read_bytes() == svg_curves({"a": (x, x)}, "t", style=LABEL_STYLE)
    assert len(list(root.iter(SVG + "circle"))) == 10  # LABEL_STYLE marks each of its few points


def test_robust_range_is_numpys_1st_and_99th_percentile():
    from ganstab.curves import _percentiles

    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 60, 101, 5000):
        y = rng.normal(size=n)
        assert np.allclose(_percentiles(y, (1, 99)), np.percentile(y, [1, 99]), rtol=0, atol=1e-12)

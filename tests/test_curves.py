"""ganstab.curves: one renderer of line charts, two styles."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganstab.curves import LABEL_STYLE, TRACE_STYLE, save_curves


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

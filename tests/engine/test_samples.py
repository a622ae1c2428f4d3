"""Sample pictures: a scatter of points over the centres, a grid of images."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganstab.engine.samples import save_grid, save_scatter

BLUE, RED = (31, 119, 180), (214, 39, 40)


def _colours(path) -> set[tuple[int, int, int]]:
    return {tuple(p) for p in np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)}


def test_scatter_draws_samples_in_blue_and_centres_in_red(tmp_path):
    samples = torch.randn(200, 2)
    samples[0] = float("nan")  # skipped, not drawn at a corner
    save_scatter(samples, tmp_path / "s.png", centres=torch.tensor([[0.0, 0.0], [1.0, 1.0]]), size=120)
    img = Image.open(tmp_path / "s.png")
    assert img.size == (120, 120) and {BLUE, RED} <= _colours(tmp_path / "s.png")


def test_scatter_of_nothing_finite_is_a_white_picture(tmp_path):
    save_scatter(torch.full((5, 2), float("nan")), tmp_path / "s.png", size=64)
    assert _colours(tmp_path / "s.png") == {(255, 255, 255)}


def test_grid_upscales_small_images_and_maps_minus_one_to_black(tmp_path):
    images = -torch.ones(4, 1, 8, 8)
    save_grid(images, tmp_path / "g.png", nrow=2)
    arr = np.asarray(Image.open(tmp_path / "g.png"))
    assert arr.shape[:2] == (2 * 64 + 3 * 2, 2 * 64 + 3 * 2)  # 8x8 scaled 8 times, 2-pixel padding
    assert arr[2:66, 2:66].max() == 0 and (arr[0, 0] == 255).all()

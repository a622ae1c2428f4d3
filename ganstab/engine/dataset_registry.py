"""The data sets by name: their kind, one line of help, which `data.*` fields they need, and the
values their "auto" (0) fields take. Read by the configuration checks (engine/config.py) and by
the builders (engine/data.py) alike; it imports neither, so that the two do not import each other.

A new data set: register it here, and add its builder to `data.BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganstab.engine.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    kind: str  # "points", "images", or "user" (data.factory's: points or images, known once built)
    fill_defaults: Callable[[Any], None]  # resolve a DataConfig's 0 = "auto" fields in place
    requires: tuple[str, ...] = ()  # DataConfig fields that must be set (not None) for it


DATASETS: Registry[DatasetSpec] = Registry("data set")
IMAGE_DATASETS: list[str] = []


def register(name: str, kind: str, help: str, fill: Callable[[Any], None], requires: tuple[str, ...] = ()) -> None:
    DATASETS.register(name, help)(DatasetSpec(kind, fill, requires))
    if kind == "images":
        IMAGE_DATASETS.append(name)


def _fill_ring(d: Any) -> None:
    d.n_modes = d.n_modes or 8
    d.radius = d.radius or 2.0
    d.std = d.std or 0.02


def _fill_grid(d: Any) -> None:
    d.grid_size = d.grid_size or 5
    d.grid_spacing = d.grid_spacing or 2.0
    d.std = d.std or 0.05


def _fill_mixture(d: Any) -> None:
    d.std = d.std or 0.05


def _fill_nothing(d: Any) -> None:
    pass


def _fill_image(default_res: int) -> Callable[[Any], None]:
    def fill(d: Any) -> None:
        d.resolution = d.resolution or default_res

    return fill


register("ring8", "points", "8 Gaussians on a circle (radius 2, std 0.02 by default)", _fill_ring)
register("grid25", "points", "5x5 grid of Gaussians at {-4,-2,0,2,4}^2, std 0.05 by default", _fill_grid)
register("mixture", "points", "Gaussians at data.centres with data.std", _fill_mixture, requires=("centres",))
register("points", "points", "points from a local .npy or .csv file (data.path), one per row", _fill_nothing)
register("digits", "images", "scikit-learn's 8x8 digits (1,797 images, shipped offline)", _fill_image(8))
register(
    "stacked_digits",
    "images",
    "three of scikit-learn's digits in three channels: 1,000 modes (offline Stacked MNIST)",
    _fill_image(8),
)
register("mnist", "images", "MNIST from a local torchvision folder (data.path)", _fill_image(32))
register("cifar10", "images", "CIFAR-10 from a local torchvision folder (data.path)", _fill_image(32))
register(
    "folder",
    "images",
    "image files under a local folder (data.path), resized and centre-cropped",
    _fill_image(32),
)
register(
    "factory",
    "user",
    'your own data: data.factory "pkg.mod:func" returns a torch Dataset, tensor or array (engine/user_code.py)',
    _fill_nothing,
    requires=("factory",),
)

"""Offline data sets: 2-D Gaussian mixtures, point files, scikit-learn's digits and stacked digits,
MNIST, CIFAR-10 and image folders read from a local path. Nothing is downloaded.

A data set hands out *draws* (points, or indices into a stored tensor) from a caller's
`torch.Generator`, so each cohort member owns its data stream; `take` turns draws into a batch.
Images are float tensors in [-1, 1], `[..., C, H, W]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganstab.engine.config import ConfigError, DataConfig
from ganstab.engine.dataset_registry import DATASETS


class Dataset:
    """Common interface: `shape` of one sample, `draw` and `take`, and the metric family."""

    kind: str  # "points" or "images"
    shape: tuple[int, ...]
    metric: str  # "mixture", "points", "digits" or "images"

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def take(self, draws: torch.Tensor) -> torch.Tensor:
        return draws

    def reference(self, n: int) -> torch.Tensor:
        """Real samples for metrics that compare against the data (first n, or all)."""
        raise NotImplementedError

    def to(self, device: torch.device) -> Dataset:
        raise NotImplementedError


class Mixture(Dataset):
    """Equal-weight isotropic Gaussians at `centres` with standard deviation `std`."""

    kind = "points"
    metric = "mixture"

    def __init__(self, centres: torch.Tensor, std: float) -> None:
        self.centres = centres.float()
        self.std = float(std)
        self.shape = (int(centres.shape[1]),)

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        dev = self.centres.device
        idx = torch.randint(len(self.centres), (n,), generator=generator, device=dev)
        noise = torch.randn(n, *self.shape, generator=generator, device=dev)
        return self.centres[idx] + self.std * noise

    def reference(self, n: int) -> torch.Tensor:
        return self.draw(n, torch.Generator(self.centres.device).manual_seed(12345))

    def to(self, device: torch.device) -> Mixture:
        return Mixture(self.centres.to(device), self.std)


class Stored(Dataset):
    """A stored tensor of samples (points from a file, or images); draws are indices."""

    def __init__(self, data: torch.Tensor, kind: str, metric: str, scale: Callable | None = None):
        self.data = data
        self.kind = kind
        self.metric = metric
        self.shape = tuple(data.shape[1:])
        self._scale = scale  # uint8 images are kept as bytes and scaled to [-1, 1] per batch

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(len(self.data), (n,), generator=generator, device=self.data.device)

    def take(self, draws: torch.Tensor) -> torch.Tensor:
        x = self.data[draws]
        return self._scale(x) if self._scale is not None else x

    def reference(self, n: int) -> torch.Tensor:
        return self.take(torch.arange(min(n, len(self.data)), device=self.data.device))

    def to(self, device: torch.device) -> Stored:
        return Stored(self.data.to(device), self.kind, self.metric, self._scale)


class StackedDigits(Dataset):
    """Three digits in three channels, drawn independently: 1,000 modes with known labels, the
    offline analogue of Stacked MNIST (VEEGAN, PacGAN). A draw is three indices into the 1,797
    digits, so the set is every one of the 1,797^3 stacks, not a fixed sample of them."""

    kind = "images"
    metric = "stacked_digits"

    def __init__(self, digits: torch.Tensor) -> None:
        self.digits = digits  # [1797, 1, R, R] in [-1, 1]
        self.shape = (3, *digits.shape[2:])

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        dev = self.digits.device
        return torch.randint(len(self.digits), (n, 3), generator=generator, device=dev)

    def take(self, draws: torch.Tensor) -> torch.Tensor:
        return self.digits[draws].flatten(-4, -3)  # [..., 3, 1, R, R] -> [..., 3, R, R]

    def reference(self, n: int) -> torch.Tensor:
        return self.take(self.draw(n, torch.Generator(self.digits.device).manual_seed(12345)))

    def to(self, device: torch.device) -> StackedDigits:
        return StackedDigits(self.digits.to(device))


_SPREAD_SEED = 12345


def data_spread(dataset: Dataset) -> float:
    """The data's mean per-coordinate std (what `g_spread` is for a generator that spreads like the
    data), from 512 samples drawn with a fixed CPU generator: the same on every device, and no
    training randomness is drawn. NaN when it is not positive (a data set of one point)."""
    draws = dataset.take(dataset.draw(512, torch.Generator().manual_seed(_SPREAD_SEED)))
    spread = float(draws.flatten(1).float().std(dim=0).mean())
    return spread if spread > 0 else float("nan")


def _bytes_to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


# --------------------------------------------------------------------------- builders

# name -> how to build the data set of a resolved DataConfig. Names, kinds, help and defaults are
# engine/dataset_registry.py's (what the configuration checks read without this module).
BUILDERS: dict[str, Callable[[DataConfig], Dataset]] = {}


def build_dataset(cfg: DataConfig) -> Dataset:
    """Build the data set of a *resolved* DataConfig (see config.resolve)."""
    DATASETS.get(cfg.name)  # an unknown name: the registry's error, with its choices
    return BUILDERS[cfg.name](cfg)


def ring_centres(n_modes: int, radius: float) -> torch.Tensor:
    # Angles 2*pi*k/n for k = 0..n-1: linspace with the endpoint would repeat the first centre.
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centres(size: int, spacing: float) -> torch.Tensor:
    ticks = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) * spacing
    xx, yy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1).float()


BUILDERS["ring8"] = lambda d: Mixture(ring_centres(d.n_modes, d.radius), d.std)
BUILDERS["grid25"] = lambda d: Mixture(grid_centres(d.grid_size, d.grid_spacing), d.std)
BUILDERS["mixture"] = lambda d: Mixture(torch.tensor(d.centres, dtype=torch.float32), d.std)


def _require_path(d: DataConfig, what: str) -> Path:
    if not d.path:
        raise ConfigError(f"`data.path` is required for data set {d.name!r} ({what}), but got None.")
    p = Path(d.path).expanduser()
    if not p.exists():
        raise ConfigError(f"`data.path` for data set {d.name!r} does not exist: {str(p)!r}.")
    return p


def _header_rows(path: Path) -> int:
    """1 when the CSV's first line is a header (`x,y`: a field that is not a number), else 0."""
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    for field in first.strip().split(","):
        try:
            float(field)
        except ValueError:
            return 1
    return 0


def _load_points(d: DataConfig) -> Dataset:
    p = _require_path(d, "a .npy or .csv file of points, one per row")
    try:
        if p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif p.suffix == ".csv":
            arr = np.loadtxt(p, delimiter=",", ndmin=2, skiprows=_header_rows(p))
        else:
            raise ConfigError(f"`data.path` must end in .npy or .csv, but got {str(p)!r}.")
    except ValueError as e:
        raise ConfigError(f"Cannot read points from {str(p)!r}: {e}") from e
    if arr.ndim != 2 or arr.shape[0] < 2 or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(f"Points in {str(p)!r} must be a numeric [N, D] array, but got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ConfigError(f"Points in {str(p)!r} contain NaN or Inf.")
    return Stored(torch.tensor(arr, dtype=torch.float32), "points", "points")


BUILDERS["points"] = _load_points


def _resize_bytes(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, R, R] (area/bilinear resize, in chunks to bound memory)."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x.contiguous()
    out = []
    for chunk in x.split(4096):
        y = F.interpolate(chunk.float(), size=(resolution, resolution), mode="bilinear", antialias=True)
        out.append(y.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def digits_real_images(resolution: int = 8) -> torch.Tensor:
    """All 1,797 digits as ``[1797, 1, R, R]`` float32 in ``[-1, 1]``.

    ``R > 8`` is reached by bilinear upsampling (``align_corners=False``), matching
    what a generator at that resolution is compared against. No caching, no side effects.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise ValueError(f"resolution must be an int >= 8 (digits are 8x8); got {resolution!r}")
    from sklearn.datasets import load_digits

    images = torch.as_tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    if resolution > 8:
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return images


def _load_digits(d: DataConfig) -> Dataset:
    return Stored(digits_real_images(d.resolution), "images", "digits")


def _torchvision_dataset(d: DataConfig, cls_name: str, layout: str):
    import torchvision

    root = _require_path(d, f"a folder holding {layout}")
    cls = getattr(torchvision.datasets, cls_name)
    try:
        return cls(str(root), train=True, download=False)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted. ..."
        raise ConfigError(
            f"No {cls_name} data under `data.path` {str(root)!r} (expected {layout}; nothing is "
            f"downloaded): {e}"
        ) from e


def _load_mnist(d: DataConfig) -> Dataset:
    ds = _torchvision_dataset(d, "MNIST", "MNIST/raw/train-images-idx3-ubyte and its labels")
    x = ds.data.unsqueeze(1)  # [N, 1, 28, 28] uint8
    return Stored(_resize_bytes(x, d.resolution), "images", "images", _bytes_to_unit)


def _load_cifar10(d: DataConfig) -> Dataset:
    ds = _torchvision_dataset(d, "CIFAR10", "cifar-10-batches-py/")
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # [N, 3, 32, 32] uint8
    return Stored(_resize_bytes(x, d.resolution), "images", "images", _bytes_to_unit)


def _load_folder(d: DataConfig) -> Dataset:
    from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader
    from torchvision.transforms import functional as TF

    root = _require_path(d, "image files, directly or in sub-folders")
    if not root.is_dir():
        raise ConfigError(f"`data.path` for data set 'folder' must be a folder, but got {str(root)!r}.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
    if not files:
        raise ConfigError(
            f"No images under `data.path` {str(root)!r} (looked for {', '.join(IMG_EXTENSIONS)})."
        )
    images = []
    for f in files:
        try:
            img = default_loader(str(f))  # PIL, RGB
        except OSError as e:
            raise ConfigError(f"Cannot read image {str(f)!r}: {e}") from e
        img = TF.center_crop(TF.resize(img, d.resolution), [d.resolution, d.resolution])
        images.append(TF.pil_to_tensor(img))
    return Stored(torch.stack(images), "images", "images", _bytes_to_unit)


BUILDERS["digits"] = _load_digits
BUILDERS["stacked_digits"] = lambda d: StackedDigits(_load_digits(d).data)
BUILDERS["mnist"] = _load_mnist
BUILDERS["cifar10"] = _load_cifar10
BUILDERS["folder"] = _load_folder


def _load_factory(d: DataConfig) -> Dataset:
    from ganstab.engine.user_code import factory_tensor

    x = factory_tensor(d)  # [N, D] points or [N, C, H, W] images, float32, as the factory gave them
    kind = "points" if x.dim() == 2 else "images"
    if d.factory_metric == "digits":  # scored like ganstab's digits: its classifier's modes and HQ
        low, high = float(x.min()), float(x.max())
        if x.dim() != 4 or x.shape[1] != 1 or min(x.shape[2:]) < 8 or low < -1.001 or high > 1.001:
            raise ConfigError(
                f"`data.factory_metric` 'digits' needs greyscale images [N, 1, H, W] (H, W >= 8) in [-1, 1] "
                f"(digits as pixel / 8 - 1), but `data.factory` {d.factory!r} gave shape {list(x.shape)} "
                f"in [{low:.3g}, {high:.3g}]."
            )
        return Stored(x, kind, "digits")
    return Stored(x, kind, kind)


BUILDERS["factory"] = _load_factory

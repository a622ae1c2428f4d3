"""Offline data sets: mixtures as docs/benchmarks.md defines them, point files, digits, torchvision sets."""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ganstab.engine import apply_overrides, preset
from ganstab.engine import config as C
from ganstab.engine.config import ConfigError
from ganstab.engine.data import build_dataset, grid_centres, ring_centres
from ganstab.engine.dataset_registry import DATASETS
from ganstab.engine.metrics import mixture_metrics


def _build(*overrides: str):
    return build_dataset(C.resolve(C.apply_overrides(C.Config(), list(overrides))).data)


def test_ring_has_n_distinct_centres_at_2pi_k_over_n():
    c = ring_centres(8, 2.0)
    assert len(torch.unique(c.round(decimals=5), dim=0)) == 8  # linspace with the endpoint gives 7
    angles = torch.atan2(c[:, 1], c[:, 0]) % (2 * math.pi)
    expected = torch.arange(8) * (2 * math.pi / 8)
    torch.testing.assert_close(angles, expected.float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(c.norm(dim=1), torch.full((8,), 2.0))


def test_grid25_centres():
    c = grid_centres(5, 2.0)
    assert sorted(set(c[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len(c) == 25


def test_perfect_sampler_reaches_the_anchor_floors():
    """A sampler that draws from the data itself: all modes, HQ ~98.9 %, KL ~(M-1)/(2N)."""
    for name, modes, kl_floor in (("ring8", 8, 0.0015), ("grid25", 25, 0.0048)):
        ds = _build(f"data.name={name}")
        x = torch.stack([ds.draw(2500, torch.Generator().manual_seed(s)) for s in range(8)])
        m = mixture_metrics(x, ds.centres, ds.std)
        assert (m["modes"] == modes).all()
        assert abs(m["hq"].mean().item() - 98.9) < 0.5
        assert m["kl"].mean().item() < 4 * kl_floor


def test_collapsed_and_dead_samplers_score_badly():
    ds = _build("data.name=ring8")
    one_mode = ds.centres[3] + ds.std * torch.randn(1, 2500, 2, generator=torch.Generator().manual_seed(0))
    m = mixture_metrics(one_mode, ds.centres, ds.std)
    assert m["modes"].item() == 1 and m["kl"].item() == pytest.approx(math.log(8), abs=1e-5)
    far = torch.full((1, 2500, 2), 100.0)
    m = mixture_metrics(far, ds.centres, ds.std)
    assert m["modes"].item() == 0 and m["hq"].item() == 0 and m["kl"].item() == pytest.approx(math.log(8))


def test_mixture_from_yaml_centres(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("data:\n  name: mixture\n  centres: [[0, 0], [3, 3], [-3, 3]]\n  std: 0.1\n")
    ds = build_dataset(C.resolve(C.load_yaml(path)).data)
    assert ds.centres.shape == (3, 2) and ds.std == 0.1
    with pytest.raises(ConfigError, match="`data.centres` is required"):
        _build("data.name=mixture")


def test_points_from_npy_and_csv(tmp_path):
    pts = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    np.save(tmp_path / "p.npy", pts)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",")
    for f in ("p.npy", "p.csv"):
        ds = _build("data.name=points", f"data.path={tmp_path / f}")
        assert ds.shape == (3,)
        batch = ds.take(ds.draw(16, torch.Generator().manual_seed(0)))
        assert batch.shape == (16, 3)
        assert torch.isin(batch[:, 0], torch.tensor(pts[:, 0]), assume_unique=False).all()


def test_point_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: '.*missing.npy'"):
        _build("data.name=points", f"data.path={tmp_path / 'missing.npy'}")
    (tmp_path / "bad.csv").write_text("1,2\nx,y\n")
    with pytest.raises(ConfigError, match="bad.csv"):
        _build("data.name=points", f"data.path={tmp_path / 'bad.csv'}")
    (tmp_path / "p.txt").write_text("1,2\n")
    with pytest.raises(ConfigError, match=r"must end in .npy or .csv"):
        _build("data.name=points", f"data.path={tmp_path / 'p.txt'}")
    with pytest.raises(ConfigError, match="`data.path` is required"):
        _build("data.name=points")


def test_digits_native_and_upsampled():
    ds = _build("data.name=digits")
    assert ds.shape == (1, 8, 8)
    x = ds.take(ds.draw(32, torch.Generator().manual_seed(0)))
    assert x.min() >= -1 and x.max() <= 1 and x.shape == (32, 1, 8, 8)
    up = _build("data.name=digits", "data.resolution=32")
    assert up.shape == (1, 32, 32)


def _write_idx(path, array: np.ndarray, magic: int) -> None:
    with gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_mnist_from_a_local_folder(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, size=(20, 28, 28))
    labels = np.arange(20) % 10
    _write_idx(raw / "train-images-idx3-ubyte", images, 2051)
    _write_idx(raw / "train-labels-idx1-ubyte", labels, 2049)
    _write_idx(raw / "t10k-images-idx3-ubyte", images, 2051)
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels, 2049)
    ds = _build("data.name=mnist", f"data.path={tmp_path}")
    assert ds.shape == (1, 32, 32) and len(ds.data) == 20
    x = ds.take(torch.arange(4))
    assert x.min() >= -1 and x.max() <= 1


def test_torchvision_sets_give_a_clear_error_without_data(tmp_path):
    for name in ("mnist", "cifar10"):
        with pytest.raises(ConfigError, match=f"No .* data under `data.path` '{tmp_path}'"):
            _build(f"data.name={name}", f"data.path={tmp_path}")
        with pytest.raises(ConfigError, match="does not exist"):
            _build(f"data.name={name}", f"data.path={tmp_path / 'nowhere'}")


def test_image_folder(tmp_path):
    (tmp_path / "cats").mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(
            tmp_path / "cats" / f"{i}.png"
        )
    ds = _build("data.name=folder", f"data.path={tmp_path}", "data.resolution=16")
    assert ds.shape == (3, 16, 16) and len(ds.data) == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="No images under `data.path`"):
        _build("data.name=folder", f"data.path={empty}")


def test_registry_lists_every_documented_data_set():
    assert set(DATASETS.names()) >= {
        "ring8",
        "grid25",
        "mixture",
        "points",
        "digits",
        "stacked_digits",
        "mnist",
        "cifar10",
        "folder",
    }


def test_data_spread_samples_the_whole_data_set_not_its_first_rows(tmp_path):
    from ganstab.engine.data import build_dataset, data_spread

    # a point file written cluster after cluster: its first 512 rows are all one cluster
    rng = np.random.default_rng(0)
    centres = np.array([[x, y] for x in (-2, 0, 2) for y in (-2, 0, 2)], dtype=float)
    points = np.concatenate([c + 0.05 * rng.normal(size=(300, 2)) for c in centres])
    path = tmp_path / "points.csv"
    np.savetxt(path, points, delimiter=",")
    cfg = apply_overrides(preset("vanilla"), ["data.name=points", f"data.path={path}"])
    from ganstab.engine import config as C

    spread = data_spread(build_dataset(C.resolve(cfg).data))
    assert abs(spread - points.std(axis=0).mean()) < 0.1 * points.std(axis=0).mean()
    same = tmp_path / "same.csv"
    np.savetxt(same, np.ones((10, 2)), delimiter=",")
    one_point = apply_overrides(preset("vanilla"), ["data.name=points", f"data.path={same}"])
    assert np.isnan(data_spread(build_dataset(C.resolve(one_point).data)))  # no spread to compare with

"""Tests for the shared Frechet distance and the image metrics (FID via torch-fidelity, offline proxy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from ganstab.engine.data import digits_real_images
from ganstab.engine.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
)
from ganstab.engine.metrics.images import image_metrics, randconv_features


def _gauss(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * scale + shift


# ----------------------------------------------------------------------------- Frechet distance


def test_fd_of_set_with_itself_is_zero() -> None:
    x = _gauss(500, 16, 0)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    t = torch.as_tensor(x, dtype=torch.float32)
    assert frechet_distance(t, t) == pytest.approx(0.0, abs=1e-6)


def test_fd_symmetric_and_grows_with_shift() -> None:
    a = _gauss(2000, 8, 0)
    b = _gauss(2000, 8, 1, shift=0.5)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    fds = [frechet_distance(a, _gauss(2000, 8, 1, shift=s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert fds == sorted(fds) and fds[0] < 0.1
    # Mean term dominates: |shift|^2 * d = 4 * 8 = 32 for shift 2.
    assert fds[-1] == pytest.approx(32.0, rel=0.05)


def test_fd_matches_scipy_sqrtm_formula() -> None:
    a = _gauss(300, 6, 2, scale=1.5)
    b = _gauss(300, 6, 3, shift=0.3)
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    # Scale-only difference: FD = d * (1.5 - 1)^2 for large samples.
    big_a, big_b = _gauss(20000, 4, 4, scale=1.5), _gauss(20000, 4, 5)
    assert frechet_distance(big_a, big_b) == pytest.approx(4 * 0.25, rel=0.1)


def test_fd_robust_to_singular_covariances() -> None:
    # Fewer samples than dimensions and a dead (constant) feature: covariances are singular.
    a = _gauss(10, 50, 0)
    b = _gauss(12, 50, 1)
    a[:, 0] = 0.0
    b[:, 0] = 0.0
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0.0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((1, 3)), np.zeros((5, 3)), "at least 2 samples"),
        (np.zeros((5, 3)), np.zeros((5, 4)), "same dimension; got 3 and 4"),
        (np.zeros(5), np.zeros((5, 1)), r"2-D \[N, D\]"),
        (np.full((5, 2), np.nan), np.zeros((5, 2)), "finite"),
    ],
)
def test_fd_rejects_bad_features(a: np.ndarray, b: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


# ----------------------------------------------------------------------------- offline proxy


@pytest.fixture(scope="module")
def digits16() -> torch.Tensor:
    return digits_real_images(16)


def test_proxy_when_not_configured(digits16: torch.Tensor) -> None:
    m = image_metrics(digits16[:400], digits16[400:800])
    assert m["metric_kind"] == "proxy_fd_randconv"
    assert set(m) == {"metric_kind", "fd_proxy", "note"}
    assert isinstance(m["fd_proxy"], float) and m["fd_proxy"] >= 0.0
    assert "FID unavailable" in m["note"] and "not configured" in m["note"]
    # it says which key to set, which file it needs, and that the score meanwhile is a proxy
    assert "`inception_weights`" in m["note"] and "weights-inception-2015-12-05-6726825d.pth" in m["note"]
    assert "offline proxy" in m["note"] and "not FID" in m["note"] and " at not configured" not in m["note"]


def test_proxy_when_weights_file_missing(digits16: torch.Tensor, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "pt_inception.pth"
    m = image_metrics(digits16[:200], digits16[200:400], inception_weights=str(missing))
    assert m["metric_kind"] == "proxy_fd_randconv"
    assert f"the file {str(missing)!r} set in `inception_weights` does not exist" in m["note"]
    # Path objects are accepted too.
    assert image_metrics(digits16[:200], digits16[200:400], inception_weights=missing)["note"] == m["note"]


def test_proxy_discriminates_and_is_deterministic(digits16: torch.Tensor) -> None:
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(digits16), generator=gen)
    a, b = digits16[perm[:400]], digits16[perm[400:800]]
    noise = torch.rand(400, 1, 16, 16, generator=gen) * 2 - 1

    rng_before = torch.get_rng_state()
    same = image_metrics(a, a)["fd_proxy"]
    halves = image_metrics(a, b)["fd_proxy"]
    vs_noise = image_metrics(noise, b)["fd_proxy"]
    assert torch.equal(torch.get_rng_state(), rng_before)  # proxy does not consume the global RNG

    assert same == pytest.approx(0.0, abs=1e-6)
    assert vs_noise > 10 * halves
    assert image_metrics(a, b)["fd_proxy"] == halves


def test_proxy_rgb_and_mixed_sizes() -> None:
    gen = torch.Generator().manual_seed(3)
    real = torch.rand(64, 3, 32, 32, generator=gen) * 2 - 1
    fake = torch.rand(64, 3, 64, 64, generator=gen) * 2 - 1
    m = image_metrics(fake, real)
    assert m["metric_kind"] == "proxy_fd_randconv" and m["fd_proxy"] >= 0.0
    assert randconv_features(fake).shape == (64, 128)


@pytest.mark.parametrize(
    ("fake", "real", "message"),
    [
        (torch.zeros(4, 2, 8, 8), torch.zeros(4, 2, 8, 8), r"C in \(1, 3\); got \(4, 2, 8, 8\)"),
        (torch.zeros(4, 1, 8, 8), torch.zeros(4, 3, 8, 8), "same channel count; got 1 and 3"),
        (torch.zeros(1, 1, 8, 8), torch.zeros(4, 1, 8, 8), "at least 2 images"),
        (torch.zeros(4, 8, 8), torch.zeros(4, 1, 8, 8), r"\[N, C, H, W\]"),
    ],
)
def test_bad_image_inputs(fake: torch.Tensor, real: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        image_metrics(fake, real)


# ----------------------------------------------------------------------------- FID via torch-fidelity


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip archive" * 5])
def test_corrupt_weights_file_raises_naming_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "inception.pth"
    path.write_bytes(content)
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="could not be loaded") as err:
        image_metrics(x, x, inception_weights=str(path))
    assert str(path) in str(err.value)


def test_non_inception_weights_file_raises_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.ones(2, 2)}, path)
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="missing keys") as err:
        image_metrics(x, x, inception_weights=str(path))
    assert str(path) in str(err.value)


def test_wrong_shapes_in_inception_file_raise_naming_path(tmp_path: Path) -> None:
    from ganstab.engine.metrics.images import _INCEPTION_KEYS

    path = tmp_path / "partial.pth"
    torch.save({k: torch.zeros(1) for k in _INCEPTION_KEYS}, path)
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="does not match InceptionV3") as err:
        image_metrics(x, x, inception_weights=str(path))
    assert str(path) in str(err.value)


def test_weights_path_is_directory_raises(tmp_path: Path) -> None:
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="not a regular file"):
        image_metrics(x, x, inception_weights=str(tmp_path))


def _random_inception_state_dict() -> dict[str, torch.Tensor]:
    """A randomly initialised state dict with torch-fidelity's InceptionV3 layout (no download)."""
    import torch_fidelity.feature_extractor_inceptionv3 as inc

    class _Arch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.Conv2d_1a_3x3 = inc.BasicConv2d(3, 32, kernel_size=3, stride=2)
            self.Conv2d_2a_3x3 = inc.BasicConv2d(32, 32, kernel_size=3)
            self.Conv2d_2b_3x3 = inc.BasicConv2d(32, 64, kernel_size=3, padding=1)
            self.Conv2d_3b_1x1 = inc.BasicConv2d(64, 80, kernel_size=1)
            self.Conv2d_4a_3x3 = inc.BasicConv2d(80, 192, kernel_size=3)
            self.Mixed_5b = inc.InceptionA(192, pool_features=32)
            self.Mixed_5c = inc.InceptionA(256, pool_features=64)
            self.Mixed_5d = inc.InceptionA(288, pool_features=64)
            self.Mixed_6a = inc.InceptionB(288)
            self.Mixed_6b = inc.InceptionC(768, channels_7x7=128)
            self.Mixed_6c = inc.InceptionC(768, channels_7x7=160)
            self.Mixed_6d = inc.InceptionC(768, channels_7x7=160)
            self.Mixed_6e = inc.InceptionC(768, channels_7x7=192)
            self.Mixed_7a = inc.InceptionD(768)
            self.Mixed_7b = inc.InceptionE_1(1280)
            self.Mixed_7c = inc.InceptionE_2(2048)
            self.fc = nn.Linear(2048, 1008)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        arch = _Arch()
        for mod in arch.modules():
            if isinstance(mod, nn.Conv2d):  # variance-preserving, so deep features are not ~0
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
    return arch.state_dict()


@pytest.mark.slow
def test_fid_and_kid_through_torch_fidelity(tmp_path: Path) -> None:
    """Real torch-fidelity run with a local (random-weight) Inception file: the API wiring works offline."""
    path = tmp_path / "inception_random.pth"
    torch.save(_random_inception_state_dict(), path)
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(8, 1, 8, 8, generator=gen) * 2 - 1
    dark = -1.0 + 0.01 * torch.rand(8, 1, 8, 8, generator=gen)
    # torch-fidelity's FID runs numpy eigvals on a 2048x2048 matrix; multi-threaded OpenBLAS (and
    # torch) get ~10x slower when another process holds a core, so keep to one thread here.
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            m = image_metrics(noise, dark, inception_weights=str(path))
    finally:
        torch.set_num_threads(prev_threads)
    assert m["metric_kind"] == "fid"
    assert set(m) == {"metric_kind", "fid", "kid", "kid_std"}
    assert all(isinstance(m[k], float) and np.isfinite(m[k]) for k in ("fid", "kid", "kid_std"))
    assert m["fid"] > 10.0
    assert m["kid"] > 0.0

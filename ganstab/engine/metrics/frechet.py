"""Frechet distance between Gaussians fitted to two feature sets.

Shared by the digits metric (classifier features) and the image metrics
(offline random-conv proxy), so both report the same, numerically robust
quantity.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["feature_statistics", "frechet_distance", "frechet_distance_from_stats"]


def _as_2d_float64(features: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    """Return features as a float64 ``[N, D]`` array, rejecting shapes FD cannot use."""
    if isinstance(features, torch.Tensor):
        arr = features.detach().to("cpu", torch.float64).numpy()
    else:
        arr = np.asarray(features, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [N, D] feature matrix; got shape {tuple(arr.shape)}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples to estimate a covariance; got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values; got NaN or inf")
    return arr


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` of a ``[N, D]`` feature matrix (float64)."""
    arr = _as_2d_float64(features, "features")
    mu = arr.mean(axis=0)
    sigma = np.atleast_2d(np.cov(arr, rowvar=False))
    return mu, sigma


def _psd_sqrt(mat: np.ndarray) -> np.ndarray:
    """Symmetric square root of a (numerically) PSD matrix; tiny negative eigenvalues are clipped to 0."""
    sym = 0.5 * (mat + mat.T)
    eigval, eigvec = np.linalg.eigh(sym)
    eigval = np.clip(eigval, 0.0, None)
    return (eigvec * np.sqrt(eigval)) @ eigvec.T


def frechet_distance_from_stats(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Frechet distance ``|mu1-mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})``.

    ``tr((S1 S2)^{1/2})`` is computed as ``tr((A S2 A)^{1/2})`` with ``A = S1^{1/2}``: that
    matrix is symmetric PSD, so an eigen-decomposition gives real, non-negative
    eigenvalues (clipped at 0 against round-off), which avoids the complex parts and
    failures that ``scipy.linalg.sqrtm`` shows on singular covariances (fewer samples
    than dimensions, dead ReLU units). The result is clipped at 0.
    """
    mu1 = np.asarray(mu1, dtype=np.float64).reshape(-1)
    mu2 = np.asarray(mu2, dtype=np.float64).reshape(-1)
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    dim = mu1.shape[0]
    if mu2.shape[0] != dim or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            "Frechet distance needs matching dimensions: mu1 "
            f"{mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, sigma2 {sigma2.shape}"
        )
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def frechet_distance(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two ``[N, D]`` feature sets (same ``D``)."""
    a = _as_2d_float64(features_a, "features_a")
    b = _as_2d_float64(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must have the same dimension; got {a.shape[1]} and {b.shape[1]}")
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    return frechet_distance_from_stats(mu1, s1, mu2, s2)

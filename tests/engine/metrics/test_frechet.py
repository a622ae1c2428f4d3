"""Frechet distance between Gaussians fitted to two feature sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstab.engine.metrics.frechet import feature_statistics, frechet_distance, frechet_distance_from_stats


def test_known_gaussians():
    eye = np.eye(3)
    assert frechet_distance_from_stats(np.zeros(3), eye, np.zeros(3), eye) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance_from_stats(np.zeros(3), eye, np.array([3.0, 4.0, 0.0]), eye) == pytest.approx(25.0)
    # variances 1 and 4 in one dimension: (1 - 2)^2
    assert frechet_distance_from_stats(np.zeros(1), np.eye(1), np.zeros(1), 4 * np.eye(1)) == pytest.approx(1.0)


def test_samples_shifted_by_a_constant_are_that_far_apart():
    x = np.random.default_rng(0).normal(size=(500, 4))
    assert frechet_distance(x, x + 2.0) == pytest.approx(16.0, rel=1e-6)
    assert frechet_distance(torch.tensor(x), torch.tensor(x)) == pytest.approx(0.0, abs=1e-6)


def test_statistics_and_singular_covariances():
    x = np.random.default_rng(1).normal(size=(3, 8))  # fewer samples than dimensions
    mu, sigma = feature_statistics(x)
    assert mu.shape == (8,) and sigma.shape == (8, 8)
    assert np.isfinite(frechet_distance(x, x[::-1])) and frechet_distance(x, x[::-1]) >= 0


def test_mismatched_dimensions_are_refused():
    with pytest.raises(ValueError, match="matching dimensions"):
        frechet_distance_from_stats(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))

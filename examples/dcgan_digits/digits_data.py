"""The data: scikit-learn's 8x8 handwritten digits (1,797 images, bundled with scikit-learn, no
download) as a torch Dataset of (image, label) pairs, images [1, 8, 8] in [-1, 1] to match G's tanh."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset


def digits(limit: int | None = None) -> TensorDataset:
    """The digits (the first `limit` of them, all by default); pixels 0..16 become x / 8 - 1."""
    d = load_digits()
    images = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    labels = torch.as_tensor(d.target)
    return TensorDataset(images[:limit], labels[:limit])

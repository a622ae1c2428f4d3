"""The device a run trains on, from `train.device`."""

from __future__ import annotations

import torch

from ganstab.engine.config import ConfigError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("`train.device` is 'cuda', but no CUDA device is available.")
    return torch.device(name)

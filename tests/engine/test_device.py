"""The device of `train.device`."""

from __future__ import annotations

import pytest
import torch

from ganstab.engine.config import ConfigError
from ganstab.engine.device import pick_device


def test_names_map_to_devices():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_says_so():
    with pytest.raises(ConfigError, match="`train.device` is 'cuda', but no CUDA device is available."):
        pick_device("cuda")

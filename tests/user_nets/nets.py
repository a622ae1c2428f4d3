"""Plain PyTorch networks and data factories, as a user writes them: no ganstab imports."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class MLPGenerator(nn.Module):
    def __init__(self, latent: int = 8, hidden: int = 32, out: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out)
        )

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, inp: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(inp, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x)


class DCGANGenerator(nn.Module):
    """DCGAN as people write it: noise [B, nz, 1, 1], transposed convolutions, BatchNorm, tanh."""

    def __init__(self, nz: int = 16, ngf: int = 8, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),  # 4x4
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 8x8
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.Conv2d(ngf, nc, 3, 1, 1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class DCGANDiscriminator(nn.Module):
    def __init__(self, ndf: int = 8, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 4x4
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 3, 1, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),  # [B, 1, 1, 1]
        )

    def forward(self, x):
        return self.main(x)


class DropoutDiscriminator(MLPDiscriminator):
    """Dropout draws random numbers, which vmap refuses by default: this D runs as a loop."""

    def __init__(self, inp: int = 2, hidden: int = 32) -> None:
        super().__init__(inp, hidden)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.net[2:](self.drop(self.net[:2](x)))


class WideDiscriminator(MLPDiscriminator):
    """Returns 3 numbers per sample: not a discriminator ganstab can train."""

    def forward(self, x):
        return self.net(x).repeat(1, 3)


class NotAModule:
    pass


def ring_points(n: int = 512, modes: int = 6, radius: float = 2.0, std: float = 0.05, seed: int = 0):
    """Points on a ring of Gaussians, as an [N, 2] array."""
    rng = np.random.default_rng(seed)
    k = rng.integers(modes, size=n)
    angles = 2 * math.pi * k / modes
    centres = np.stack([np.cos(angles), np.sin(angles)], 1) * radius
    return (centres + std * rng.standard_normal((n, 2))).astype(np.float32)


class LabelledImages(torch.utils.data.Dataset):
    """(image [1, 8, 8] in [-1, 1], label) pairs, as torchvision data sets give them."""

    def __init__(self, n: int = 64) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 1, 8, 8, generator=g) * 2 - 1
        self.y = torch.arange(n) % 10

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def broken_factory():
    raise RuntimeError("no data here")


class FrozenFirstLayerGenerator(MLPGenerator):
    """A generator whose first layer the user froze (requires_grad False): it must stay as made."""

    def __init__(self, latent: int = 8, hidden: int = 32, out: int = 2) -> None:
        super().__init__(latent, hidden, out)
        self.net[0].requires_grad_(False)

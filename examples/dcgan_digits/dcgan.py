"""A DCGAN as the PyTorch tutorial writes one, shrunk to 8x8 digits: plain PyTorch, no ganstab.

G maps noise [B, nz, 1, 1] to images [B, nc, 8, 8] in [-1, 1] (tanh); D maps images to one logit
per sample [B, 1, 1, 1] (no sigmoid: the loss adds it). BatchNorm in both, as in the paper.
"""

from __future__ import annotations

from torch import nn


class Generator(nn.Sequential):
    def __init__(self, nz: int = 32, ngf: int = 32, nc: int = 1) -> None:
        super().__init__(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),  # 1x1 -> 4x4
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 4x4 -> 8x8
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.Conv2d(ngf, nc, 3, 1, 1, bias=False),  # 8x8, nc channels
            nn.Tanh(),
        )


class Discriminator(nn.Sequential):
    def __init__(self, ndf: int = 32, nc: int = 1) -> None:
        super().__init__(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # 8x8 -> 4x4
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 3, 1, 1, bias=False),  # 4x4
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),  # 4x4 -> 1x1: one logit per image
        )

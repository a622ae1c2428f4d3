"""Generators and discriminators, all cohort-shaped (member dimension first).

- MLP G and D for points (`[K, B, D]`).
- DCGAN/SNGAN-style convolutional G and D sized from the image resolution: G doubles the
  resolution from 4x4 with transposed convolutions, D halves it with strided convolutions; widths
  double at each halving, starting from `model.channels` at full resolution.
- MSG-GAN (`model.msg`): G emits an image at every resolution (1x1 "toRGB" heads) and D
  concatenates each to its features at the same resolution, so gradients reach every scale.

G returns a list of image scales (one element except under MSG, last = full resolution); D takes
such a list and returns logits `[K, B]`. D has no BatchNorm, so samples are independent inside D
(real and fake can share one forward, and WGAN-GP's input gradients are per sample).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganstab.engine.config import Config
from ganstab.engine.member_layers import (
    CohortBatchNorm2d,
    CohortConv2d,
    CohortConvTranspose2d,
    CohortLinear,
    from_grouped,
    init_members,
    set_channels_last,
    set_spectral_norm,
    to_grouped,
)

Scales = list[torch.Tensor]


def _width(base: int, mult: float) -> int:
    return max(1, int(round(base * mult)))


class MLPGenerator(nn.Module):
    def __init__(self, k: int, latent: int, out: int, hidden: int, layers: int, sn: bool) -> None:
        super().__init__()
        dims = [latent] + [hidden] * layers
        self.hidden = nn.ModuleList(CohortLinear(k, a, b, sn) for a, b in zip(dims, dims[1:]))
        self.out = CohortLinear(k, hidden, out, sn)

    def forward(self, z: torch.Tensor) -> Scales:
        h = z
        for layer in self.hidden:
            h = F.relu(layer(h))
        return [self.out(h)]


class MLPDiscriminator(nn.Module):
    def __init__(self, k: int, inp: int, hidden: int, layers: int, sn: bool) -> None:
        super().__init__()
        dims = [inp] + [hidden] * layers
        self.hidden = nn.ModuleList(CohortLinear(k, a, b, sn) for a, b in zip(dims, dims[1:]))
        self.out = CohortLinear(k, hidden, 1, sn)

    def forward(self, xs: Scales) -> torch.Tensor:
        h = xs[-1]
        for layer in self.hidden:
            h = F.leaky_relu(layer(h), 0.2)
        return self.out(h).squeeze(-1)


def _conv_widths(resolution: int, channels: int, mult: float) -> list[int]:
    """Widths at resolutions 4, 8, ..., R: `channels` at R, doubling at each halving."""
    n = int(math.log2(resolution // 4))
    return [_width(channels * 2 ** (n - i), mult) for i in range(n + 1)]


class ConvGenerator(nn.Module):
    def __init__(self, k, latent, img_channels, resolution, channels, mult, sn, msg) -> None:
        super().__init__()
        self.k, self.msg = k, msg
        w = _conv_widths(resolution, channels, mult)
        self.w0 = w[0]
        self.fc = CohortLinear(k, latent, w[0] * 16, sn, bias=False)
        self.bn0 = CohortBatchNorm2d(k, w[0])
        self.ups = nn.ModuleList(CohortConvTranspose2d(k, a, b, 4, 2, 1, sn) for a, b in zip(w, w[1:]))
        self.bns = nn.ModuleList(CohortBatchNorm2d(k, b) for b in w[1:])
        # MSG-GAN: a 1x1 image head at every resolution below the full one.
        self.heads = nn.ModuleList(
            CohortConv2d(k, c, img_channels, 1, 1, 0, sn) for c in (w[:-1] if msg else [])
        )
        self.to_img = CohortConv2d(k, w[-1], img_channels, 3, 1, 1, sn)

    def forward(self, z: torch.Tensor) -> Scales:
        k, b = z.shape[:2]
        h = self.fc(z).view(k, b, self.w0, 4, 4)
        h = F.relu(self.bn0(to_grouped(h)))
        scales = []
        for i, (up, bn) in enumerate(zip(self.ups, self.bns)):
            if self.msg:
                scales.append(from_grouped(torch.tanh(self.heads[i](h)), k))
            h = F.relu(bn(up(h)))
        scales.append(from_grouped(torch.tanh(self.to_img(h)), k))
        return scales


class ConvDiscriminator(nn.Module):
    def __init__(self, k, img_channels, resolution, channels, mult, sn, msg) -> None:
        super().__init__()
        self.k, self.msg = k, msg
        w = _conv_widths(resolution, channels, mult)[::-1]  # R, R/2, ..., 4
        extra = img_channels if msg else 0  # MSG: the image at each scale joins the features
        ins = [img_channels] + [c + extra for c in w[1:-1]]
        self.downs = nn.ModuleList(CohortConv2d(k, a, b, 4, 2, 1, sn) for a, b in zip(ins, w[1:]))
        self.w_last = w[-1] + extra
        self.fc = CohortLinear(k, self.w_last * 16, 1, sn)

    def forward(self, xs: Scales) -> torch.Tensor:
        k = self.k
        # xs holds scales from coarse (4x4) to full; D walks from full to coarse.
        pyramid = xs[::-1]
        h = to_grouped(pyramid[0])
        for i, down in enumerate(self.downs):
            h = F.leaky_relu(down(h), 0.2)
            if self.msg:
                hk, img = from_grouped(h, k), pyramid[i + 1]
                h = to_grouped(torch.cat([hk, img.to(hk.dtype)], dim=2))
        b = h.shape[0]
        flat = from_grouped(h, k).reshape(k, b, -1)
        return self.fc(flat).squeeze(-1)


def real_scales(x: torch.Tensor, n_scales: int) -> Scales:
    """The MSG pyramid of a real batch `[K, B, C, H, W]`, coarse to full (average pooling)."""
    scales = [x]
    for _ in range(n_scales - 1):
        k, b = x.shape[:2]
        x = F.avg_pool2d(x.flatten(0, 1), 2).unflatten(0, (k, b))
        scales.append(x)
    return scales[::-1]


def build_networks(cfg: Config, k: int, data_shape: tuple[int, ...], sn_d: bool, sn_g: bool):
    """G and D for a resolved config; `sn_*` say whether any member uses SN (layers carry it).
    Where the config names the user's own G or D (model.generator / model.discriminator), that
    side is a `UserCohort` of it (engine/user_networks.py)."""
    m = cfg.model
    if m.generator is not None or m.discriminator is not None:
        return _with_user_networks(cfg, k, data_shape, sn_d, sn_g)
    return _own_networks(cfg, k, data_shape, sn_d, sn_g)


def _with_user_networks(cfg: Config, k: int, data_shape: tuple[int, ...], sn_d: bool, sn_g: bool):
    from ganstab.engine import user_code as U
    from ganstab.engine.user_networks import UserCohort

    m = cfg.model
    U.check_builtin_networks(cfg, data_shape)
    own_g, own_d, _ = _own_networks(cfg, k, data_shape, sn_d, sn_g) if None in (m.generator, m.discriminator) else (None, None, 1)
    build_g, build_d = U.network_builder(cfg, "generator"), U.network_builder(cfg, "discriminator")
    g = own_g
    if build_g is not None:
        latent = U.latent_shape(build_g, m.latent_dim, data_shape, str(m.generator))
        g = UserCohort(build_g, k, role="G", sn=sn_g, latent_shape=latent, mode=m.user_cohort)
    d = own_d
    if build_d is not None:
        U.check_discriminator(build_d, data_shape, str(m.discriminator))
        d = UserCohort(
            build_d, k, role="D", sn=sn_d, sample_shape=data_shape, chunk=cfg.train.batch_size, mode=m.user_cohort
        )
    return g, d, 1


def _own_networks(cfg: Config, k: int, data_shape: tuple[int, ...], sn_d: bool, sn_g: bool):
    m = cfg.model
    if len(data_shape) == 1:
        g = MLPGenerator(k, m.latent_dim, data_shape[0], _width(m.hidden, m.g_mult), m.layers, sn_g)
        d = MLPDiscriminator(k, data_shape[0], _width(m.hidden, m.d_mult), m.layers, sn_d)
        return g, d, 1
    c, res = data_shape[0], data_shape[-1]
    g = ConvGenerator(k, m.latent_dim, c, res, m.channels, m.g_mult, sn_g, m.msg)
    d = ConvDiscriminator(k, c, res, m.channels, m.d_mult, sn_d, m.msg)
    n_scales = int(math.log2(res // 4)) + 1 if m.msg else 1
    return g, d, n_scales


def build_member_networks(configs: list[Config], data_shape: tuple[int, ...], device: torch.device, later=()):
    """G and D for K resolved member configs, each member's layers initialised from its own
    generator (seeded by `train.seed`: G's layers first, then D's) and its spectral norm switched
    on or off, on `device`. `later` (TrainConfigs that may refill a slot) may ask for SN layers."""
    tr = [c.train for c in configs]
    sn_d, sn_g = [t.sn_d for t in tr], [t.sn_g for t in tr]
    any_d, any_g = any(sn_d) or any(t.sn_d for t in later), any(sn_g) or any(t.sn_g for t in later)
    G, D, n_scales = build_networks(configs[0], len(configs), data_shape, any_d, any_g)
    init_gens = [torch.Generator().manual_seed(t.seed) for t in tr]
    init_members(G, init_gens)  # G first, then D, from each member's own generator
    init_members(D, init_gens)
    set_spectral_norm(G, sn_g)
    set_spectral_norm(D, sn_d)
    G.to(device)
    D.to(device)
    if device.type == "cuda" and len(data_shape) > 1:  # images: channels-last convolutions
        set_channels_last(G, True)
        set_channels_last(D, True)
    from ganstab.engine.user_networks import user_cohorts

    for net in user_cohorts(G, D):  # vmap or a loop, tried on the device
        net.choose_mode()
    return G, D, n_scales

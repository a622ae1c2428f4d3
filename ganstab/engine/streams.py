"""Each member's own random streams: data, latent noise, instance noise and WGAN-GP weights.

A member's stream is its own `torch.Generator`, drawn `STREAM_CHUNK` steps at a time in a fixed
order that depends only on the member's own config, so a member draws the same numbers whatever
cohort it trains in (and whatever slot it refills).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganstab.engine.data import Dataset
from ganstab.engine.member_settings import MemberSettings

# Steps of random draws made at once per member (amortizes per-member generator calls; part of
# the definition of a member's stream, so it depends only on the data kind, never on K).
STREAM_CHUNK = {"points": 16, "images": 4}
STREAM_SEED = 2**32  # stream and evaluation generators are seeded apart from initialisation


def member_stream(seed: int, device: torch.device) -> torch.Generator:
    """The generator of a member's stream (seeded apart from its initial weights)."""
    return torch.Generator(device).manual_seed(seed + STREAM_SEED)


def _pad(x: torch.Tensor, nd_max: int) -> torch.Tensor:
    """[n, nd, ...] -> [n, nd_max, ...]: members with fewer D steps get zeros they never use."""
    if x.shape[1] == nd_max:
        return x
    fill = x.new_zeros(x.shape[0], nd_max - x.shape[1], *x.shape[2:])
    return torch.cat([x, fill], dim=1)


def draw_chunk(
    streams: Sequence[torch.Generator],
    dataset: Dataset,
    hp: MemberSettings,
    *,
    device: torch.device,
    steps: int,
    batch: int,
    latent: int,
) -> dict[str, torch.Tensor]:
    """The next `steps` steps of every member's randomness, stacked `[K, steps, ...]`, drawn in a
    fixed order per member: data, D's latents, G's latents, then instance noise and GP weights
    where any member uses them (zeros for the members that do not, drawn from nothing)."""
    dev, shape, nd_max = device, dataset.shape, hp.nd_max
    n_dis, noise_members, gp_members = hp.n_dis, hp.noise_members, hp.gp_members
    n, b = steps, batch
    parts: dict[str, list[torch.Tensor]] = {"real": [], "z_d": [], "z_g": []}
    any_noise, any_gp = any(noise_members), any(gp_members)
    for key in ("noise_real", "noise_fake", "noise_g") if any_noise else ():
        parts[key] = []
    if any_gp:
        parts["eps"] = []
    for i, g in enumerate(streams):
        nd = n_dis[i]
        draws = dataset.draw(n * nd * b, g)
        parts["real"].append(_pad(draws.view(n, nd, b, *draws.shape[1:]), nd_max))
        parts["z_d"].append(_pad(torch.randn(n, nd, b, latent, generator=g, device=dev), nd_max))
        parts["z_g"].append(torch.randn(n, b, latent, generator=g, device=dev))
        if any_noise:
            if noise_members[i]:
                nr = torch.randn(n, nd, b, *shape, generator=g, device=dev)
                nf = torch.randn(n, nd, b, *shape, generator=g, device=dev)
                ng = torch.randn(n, b, *shape, generator=g, device=dev)
            else:
                nr = nf = torch.zeros(n, nd, b, *shape, device=dev)
                ng = torch.zeros(n, b, *shape, device=dev)
            parts["noise_real"].append(_pad(nr, nd_max))
            parts["noise_fake"].append(_pad(nf, nd_max))
            parts["noise_g"].append(ng)
        if any_gp:
            eps = torch.rand(n, nd, b, generator=g, device=dev) if gp_members[i] else torch.zeros(n, nd, b, device=dev)
            parts["eps"].append(_pad(eps, nd_max))
    return {key: torch.stack(v) for key, v in parts.items()}

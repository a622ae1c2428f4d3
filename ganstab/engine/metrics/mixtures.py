"""Ground-truth metrics for Gaussian mixtures (PacGAN/VEEGAN/GDPP definitions, docs/benchmarks.md).

A sample is *high quality* (HQ) if it lies within 3 std of its nearest centre; a mode is
*covered* if it receives at least one HQ sample; reverse KL is KL(histogram of the HQ samples'
modes || uniform). Batched over cohort members.

The *graded* score is ganstab's own, for ranking runs before their samples are HQ (successive
halving's early rungs): the score (modes covered / M times the HQ fraction) taken at radii 3, 6,
12, ... std, up to half the distance between the two closest modes, and averaged. It equals the
score when every sample lies within 3 std of a mode; a G whose samples are near the modes but not
yet on them scores above one whose samples are nowhere, where the score is 0 for both.
"""

from __future__ import annotations

import math

import torch


@torch.no_grad()
def mixture_metrics(samples: torch.Tensor, centres: torch.Tensor, std: float) -> dict[str, torch.Tensor]:
    """`samples` `[K, N, 2]`, `centres` `[M, 2]` -> {"modes", "hq", "kl", "graded"}, each `[K]`, and
    "counts" `[K, M]` (HQ samples per mode) and "near" `[K, M]` (all samples by nearest mode).

    With no HQ sample at all the histogram is undefined; kl is then log(M), the value of a single
    point mass (the worst case), so a dead generator never looks good.
    """
    k, n, _ = samples.shape
    m = centres.shape[0]
    s = samples.float()
    dist = torch.cdist(s, centres.to(s.device).unsqueeze(0).expand(k, -1, -1))  # [K, N, M]
    dmin, nearest = dist.min(dim=2)
    hq = (dmin <= 3 * std) & torch.isfinite(dmin)
    counts = torch.zeros(k, m, device=s.device)
    counts.scatter_add_(1, nearest, hq.float())
    near = torch.zeros(k, m, device=s.device)
    near.scatter_add_(1, nearest, torch.isfinite(dmin).float())
    total = counts.sum(dim=1, keepdim=True)
    p = counts / total.clamp_min(1)
    kl = torch.where(p > 0, p * torch.log(p * m), torch.zeros_like(p)).sum(dim=1)
    kl = torch.where(total.squeeze(1) > 0, kl, torch.full_like(kl, math.log(m)))
    return {
        "modes": (counts > 0).sum(dim=1).float(),
        "graded": _graded(dmin, nearest, centres.to(s.device), std),
        "hq": hq.float().mean(dim=1) * 100,
        "kl": kl,
        "counts": counts,  # [K, M] HQ samples per mode: how the histogram moves labels a run
        "near": near,  # [K, M] all samples by nearest mode, HQ or not
    }


def graded_radii(centres: torch.Tensor, std: float) -> list[float]:
    """3, 6, 12, ... std while under half the smallest distance between two modes (3 std at least)."""
    half = float(torch.pdist(centres.float()).min()) / 2 if len(centres) > 1 else math.inf
    radii = [3 * std]
    while radii[-1] * 2 < half and len(radii) < 8:
        radii.append(radii[-1] * 2)
    return radii


def _graded(dmin: torch.Tensor, nearest: torch.Tensor, centres: torch.Tensor, std: float) -> torch.Tensor:
    k, m = dmin.shape[0], centres.shape[0]
    out = torch.zeros(k, device=dmin.device)
    radii = graded_radii(centres, std)
    for r in radii:
        within = dmin <= r  # False for NaN and inf
        hit = torch.zeros(k, m, device=dmin.device).scatter_add_(1, nearest, within.float())
        out += (hit > 0).sum(dim=1).float() / m * within.float().mean(dim=1)
    return out / len(radii)


@torch.no_grad()
def sliced_wasserstein(
    samples: torch.Tensor, real: torch.Tensor, n_proj: int = 128, seed: int = 0
) -> torch.Tensor:
    """Sliced 1-Wasserstein distance per member between `samples` `[K, N, D]` and `real` `[M, D]`,
    for point data without known modes. Deterministic (fixed projections)."""
    k, n, dim = samples.shape
    gen = torch.Generator().manual_seed(seed)
    proj = torch.randn(dim, n_proj, generator=gen).to(samples.device)
    proj = proj / proj.norm(dim=0, keepdim=True)
    m = min(n, real.shape[0])
    a = torch.sort(samples.float()[:, :m] @ proj, dim=1).values  # [K, m, P]
    b = torch.sort(real.float()[:m] @ proj, dim=0).values  # [m, P]
    return (a - b.unsqueeze(0)).abs().mean(dim=(1, 2))

"""k-nearest-neighbour precision, recall, density and coverage (PRDC) for point data whose modes
nobody knows: a user's own points file.

Each real sample gets a ball reaching its k-th nearest real neighbour; the balls together are the
data's shape, estimated from the data alone (Kynkaanniemi et al. 2019, "Improved precision and
recall metric"; Naeem et al. 2020, "Reliable fidelity and diversity metrics", k = 5).

- precision: the share of generated samples inside some real ball (the samples look real);
- recall: the share of real samples inside some generated sample's ball (the samples' own k-NN
  radii: the generator reaches that part of the data);
- density: how many real balls hold a generated sample, on average, over k (about 1 when the two
  match, above 1 where samples crowd into dense regions);
- coverage: the share of real balls that hold at least one generated sample. A dropped mode leaves
  its balls empty, so coverage falls by the mode's share of the data (1/6 of six equal modes),
  whatever the layout; it is robust to generated outliers, which recall is not.

Coordinates are standardized by the real data's per-column mean and std first, so a column in
metres and one in millimetres weigh alike. Two samples drawn from one distribution give precision
and recall near 1 and coverage about 0.97 at k = 5 and a few thousand samples.
"""

from __future__ import annotations

import math

import torch

__all__ = ["K_NEIGHBOURS", "RealBalls", "prdc", "prdc_and_hq"]

K_NEIGHBOURS = 5  # Naeem et al.'s k
_CHUNK = 1024  # rows of a distance matrix at a time: memory stays O(chunk x N)


@torch.no_grad()
def kth_neighbour_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """`[N]`: each row's distance to its k-th nearest other row of `x` `[N, D]`."""
    out = []
    for a in range(0, x.shape[0], _CHUNK):
        d = torch.cdist(x[a : a + _CHUNK], x)
        # the nearest is the row itself, at distance 0 (topk: a few times faster than kthvalue)
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(out)


class RealBalls:
    """The real samples' standardization and k-NN balls, made once per data set and reused for
    every member and evaluation."""

    def __init__(self, real: torch.Tensor, k: int = K_NEIGHBOURS) -> None:
        real = real.detach().flatten(1).float()
        if real.shape[0] <= k:
            raise ValueError(f"k-NN metrics need more than k={k} real samples, but got {real.shape[0]}.")
        self.k = k
        self.mean = real.mean(dim=0)
        std = real.std(dim=0)
        self.std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column: left as it is
        self.real = self.standardize(real)
        self.radii = kth_neighbour_radii(self.real, k)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1).float() - self.mean.to(x.device)) / self.std.to(x.device)


def prdc(fake: torch.Tensor, balls: RealBalls) -> dict[str, float]:
    """{"precision", "recall", "density", "coverage"} of generated samples `fake` `[N, ...]`
    against the real balls; all NaN when a sample is not finite, or there are too few."""
    return prdc_and_hq(fake, balls)[0]


@torch.no_grad()
def prdc_and_hq(fake: torch.Tensor, balls: RealBalls) -> tuple[dict[str, float], torch.Tensor | None]:
    """`prdc`, and which generated samples lie inside a real ball `[N]` (None where the metrics
    are NaN)."""
    k = balls.k
    nan = {name: math.nan for name in ("precision", "recall", "density", "coverage")}
    if fake.shape[0] <= k or not bool(torch.isfinite(fake).all()):
        return nan, None
    real, radii = balls.real.to(fake.device), balls.radii.to(fake.device)
    f = balls.standardize(fake)
    fake_radii = kth_neighbour_radii(f, k)
    inside_real = torch.zeros(f.shape[0], device=f.device)  # per fake: real balls holding it
    real_reached = torch.zeros(real.shape[0], dtype=torch.bool, device=f.device)  # recall
    nearest_fake = torch.full((real.shape[0],), math.inf, device=f.device)  # coverage
    for a in range(0, real.shape[0], _CHUNK):
        d = torch.cdist(real[a : a + _CHUNK], f)  # [chunk, N]
        inside_real += (d <= radii[a : a + _CHUNK, None]).sum(dim=0)
        real_reached[a : a + _CHUNK] = (d <= fake_radii[None, :]).any(dim=1)
        nearest_fake[a : a + _CHUNK] = d.min(dim=1).values
    hq = inside_real > 0
    return {
        "precision": float(hq.float().mean()),
        "recall": float(real_reached.float().mean()),
        "density": float(inside_real.mean() / k),
        "coverage": float((nearest_fake <= radii).float().mean()),
    }, hq

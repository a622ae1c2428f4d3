"""Modes of a user's points, found by clustering the real data: what `modes` and `hq` mean for a
points file, whose generating modes nobody told ganstab.

The real samples (standardized) are clustered by k-means for every count from 2 to 12 and the
count with the best silhouette is kept: six well-separated blobs give six clusters, and data in
one piece still gives a few regions, so a generator that collapses onto part of it is seen.
A generated sample is high quality (HQ) when it lies inside some real sample's k-NN ball (k-NN
precision, metrics/neighbours.py). A mode is *covered* when it receives at least a tenth of the
HQ samples its share of the data would give it: a few stragglers do not make a dropped mode
covered. The score is then the mixtures' own: modes covered / modes x the HQ fraction.
(The idea of bins from k-means on the real data is NDB's, Richardson & Weiss 2018.)
"""

from __future__ import annotations

import torch

__all__ = ["MAX_MODES", "MIN_SHARE", "RealModes", "cluster_modes"]

MAX_MODES = 12  # the most clusters tried
MIN_SHARE = 0.1  # a mode is covered with at least this fraction of its expected HQ samples
_FIT_SAMPLES = 1000  # real samples the clustering is fitted and chosen on (11 fits: kept small)
_SEED = 0
_INITS = 2  # k-means starts per count; the one of least inertia is kept


_FITTED: dict[tuple, tuple[torch.Tensor, float]] = {}  # (the data's bytes' hash, ...) -> the fit


def cluster_modes(x: torch.Tensor, max_modes: int = MAX_MODES) -> tuple[torch.Tensor, float]:
    """The modes of samples `x` `[N, D]` (a few thousand at most: pairwise distances are kept):
    (the centres of the k-means clustering of best silhouette over 2..max_modes clusters, its
    silhouette); NaN silhouette for a single mode. Used for a points file's modes here and for
    the real data of `ganstab diagnose --samples` (diagnose/samples.py)."""
    gen = torch.Generator().manual_seed(_SEED)
    dist = torch.cdist(x, x)
    best: tuple[float, torch.Tensor] | None = None
    for k in range(2, min(max_modes, len(x) - 1) + 1):
        centres, labels = min((_kmeans(x, k, gen) for _ in range(_INITS)), key=lambda fit: _inertia(x, *fit))
        if labels.unique().numel() < 2:
            continue
        quality = _silhouette(dist, labels, k)
        if best is None or quality > best[0] + 1e-9:
            best = (quality, centres)
    if best is None:  # every sample alike: one mode
        return x[:1].clone(), float("nan")
    return best[1], best[0]


def _kmeans(
    x: torch.Tensor, k: int, gen: torch.Generator, iters: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means from a k-means++ start (in torch: sklearn's threads crawl on a busy CPU)."""
    centres = x[torch.randint(len(x), (1,), generator=gen)]
    for _ in range(1, k):
        d2 = torch.cdist(x, centres).min(dim=1).values ** 2
        pick = (
            torch.multinomial(d2 / d2.sum(), 1, generator=gen)
            if d2.sum() > 0
            else torch.zeros(1, dtype=torch.long)
        )
        centres = torch.cat([centres, x[pick]])
    labels = torch.cdist(x, centres).argmin(dim=1)
    for _ in range(iters):
        onehot = torch.nn.functional.one_hot(labels, k).float()
        counts = onehot.sum(dim=0)
        moved = torch.where(counts[:, None] > 0, onehot.T @ x / counts.clamp_min(1)[:, None], centres)
        new = torch.cdist(x, moved).argmin(dim=1)
        centres = moved
        if torch.equal(new, labels):
            break
        labels = new
    return centres, labels


def _inertia(x: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor) -> float:
    return float(((x - centres[labels]) ** 2).sum())


def _silhouette(dist: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Mean silhouette (Rousseeuw 1987) from the pairwise distances; 0 for a sample alone in its cluster."""
    onehot = torch.nn.functional.one_hot(labels, k).float()
    counts = onehot.sum(dim=0)
    sums = dist @ onehot  # [n, k]: each sample's summed distance to each cluster
    own = counts[labels]
    a = sums.gather(1, labels[:, None]).squeeze(1) / (own - 1).clamp_min(1)
    other = torch.where(
        (torch.arange(k)[None, :] == labels[:, None]) | (counts[None, :] == 0),
        torch.inf,
        sums / counts.clamp_min(1),
    )
    b = other.min(dim=1).values
    s = torch.where(own > 1, (b - a) / torch.maximum(a, b).clamp_min(1e-12), torch.zeros_like(a))
    return float(s.mean())


class RealModes:
    """The clusters of standardized real samples `[N, D]` (fitted once per data set): their
    centres and their shares of the data."""

    def __init__(self, real: torch.Tensor, max_modes: int = MAX_MODES) -> None:
        x = real.detach().float().cpu()[:_FIT_SAMPLES]
        key = (hash(x.numpy().tobytes()), tuple(x.shape), max_modes)
        if key not in _FITTED:  # a search's cohorts on one data set cluster it once per process
            _FITTED[key] = cluster_modes(x, max_modes)
        self.centres, self.silhouette = _FITTED[key]
        nearest = self.assign(real.detach().float().cpu())
        self.share = torch.bincount(nearest, minlength=len(self.centres)).float() / len(nearest)

    def __len__(self) -> int:
        return len(self.centres)

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """Each row's nearest cluster centre."""
        return torch.cdist(x.float(), self.centres.to(x.device)).argmin(dim=1)

    def covered(self, fake: torch.Tensor, hq: torch.Tensor) -> int:
        """Modes that receive at least MIN_SHARE of the HQ samples their share of the data would
        give them (`fake` standardized `[N, D]`, `hq` `[N]` bool)."""
        counts = torch.bincount(self.assign(fake)[hq.to(fake.device)], minlength=len(self)).float().cpu()
        return int((counts >= (MIN_SHARE * self.share * len(fake)).clamp_min(1)).sum())

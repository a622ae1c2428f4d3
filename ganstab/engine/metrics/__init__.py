"""Quality metrics per data-set family, evaluated on generated samples of every cohort member.

| family   | metrics (trace columns)                                   | higher is better for |
|----------|-----------------------------------------------------------|----------------------|
| mixture  | modes covered, HQ %, reverse KL (docs/benchmarks.md)      | modes, hq            |
| points   | sliced Wasserstein distance to the data (`swd`)           | -                    |
| digits   | modes, HQ % and reverse KL from a digits classifier, `fd` | modes, hq            |
| stacked_digits | the same over 1,000 three-digit modes, per channel  | modes, hq            |
| images   | FID/KID via torch-fidelity, or an offline proxy `fd_proxy`| -                    |

Each family names its *score*: one number, higher is better, that a search optimizes.
"""

from __future__ import annotations

import math

import torch

from ganstab.engine.data import Dataset, Mixture
from ganstab.engine.metrics.mixtures import mixture_metrics, sliced_wasserstein

METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "mixture": ("modes", "hq", "kl"),
    "points": ("swd",),
    "digits": ("modes", "hq", "kl", "fd"),
    "stacked_digits": ("modes", "hq", "kl", "fd"),
    "images": ("fid", "kid", "fd_proxy"),
}


def score(family: str, metrics: dict[str, float], n_modes: int | None = None) -> float:
    """One number per evaluation, higher is better: the objective a search maximizes.

    mixture/digits/stacked_digits: fraction of modes covered times the HQ fraction (1.0 = every
    mode, all HQ); points/images: minus the distance.
    """
    if family in ("mixture", "digits", "stacked_digits"):
        m = n_modes or 10
        return float(metrics["modes"]) / m * float(metrics["hq"]) / 100
    if family == "points":
        return -float(metrics["swd"])
    value = metrics.get("fid", math.nan)
    return -float(value if not math.isnan(value) else metrics["fd_proxy"])


class Evaluator:
    """Computes a family's metrics for samples `[K, N, ...]`; returns one dict per member.

    Mixture and digits results also carry "hist" (HQ samples per mode) and "near" (all samples
    by nearest mode), as lists."""

    def __init__(self, dataset: Dataset, inception_weights: str | None = None) -> None:
        self.dataset = dataset
        self.family = dataset.metric
        self.inception_weights = inception_weights
        self.note = ""
        self.n_modes = len(dataset.centres) if isinstance(dataset, Mixture) else 10
        if self.family == "stacked_digits":
            from ganstab.engine.metrics.digits import STACKED_MODES

            self.n_modes = STACKED_MODES
        self._real: torch.Tensor | None = None
        if self.family in ("digits", "stacked_digits"):
            from ganstab.engine.metrics.digits import load_digits_classifier

            self._classifier = load_digits_classifier()

    def columns(self) -> tuple[str, ...]:
        return METRIC_COLUMNS[self.family]

    def real(self, n: int) -> torch.Tensor:
        if self._real is None:
            self._real = self.dataset.reference(n)
        return self._real

    def __call__(self, samples: torch.Tensor) -> list[dict[str, float]]:
        k, n = samples.shape[:2]
        if self.family == "mixture":
            ds = self.dataset
            out = mixture_metrics(samples, ds.centres, ds.std)
            counts = out.pop("counts").long().tolist()
            near = out.pop("near").long().tolist()
            return [
                {**{c: float(out[c][i]) for c in out}, "hist": counts[i], "near": near[i]} for i in range(k)
            ]
        if self.family == "points":
            swd = sliced_wasserstein(samples, self.real(n))
            return [{"swd": float(v)} for v in swd]
        finite = [bool(torch.isfinite(samples[i]).all()) for i in range(k)]
        if self.family in ("digits", "stacked_digits"):
            from ganstab.engine.metrics.digits import digits_metrics, stacked_digits_metrics

            metric = digits_metrics if self.family == "digits" else stacked_digits_metrics
            real = self.real(n)
            return [
                metric(samples[i], real, classifier=self._classifier, with_histogram=True)
                if finite[i]
                else {**_nan(self.columns()), "hist": None, "near": None}
                for i in range(k)
            ]
        from ganstab.engine.metrics.images import image_metrics

        real = self.real(n)
        rows = []
        for i in range(k):
            if not finite[i]:
                rows.append(_nan(self.columns()))
                continue
            res = image_metrics(samples[i], real, inception_weights=self.inception_weights)
            self.note = str(res.pop("note", "")) or f"metric: {res.pop('metric_kind', '')}"
            res.pop("metric_kind", None)
            rows.append({c: float(res.get(c, math.nan)) for c in self.columns()})
        return rows


def _nan(columns: tuple[str, ...]) -> dict[str, float]:
    return {c: math.nan for c in columns}


__all__ = ["Evaluator", "METRIC_COLUMNS", "mixture_metrics", "score", "sliced_wasserstein"]

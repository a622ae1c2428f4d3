"""Quality metrics per data-set family, evaluated on generated samples of every cohort member.

| family   | metrics (trace columns)                                   | higher is better for |
|----------|-----------------------------------------------------------|----------------------|
| mixture  | modes covered, HQ %, reverse KL (docs/benchmarks.md)      | modes, hq            |
| points   | modes (k-means clusters of the real data) covered, HQ % (k-NN precision), k-NN coverage, recall, density, `swd` | modes, hq |
| digits   | modes, HQ % and reverse KL from a digits classifier, `fd` | modes, hq            |
| stacked_digits | the same over 1,000 three-digit modes, per channel  | modes, hq            |
| images   | FID/KID via torch-fidelity, or an offline proxy `fd_proxy`| -                    |

Each family names its *score*: one number, higher is better, that a search optimizes. A config's
top-level `metric: "pkg.mod:fn"` adds the user's own metrics and its "score" replaces the family's
(metrics/user.py).
"""

from __future__ import annotations

import math

import torch

from ganstab.engine.data import Dataset, Mixture, Stored
from ganstab.engine.metrics.mixtures import mixture_metrics, sliced_wasserstein
from ganstab.engine.metrics.neighbours import RealBalls, prdc, prdc_and_hq

METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "mixture": ("modes", "hq", "kl"),
    "points": ("modes", "hq", "coverage", "recall", "density", "swd"),
    "digits": ("modes", "hq", "kl", "fd"),
    "stacked_digits": ("modes", "hq", "kl", "fd"),
    "images": ("fid", "kid", "fd_proxy"),
}


def score(family: str, metrics: dict[str, float], n_modes: int | None = None) -> float:
    """One number per evaluation, higher is better: the objective a search maximizes.

    mixture/digits/stacked_digits/points: fraction of modes covered times the HQ fraction (1.0 =
    every mode, all HQ; a points file's modes are the clusters of its data, metrics/regions.py);
    images: minus the distance (FID, else the offline proxy).
    """
    if family in ("mixture", "digits", "stacked_digits", "points"):
        m = n_modes or 10
        return float(metrics["modes"]) / m * float(metrics["hq"]) / 100
    value = metrics.get("fid", math.nan)
    return -float(value if not math.isnan(value) else metrics["fd_proxy"])


class Evaluator:
    """Computes a family's metrics for samples `[K, N, ...]`; returns one dict per member.

    Mixture and digits results also carry "hist" (HQ samples per mode) and "near" (all samples
    by nearest mode), as lists."""

    def __init__(
        self, dataset: Dataset, inception_weights: str | None = None, metric: str | None = None
    ) -> None:
        self.dataset = dataset
        self.family = dataset.metric
        self.inception_weights = inception_weights
        self.note = ""
        self._real: torch.Tensor | None = None
        self._balls: RealBalls | None = None
        self._modes = None  # a points file's modes: the clusters of its data (metrics/regions.py)
        self.n_modes = len(dataset.centres) if isinstance(dataset, Mixture) else 10
        if self.family == "stacked_digits":
            from ganstab.engine.metrics.digits import STACKED_MODES

            self.n_modes = STACKED_MODES
        if self.family == "points":  # clustered now, once: the score's number of modes
            from ganstab.engine.metrics.regions import RealModes

            self._balls = RealBalls(self.real(dataset_eval_size(dataset)))
            self._modes = RealModes(self._balls.real)
            self.n_modes = len(self._modes)
        if self.family in ("digits", "stacked_digits"):
            from ganstab.engine.metrics.digits import load_digits_classifier

            self._classifier = load_digits_classifier()
        self.user = None  # the user's metric (config `metric`), checked now: before training starts
        if metric:
            from ganstab.engine.metrics.user import UserMetric

            self.user = UserMetric(metric, self._reference(_USER_PROBE), taken=METRIC_COLUMNS[self.family])

    def columns(self) -> tuple[str, ...]:
        own = METRIC_COLUMNS[self.family]
        return own + self.user.columns if self.user is not None else own

    def score(self, metrics: dict[str, float]) -> float:
        """The evaluation's score: the user's "score" where a `metric` is configured, else the family's."""
        if self.user is not None:
            return float(metrics["score"])
        return score(self.family, metrics, self.n_modes)

    def describe_score(self) -> str:
        """What the score is, in a few words, for tables and reports."""
        if self.user is not None:
            return f"the 'score' of metric {self.user.spec}"
        if self.family == "images" and self.note.startswith("FID unavailable"):
            return SCORE_WORDS["images_proxy"]
        return SCORE_WORDS[self.family]

    def real(self, n: int) -> torch.Tensor:
        """The real samples metrics compare with (made once). A points file's are a fixed random
        subset: its first rows may all be one mode, as a file written mode by mode is."""
        if self._real is None:
            self._real = self._reference(n)
        return self._real

    def _reference(self, n: int) -> torch.Tensor:
        ds = self.dataset
        if self.family == "points" and isinstance(ds, Stored) and n < len(ds.data):
            pick = torch.randperm(len(ds.data), generator=torch.Generator().manual_seed(_REAL_SEED))[:n]
            return ds.take(pick.to(ds.data.device))
        return ds.reference(n)

    def __call__(self, samples: torch.Tensor) -> list[dict[str, float]]:
        rows = self._family_metrics(samples)
        if self.user is not None:
            real = self.real(samples.shape[1])
            for i, row in enumerate(rows):
                row.update(self.user(real, samples[i]))
        return rows

    def _points(self, fake: torch.Tensor) -> dict[str, float]:
        """One member's points metrics: modes covered and HQ % (the score's), k-NN coverage,
        recall and density (NaN for samples that are not finite)."""
        knn, hq = prdc_and_hq(fake, self._balls)
        modes = math.nan if hq is None else float(self._modes.covered(self._balls.standardize(fake), hq))
        return {
            "modes": modes,
            "hq": knn["precision"] * 100,
            **{c: knn[c] for c in ("coverage", "recall", "density")},
        }

    def _family_metrics(self, samples: torch.Tensor) -> list[dict[str, float]]:
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
            return [{**self._points(samples[i]), "swd": float(swd[i])} for i in range(k)]
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
            self.note = str(res.pop("note", "")) or f"metric: {res.get('metric_kind', '')}"
            res.pop("metric_kind", None)
            rows.append({c: float(res.get(c, math.nan)) for c in self.columns()})
        return rows


_REAL_SEED = 12345
_POINTS_REAL = 2500  # real samples of a points file the k-NN metrics and the clustering use
_USER_PROBE = 512  # real samples the user's metric is tried on before training (two halves)

# What each family's score is, in plain words (leaderboard caption, recommend's report).
SCORE_WORDS = {
    "mixture": "modes covered / all modes x HQ fraction (1.0 = every mode, all samples HQ)",
    "digits": "digits covered / 10 x HQ fraction, by the digits classifier (1.0 = perfect)",
    "stacked_digits": "modes covered / 1,000 x HQ fraction, by the digits classifier (1.0 = perfect)",
    "points": "modes covered / modes found x HQ fraction, where the modes are the k-means clusters "
    "of the real data and a sample is HQ inside a real sample's 5-NN ball (1.0 = every mode, all HQ)",
    "images": "minus FID",
    # images without `inception_weights`: every output that shows this score says it is a proxy
    "images_proxy": "minus fd_proxy, an offline proxy (the Frechet distance in random conv features, "
    "not FID; set `inception_weights` for FID)",
}


def dataset_eval_size(dataset: Dataset) -> int:
    """Real samples a points file's metrics compare with: a fixed random 2,500 (all, if fewer)."""
    return min(_POINTS_REAL, len(dataset.data)) if isinstance(dataset, Stored) else _POINTS_REAL


def _nan(columns: tuple[str, ...]) -> dict[str, float]:
    return {c: math.nan for c in columns}


__all__ = [
    "Evaluator",
    "METRIC_COLUMNS",
    "SCORE_WORDS",
    "mixture_metrics",
    "prdc",
    "score",
    "sliced_wasserstein",
]

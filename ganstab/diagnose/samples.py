"""A label decided from G's samples, where the user has them (`ganstab diagnose --samples S --real
R`; issue 30, item 5): the losses cannot tell every pair of labels apart, the samples can.

The samples are points (low-dimensional data such as 2-D mixtures): G's samples at each of
several evaluations, a `.npy` of shape (evaluations, samples, dims) or a folder of `.npy` files of
shape (samples, dims), one per evaluation in the order of their names. The real data is a `.npy`
of shape (points, dims). Its modes are found by k-means (the k of the best silhouette, 2 to
MAX_MODES), their width as the median over modes of the points' RMS distance to their centre per
dimension; then each evaluation is counted as ganstab counts its own mixtures (`mixture_metrics`:
modes covered, high-quality share, nearest-mode histogram) and labelled by docs/labels.md's rules
(`labels.label_run`): the same definitions as the labels the classifier learned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_MODES = 30
MIN_EVALUATIONS = 3  # the rules read a late window of consecutive evaluations
_FIT_POINTS = 1000  # real points the modes are found on (a random subset of a larger set)


class SamplesError(ValueError):
    """Samples or real data that cannot be read or compared; the message names the file."""


def load_points(path: Path, *, per_evaluation: bool) -> np.ndarray:
    """A `.npy` file (or, with `per_evaluation`, a folder of them) as a float array: (evals, n, d)
    with `per_evaluation`, else (n, d)."""
    path = Path(path)
    if per_evaluation and path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            images = [p.name for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
            what = "image files (images are not read yet: give points)" if images else "no .npy files"
            raise SamplesError(f"`{path}` holds {what}; give one .npy of G's samples per evaluation.")
        arrays = [_load(f) for f in files]
        if len({a.shape for a in arrays}) > 1:
            raise SamplesError(f"`{path}`: the .npy files differ in shape ({arrays[0].shape} and others).")
        x = np.stack(arrays)
    else:
        x = _load(path)
    want = 3 if per_evaluation else 2
    if x.ndim != want or not np.isfinite(x).all():
        shape = "(evaluations, samples, dims)" if per_evaluation else "(points, dims)"
        raise SamplesError(f"`{path}` must hold finite numbers of shape {shape}, but has shape {x.shape}.")
    return x


def _load(path: Path) -> np.ndarray:
    try:
        return np.asarray(np.load(path, allow_pickle=False), dtype=float)
    except (OSError, ValueError) as e:
        raise SamplesError(f"`{path}` is not a readable .npy array ({e}).") from None


def find_modes(real: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """(centres (M, d), std) of the real data's modes: the clustering a points file's score uses
    (`regions.cluster_modes`), on a random subset of the points."""
    import torch

    from ganstab.engine.metrics.regions import cluster_modes

    rng = np.random.default_rng(seed)
    pts = real[rng.choice(len(real), _FIT_POINTS, replace=False)] if len(real) > _FIT_POINTS else real
    if len(pts) < 4:
        raise SamplesError(f"the real data has {len(real)} points; at least 4 are needed to find its modes.")
    x = torch.as_tensor(pts).float()
    centres, _ = cluster_modes(x, MAX_MODES)
    labels = torch.cdist(x, centres).argmin(dim=1)
    rms = [float(((x[labels == j] - c) ** 2).mean().sqrt()) for j, c in enumerate(centres) if (labels == j).any()]
    return centres.numpy(), float(np.median(rms))


def label_from_samples(samples: np.ndarray, real: np.ndarray) -> tuple[str, dict[str, float], int]:
    """(label, the rules' late-window signals, modes found in the real data) of G's samples at
    successive evaluations against the real data."""
    import torch

    from ganstab.diagnose.labels import label_run
    from ganstab.engine.metrics.mixtures import mixture_metrics

    if samples.shape[0] < MIN_EVALUATIONS:
        raise SamplesError(
            f"the samples hold {samples.shape[0]} evaluations; the labelling rules need at least {MIN_EVALUATIONS}."
        )
    if samples.shape[2] != real.shape[1]:
        raise SamplesError(f"the samples have {samples.shape[2]} dims but the real data {real.shape[1]}.")
    centres, std = find_modes(real)
    m = mixture_metrics(torch.as_tensor(samples).float(), torch.as_tensor(centres).float(), std)
    evals = [
        {"modes": float(m["modes"][i]), "hq": float(m["hq"][i]), "near": m["near"][i].tolist()}
        for i in range(samples.shape[0])
    ]
    label, signals = label_run(evals, None, len(centres))
    return label, signals, len(centres)

"""Sample-quality metrics for GANs trained on scikit-learn's ``load_digits``.

The 8x8 digits have no standard Inception-style evaluator, so we train a small
MLP classifier on them once (deterministically, a few seconds on CPU), cache it
on disk, and use it the way the Gaussian-mixture experiments use the nearest
mode: count covered classes ("modes"), the share of confidently classified
samples ("hq"), the reverse KL of the class histogram to uniform ("kl"), and a
Frechet distance in the classifier's penultimate features ("fd").

Image convention: float tensors ``[N, 1, H, W]`` in ``[-1, 1]`` (real digits are
``x / 8 - 1``). Inputs larger than 8x8 are average-pooled back to 8x8 with
``adaptive_avg_pool2d`` before classification.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganstab.engine.data import digits_real_images
from ganstab.engine.metrics.frechet import frechet_distance

__all__ = [
    "CACHE_ENV_VAR",
    "CLASSIFIER_FILENAME",
    "DigitsClassifier",
    "digits_metrics",
    "load_digits_classifier",
    "stacked_digits_metrics",
]

CACHE_ENV_VAR = "GANSTAB_CACHE_DIR"
CLASSIFIER_FILENAME = "digits_classifier_v1.pt"
NUM_CLASSES = 10
_FORMAT_VERSION = 1
_ARCH = "mlp-64-128-64-10"
_SEED = 0
_EPOCHS = 60
_BATCH = 64
_HOLDOUT = 0.2
_TRAIN_NOISE_STD = 0.1
_KL_EPS = 1e-10


def _digits_labels() -> np.ndarray:
    from sklearn.datasets import load_digits

    return np.asarray(load_digits().target, dtype=np.int64)


class _DigitsMLP(nn.Module):
    """64 -> 128 -> 64 -> 10 MLP; the 64-unit hidden layer is the feature space for FD."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, NUM_CLASSES)

    def embed(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def _to_8x8(x: Tensor, name: str = "x") -> Tensor:
    """Validate a ``[N, 1, H, W]`` batch and average-pool it to 8x8 (float32)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, 1, H, W]; got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"{name} must have shape [N, 1, H, W] (greyscale); got {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[2] < 8 or x.shape[3] < 8:
        raise ValueError(f"{name} needs N >= 1 and H, W >= 8; got {tuple(x.shape)}")
    x = x.detach().float()
    if x.shape[2:] != (8, 8):
        x = F.adaptive_avg_pool2d(x, (8, 8))
    return x


class DigitsClassifier:
    """Frozen digits classifier: class probabilities and penultimate features.

    Attributes:
        accuracy: held-out accuracy measured when it was trained (fraction in [0, 1]).
        path: the cache file it was read from / written to.
        trained_now: True if this load trained it (cache missing or unreadable).
    """

    def __init__(self, net: _DigitsMLP, accuracy: float, path: Path, trained_now: bool) -> None:
        self.net = net.eval().requires_grad_(False)
        self.accuracy = float(accuracy)
        self.path = path
        self.trained_now = trained_now

    def _prepare(self, x: Tensor) -> Tensor:
        x = _to_8x8(x)
        self.net.to(x.device)
        return x

    @torch.no_grad()
    def probs(self, x: Tensor) -> Tensor:
        """Softmax class probabilities ``[N, 10]`` on ``x``'s device."""
        x = self._prepare(x)
        return torch.softmax(self.net(x), dim=1)

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer activations ``[N, 64]`` on ``x``'s device."""
        x = self._prepare(x)
        return self.net.embed(x)


def _resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ganstab"


def _train_classifier() -> tuple[_DigitsMLP, float]:
    """Train the MLP deterministically (fixed seed, own RNG) and return it with held-out accuracy."""
    from sklearn.model_selection import train_test_split

    images = digits_real_images(8)
    labels = torch.as_tensor(_digits_labels())
    idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        idx, test_size=_HOLDOUT, random_state=_SEED, stratify=labels.numpy()
    )
    x_train, y_train = images[train_idx], labels[train_idx]
    x_test, y_test = images[test_idx], labels[test_idx]

    gen = torch.Generator().manual_seed(_SEED)
    # fork_rng keeps the caller's global RNG stream untouched by nn.Linear's init.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        net = _DigitsMLP()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    net.train()
    # One intra-op thread: the ops are tiny, and with several threads a busy machine (parallel
    # trials) makes every op wait for a descheduled worker -- measured 2.5 s -> 77 s on 2 cores.
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(_EPOCHS):
            perm = torch.randperm(len(train_idx), generator=gen)
            for start in range(0, len(perm), _BATCH):
                batch = perm[start : start + _BATCH]
                xb = x_train[batch]
                # Small input noise: makes the classifier less brittle on imperfect GAN samples.
                xb = xb + _TRAIN_NOISE_STD * torch.randn(xb.shape, generator=gen)
                loss = F.cross_entropy(net(xb), y_train[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(prev_threads)
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x_test).argmax(dim=1) == y_test).float().mean())
    return net, accuracy


def _try_load(path: Path) -> tuple[_DigitsMLP, float] | None:
    """Load a cached classifier; None if missing or unusable in any way (it is then retrained)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != _FORMAT_VERSION or blob.get("arch") != _ARCH:
            return None
        accuracy = float(blob["accuracy"])
        if not 0.0 <= accuracy <= 1.0:
            return None
        net = _DigitsMLP()
        net.load_state_dict(blob["state_dict"], strict=True)
    except Exception:  # any unreadable cache means "retrain", never a crash
        return None
    return net, accuracy


def _save(path: Path, net: _DigitsMLP, accuracy: float) -> None:
    """Write atomically (temp file + rename) so concurrent runs never read a half-written cache."""
    blob = {
        "format": _FORMAT_VERSION,
        "arch": _ARCH,
        "accuracy": accuracy,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".digits_classifier_", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(blob, fh)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warnings.warn(
            f"could not cache the digits classifier at {path} ({exc}); it will be retrained next time",
            RuntimeWarning,
            stacklevel=3,
        )


def load_digits_classifier(cache_dir: str | os.PathLike[str] | None = None) -> DigitsClassifier:
    """Load the cached digits classifier, training and caching it first if needed.

    Cache folder: ``cache_dir``, else ``$GANSTAB_CACHE_DIR``, else ``~/.cache/ganstab``;
    file ``digits_classifier_v1.pt`` (state dict + held-out accuracy). A missing,
    corrupted or incompatible file is retrained (~2-3 s on CPU) and overwritten.
    Training is deterministic (seed 0) and does not touch the global torch RNG.
    """
    path = _resolve_cache_dir(cache_dir) / CLASSIFIER_FILENAME
    loaded = _try_load(path)
    if loaded is not None:
        net, accuracy = loaded
        return DigitsClassifier(net, accuracy, path, trained_now=False)
    net, accuracy = _train_classifier()
    _save(path, net, accuracy)
    return DigitsClassifier(net, accuracy, path, trained_now=True)


def digits_metrics(
    fake: Tensor,
    real: Tensor,
    *,
    classifier: DigitsClassifier | None = None,
    confidence: float = 0.9,
    with_histogram: bool = False,
) -> dict[str, float]:
    """Mode coverage, sample quality, reverse KL and feature FD of generated digits.

    Both ``fake`` and ``real`` are ``[N, 1, H, W]`` in ``[-1, 1]`` (H, W >= 8; pooled to 8x8).
    With ``N = len(fake)`` and ``K = 10`` classes:

    - ``hq``: percent of fake samples whose max class probability is ``>= confidence``
      (default 0.9) -- the analogue of the mixtures' "high quality %".
    - ``modes``: number of classes that receive at least ``max(1, round(0.1 * N / K))``
      high-quality samples, i.e. 10% of the count a perfectly balanced sampler would give.
    - ``kl``: ``KL(p_gen || uniform)`` of the predicted-class histogram of HQ samples,
      ``sum_k p_k log((p_k + 1e-10) K)``; 0 is perfectly balanced, ``log 10 ~= 2.303`` is
      full collapse onto one class. With no HQ sample at all it is reported as ``log 10``
      (the worst value) rather than NaN, so searches can rank it.
    - ``fd``: Frechet distance between classifier penultimate features of fake and real
      (needs >= 2 samples in each).

    Every value is a Python float (``modes`` is integral). ``with_histogram`` adds ``hist``,
    the per-class counts of HQ samples, and ``near``, of all samples (lists), for labelling runs
    by how the histogram moves.
    """
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not 0.0 < confidence <= 1.0
    ):
        raise ValueError(f"confidence must be a number in (0, 1]; got {confidence!r}")
    fake8 = _to_8x8(fake, "fake")
    real8 = _to_8x8(real, "real")
    if fake8.shape[0] < 2 or real8.shape[0] < 2:
        raise ValueError(
            f"fake and real need at least 2 samples each for the Frechet distance; got {fake8.shape[0]} and "
            f"{real8.shape[0]}"
        )
    clf = classifier if classifier is not None else load_digits_classifier()

    n = fake8.shape[0]
    probs = clf.probs(fake8).cpu()
    max_prob, pred = probs.max(dim=1)
    hq_mask = max_prob >= confidence
    hq_count = int(hq_mask.sum())
    counts = torch.bincount(pred[hq_mask], minlength=NUM_CLASSES).double()

    threshold = max(1, round(0.1 * n / NUM_CLASSES))
    modes = int((counts >= threshold).sum())

    if hq_count == 0:
        kl = math.log(NUM_CLASSES)
    else:
        p = counts / counts.sum()
        kl = float((p * torch.log((p + _KL_EPS) * NUM_CLASSES)).sum())
        kl = max(kl, 0.0)

    fd = frechet_distance(clf.features(fake8), clf.features(real8.to(fake8.device)))
    out = {
        "modes": float(modes),
        "hq": 100.0 * hq_count / n,
        "kl": kl,
        "fd": fd,
    }
    if with_histogram:
        out["hist"] = [int(c) for c in counts.tolist()]
        out["near"] = [int(c) for c in torch.bincount(pred, minlength=NUM_CLASSES).tolist()]
    return out


STACKED_CHANNELS = 3
STACKED_MODES = NUM_CLASSES**STACKED_CHANNELS  # 1,000


def stacked_digits_metrics(
    fake: Tensor,
    real: Tensor,
    *,
    classifier: DigitsClassifier | None = None,
    confidence: float = 0.9,
    with_histogram: bool = False,
) -> dict[str, float]:
    """Stacked digits (three digits in three channels, 1,000 modes), counted the way VEEGAN and
    PacGAN count Stacked MNIST: each channel is classified by the digits classifier on its own,
    and a sample's mode is the three-digit number ``100 a + 10 b + c``.

    ``fake`` and ``real`` are ``[N, 3, H, W]`` in ``[-1, 1]`` (H, W >= 8; pooled to 8x8).

    - ``hq``: percent of samples whose three channels are each classified with probability
      ``>= confidence``;
    - ``modes``: modes with at least ``max(1, round(0.1 * N / 1000))`` high-quality samples (one
      sample below 15,000 samples, as the papers count a mode with one sample);
    - ``kl``: ``KL(p_gen || uniform over 1,000)`` of the HQ samples' modes (``log 1000`` with none);
    - ``fd``: Frechet distance of the three channels' classifier features, concatenated.

    ``with_histogram`` adds ``hist`` (HQ samples per mode) and ``near`` (all samples per mode),
    lists of 1,000 counts.
    """
    if fake.dim() != 4 or fake.shape[1] != STACKED_CHANNELS:
        raise ValueError(f"fake must have shape [N, 3, H, W] (one digit per channel); got {tuple(fake.shape)}")
    if real.dim() != 4 or real.shape[1] != STACKED_CHANNELS:
        raise ValueError(f"real must have shape [N, 3, H, W] (one digit per channel); got {tuple(real.shape)}")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not 0.0 < confidence <= 1.0
    ):
        raise ValueError(f"confidence must be a number in (0, 1]; got {confidence!r}")
    if fake.shape[0] < 2 or real.shape[0] < 2:
        raise ValueError(
            f"fake and real need at least 2 samples each for the Frechet distance; got {fake.shape[0]} and "
            f"{real.shape[0]}"
        )
    clf = classifier if classifier is not None else load_digits_classifier()

    def channels(x: Tensor) -> Tensor:  # [N, 3, H, W] -> [3N, 1, 8, 8], channel-major
        return _to_8x8(x.detach().float().transpose(0, 1).reshape(-1, 1, *x.shape[2:]))

    n = fake.shape[0]
    probs = clf.probs(channels(fake)).cpu().view(STACKED_CHANNELS, n, NUM_CLASSES)
    max_prob, pred = probs.max(dim=2)  # [3, N]
    mode = pred[0] * 100 + pred[1] * 10 + pred[2]
    hq_mask = (max_prob >= confidence).all(dim=0)
    hq_count = int(hq_mask.sum())
    counts = torch.bincount(mode[hq_mask], minlength=STACKED_MODES).double()
    modes = int((counts >= max(1, round(0.1 * n / STACKED_MODES))).sum())
    if hq_count == 0:
        kl = math.log(STACKED_MODES)
    else:
        p = counts / counts.sum()
        kl = max(float((p * torch.log((p + _KL_EPS) * STACKED_MODES)).sum()), 0.0)

    def features(x: Tensor) -> Tensor:  # [N, 3 * 64]: the channels' features side by side
        f = clf.features(channels(x))
        return f.view(STACKED_CHANNELS, len(x), -1).transpose(0, 1).reshape(len(x), -1)

    fd = frechet_distance(features(fake), features(real.to(fake.device)))
    out = {"modes": float(modes), "hq": 100.0 * hq_count / n, "kl": kl, "fd": fd}
    if with_histogram:
        out["hist"] = [int(c) for c in counts.tolist()]
        out["near"] = [int(c) for c in torch.bincount(mode, minlength=STACKED_MODES).tolist()]
    return out

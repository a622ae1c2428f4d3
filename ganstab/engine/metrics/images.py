"""Sample-quality metrics for image data sets (MNIST, CIFAR-10, image folders).

With a local InceptionV3 weights file (torch-fidelity format) we report FID and KID
through torch-fidelity. Without one we never download: we fall back to an offline
proxy, the Frechet distance in the features of a fixed, randomly initialised conv
net ("FD-randconv"). The proxy ranks models on one data set but is not comparable
with published FID numbers; ``metric_kind`` says which one was computed.

Image convention: float tensors ``[N, C, H, W]`` in ``[-1, 1]``, ``C`` in {1, 3}.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganstab.engine.metrics.frechet import frechet_distance

__all__ = ["INCEPTION_FILE", "PROXY_NOTE", "PROXY_RESOLUTION", "image_metrics", "randconv_features"]

# torch-fidelity's InceptionV3 weights (its feature_extractor_inceptionv3.URL_INCEPTION_V3), which
# FID/KID need; the user downloads them once and names the file in `inception_weights`.
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"

PROXY_RESOLUTION = 32
_PROXY_SEED = 1234
_PROXY_WIDTHS = (32, 64, 128)
_BATCH = 256
_KID_MAX_SUBSET = 1000
# A few parameter names of torch-fidelity's InceptionV3 ("inception-v3-compat") state dict.
_INCEPTION_KEYS = ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.weight")


def _check_images(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, C, H, W]; got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape [N, C, H, W] with C in (1, 3); got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 images (a covariance is estimated); got {x.shape[0]}")
    return x.detach()


def _to_rgb(x: Tensor) -> Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


# ----------------------------------------------------------------------------- proxy


@functools.lru_cache(maxsize=1)
def _randconv_cpu() -> nn.Module:
    """The fixed random conv net, built once on CPU from its own seeded generator."""
    gen = torch.Generator().manual_seed(_PROXY_SEED)
    layers: list[nn.Module] = []
    in_ch = 3
    for i, width in enumerate(_PROXY_WIDTHS):
        conv = nn.Conv2d(in_ch, width, kernel_size=3, padding=1)
        with torch.no_grad():
            fan_in = in_ch * 9
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            conv.bias.zero_()
        layers += [conv, nn.ReLU()]
        if i < len(_PROXY_WIDTHS) - 1:
            layers.append(nn.AvgPool2d(2))
        in_ch = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers).eval().requires_grad_(False)


@torch.no_grad()
def randconv_features(x: Tensor) -> Tensor:
    """``[N, 128]`` features of the fixed random conv net (inputs resized to 32x32, grey -> RGB).

    Deterministic: the weights come from a fixed seed and do not depend on the global RNG.
    """
    x = _check_images(x, "x")
    net = _randconv_cpu()
    device = x.device
    net_dev = net if device.type == "cpu" else _copy_to(net, device)
    out = []
    for start in range(0, x.shape[0], _BATCH):
        xb = _to_rgb(x[start : start + _BATCH].float())
        if xb.shape[-2:] != (PROXY_RESOLUTION, PROXY_RESOLUTION):
            xb = F.interpolate(
                xb,
                size=(PROXY_RESOLUTION, PROXY_RESOLUTION),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        out.append(net_dev(xb))
    return torch.cat(out)


def _copy_to(net: nn.Module, device: torch.device) -> nn.Module:
    import copy

    return copy.deepcopy(net).to(device)


# ----------------------------------------------------------------------------- FID / KID


class _UInt8Images(torch.utils.data.Dataset):
    """Images as the uint8 ``[3, H, W]`` tensors torch-fidelity expects."""

    def __init__(self, x: Tensor) -> None:
        x = _to_rgb(x.float().cpu())
        self.data = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).contiguous()

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        return self.data[i]


def _check_inception_weights(path: Path) -> None:
    """Fail early, naming the file, if it is not a loadable InceptionV3 state dict."""
    if not path.is_file():
        raise ValueError(f"inception_weights must be a file; {path} exists but is not a regular file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any load failure means a bad weights file
        raise ValueError(
            f"inception_weights file {path} could not be loaded as a torch state dict: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(state, dict):
        # A file with the wrong content is a bad value (the path), not a caller type error.
        raise ValueError(
            f"inception_weights file {path} must hold an InceptionV3 state dict; got {type(state).__name__}"
        )
    missing = [k for k in _INCEPTION_KEYS if k not in state]
    if missing:
        raise ValueError(
            f"inception_weights file {path} is not a torch-fidelity InceptionV3 state dict: missing keys {missing}"
        )


def _fid_kid(fake: Tensor, real: Tensor, path: Path) -> dict[str, float | str]:
    import torch_fidelity

    _check_inception_weights(path)
    n_min = min(fake.shape[0], real.shape[0])
    try:
        res = torch_fidelity.calculate_metrics(
            input1=_UInt8Images(fake),
            input2=_UInt8Images(real),
            fid=True,
            kid=True,
            kid_subset_size=min(_KID_MAX_SUBSET, n_min),
            feature_extractor="inception-v3-compat",
            # A concrete path makes torch-fidelity call torch.load(path) instead of downloading.
            feature_extractor_weights_path=str(path),
            cuda=torch.cuda.is_available(),
            cache=False,
            save_cpu_ram=True,  # DataLoader without worker processes
            verbose=False,
        )
    except RuntimeError as exc:
        if "state_dict" in str(exc):
            raise ValueError(f"inception_weights file {path} does not match InceptionV3: {exc}") from exc
        raise
    return {
        "metric_kind": "fid",
        "fid": float(res["frechet_inception_distance"]),
        "kid": float(res["kernel_inception_distance_mean"]),
        "kid_std": float(res["kernel_inception_distance_std"]),
    }


def image_metrics(
    fake: Tensor,
    real: Tensor,
    *,
    inception_weights: str | os.PathLike[str] | None = None,
) -> dict[str, float | str]:
    """FID/KID when a local Inception weights file is given, else the offline FD-randconv proxy.

    ``fake`` / ``real``: ``[N, C, H, W]`` in ``[-1, 1]``, ``C`` in {1, 3} (grey is repeated to
    RGB), at least 2 images each; sizes may differ (both are resized by the extractor).

    Returns one of:

    - ``{"metric_kind": "fid", "fid", "kid", "kid_std"}`` if ``inception_weights`` is an
      existing file (torch-fidelity ``inception-v3-compat``; KID subset size
      ``min(1000, N_fake, N_real)``). A corrupt or non-Inception file raises ``ValueError``
      naming the path.
    - ``{"metric_kind": "proxy_fd_randconv", "fd_proxy", "note"}`` if it is None, empty or
      the file does not exist; nothing is downloaded.
    """
    fake = _check_images(fake, "fake")
    real = _check_images(real, "real")
    if fake.shape[1] != real.shape[1]:
        raise ValueError(
            f"fake and real must have the same channel count; got {fake.shape[1]} and {real.shape[1]}"
        )

    configured = inception_weights is not None and str(inception_weights).strip() != ""
    if configured:
        path = Path(inception_weights).expanduser()  # type: ignore[arg-type]
        if path.exists():
            return _fid_kid(fake, real, path)
        why = f"the file {str(path)!r} set in `inception_weights` does not exist"
    else:
        why = "`inception_weights` is not configured"

    feats_fake = randconv_features(fake)
    feats_real = randconv_features(real.to(fake.device))
    return {
        "metric_kind": "proxy_fd_randconv",
        "fd_proxy": frechet_distance(feats_fake, feats_real),
        "note": f"FID unavailable: {why}. {PROXY_NOTE}",
    }


# What every output that falls back to the proxy says (the trainer's note, the search's trial notes).
PROXY_NOTE = (
    "For FID/KID set `inception_weights` (e.g. --set inception_weights=PATH) to a local copy of "
    f"torch-fidelity's Inception weights file {INCEPTION_FILE} (from {INCEPTION_URL}; nothing is "
    "downloaded at run time). Until then the score is minus fd_proxy, an offline proxy (Frechet "
    "distance in the features of a fixed random conv net), not FID: it ranks runs on one data set, "
    "but is not comparable with published FIDs."
)

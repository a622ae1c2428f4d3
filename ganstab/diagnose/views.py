"""Views of one run as other people's code logs it: the same training, written down differently.

ganstab logs every 10 steps the losses of that step, with D's loss as the sum of its real and
fake terms. Other code logs every N iterations or per-epoch means, shows EMA-smoothed curves
(TensorBoard's smoothing slider, exported), writes D's loss as the mean of its two terms, or adds
a constant (a regulariser, a different label convention). A diagnosis should not change with any
of that (issue 15): the losses model learns from these views (`model.augment`), and
tests/diagnose/test_foreign_views.py asks the shipped model for the same label across them.

Every view keeps the trace schema: `step` is kept (subsampled or the block's last step) and every
other column is transformed like the losses where that makes sense (subsampling, block means and
smoothing), untouched by the loss-only views.
"""

from __future__ import annotations

import numpy as np

LOSSES = ("d_loss", "g_loss")

# name -> what it does. A view that would leave fewer than `min_rows` rows is not offered.
VIEWS = {
    "as logged": "the trace as ganstab logged it (every 10 steps, D's loss as a sum)",
    "every 50 steps": "every fifth row (a log written every 50 steps)",
    "every 100 steps": "every tenth row (a log written every 100 steps)",
    "per-epoch means": "means of blocks of 5 rows (per-epoch means of a 50-step epoch)",
    "EMA 0.6": "TensorBoard's smoothing at its default weight 0.6, debiased",
    "EMA 0.9": "the same at weight 0.9",
    "d_loss as a mean": "D's loss halved: the mean of its real and fake terms instead of the sum",
    "shifted and scaled": "both losses scaled by 0.5-2 and shifted by up to one spread",
}


def _block_means(x: np.ndarray, k: int) -> np.ndarray:
    n = len(x) // k
    return x[: n * k].reshape(n, k).mean(axis=1)


def _ema(x: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing (debiased exponential moving average); NaN rows stay NaN."""
    out = np.empty_like(x)
    last, num = 0.0, 0
    for i, v in enumerate(x):
        if not np.isfinite(v):
            out[i] = v
            continue
        last = last * weight + (1 - weight) * v
        num += 1
        out[i] = last / (1 - weight**num)
    return out


def view(trace: dict[str, np.ndarray], name: str, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """The trace as `name` (one of VIEWS) would log it. `rng` draws the shift and scale."""
    t = {k: np.asarray(v, dtype=float) for k, v in trace.items()}
    if name == "as logged":
        return t
    if name in ("every 50 steps", "every 100 steps"):
        k = 5 if name == "every 50 steps" else 10
        return {c: v[k - 1 :: k] for c, v in t.items()}
    if name == "per-epoch means":
        out = {c: _block_means(v, 5) for c, v in t.items() if c != "step"}
        out["step"] = t["step"][4::5][: len(out["d_loss"])]
        return out
    if name in ("EMA 0.6", "EMA 0.9"):
        w = 0.6 if name == "EMA 0.6" else 0.9
        return {c: (v if c == "step" else _ema(v, w)) for c, v in t.items()}
    if name == "d_loss as a mean":
        return {**t, "d_loss": t["d_loss"] / 2}
    if name == "shifted and scaled":
        rng = rng if rng is not None else np.random.default_rng(0)
        out = dict(t)
        for c in LOSSES:
            x = t[c]
            spread = float(np.nanstd(x[np.isfinite(x)])) if np.isfinite(x).any() else 1.0
            out[c] = x * 2 ** rng.uniform(-1, 1) + rng.uniform(-1, 1) * spread
        return out
    raise ValueError(f"Unknown log view {name!r}; choose one of {', '.join(VIEWS)}.")


def views(
    trace: dict[str, np.ndarray], names=tuple(VIEWS), min_rows: int = 20, seed: int = 0
) -> dict[str, dict[str, np.ndarray]]:
    """The views of `trace` that keep at least `min_rows` rows, by name."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        v = view(trace, name, rng)
        if len(v["d_loss"]) >= min_rows:
            out[name] = v
    return out

"""Views of one run as other people's code logs it: the same training, written down differently.

ganstab logs every 10 steps the losses of that step, with D's loss as the sum of its real and
fake terms. Other code logs every N iterations or per-epoch means, shows EMA-smoothed curves
(TensorBoard's smoothing slider, exported), writes D's loss as the mean of its two terms, or adds
a constant (a regulariser, a different label convention). A diagnosis should not change with any
of that (issue 15): the losses model learns from these views (`classifier.augment`), and
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


# The log intervals (in rows of a ganstab trace, logged every 10 steps) a foreign view draws from.
FOREIGN_INTERVALS = (1, 2, 3, 4, 5, 8, 10)


def foreign_view(
    trace: dict[str, np.ndarray], rng: np.random.Generator, min_rows: int = 20, keep: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The run as some other program might log it: several conventions at once, drawn at random.
    A log interval of 1-10 rows (the longest that keeps `min_rows`), as the value at that row or
    the interval's mean (half each); TensorBoard's EMA at 0.6, 0.8 or 0.9 (30 %); D's loss as a
    mean (50 %); both losses shifted and scaled (50 %). Only step, d_loss and g_loss are kept:
    that is what a foreign log has; and the columns in `keep` (D's outputs, for the outputs model),
    logged at the same interval, as means and smoothed as the losses are, never shifted. The draws
    do not depend on `keep`. The calibration is fitted on these (calibration.calibration):
    a user's log is rarely logged like ganstab's, and the views alone are one convention each."""
    t = {c: np.asarray(trace[c], dtype=float) for c in ("step", *LOSSES, *keep)}
    n = len(t["d_loss"])
    k = int(rng.choice([k for k in FOREIGN_INTERVALS if n // k >= min_rows] or [1]))
    if k > 1 and rng.random() < 0.5:
        m = n // k
        t = {c: (v[k - 1 :: k][:m] if c == "step" else _block_means(v, k)) for c, v in t.items()}
    elif k > 1:
        t = {c: v[k - 1 :: k] for c, v in t.items()}
    if rng.random() < 0.3:
        w = float(rng.choice([0.6, 0.8, 0.9]))
        t = {c: (v if c == "step" else _ema(v, w)) for c, v in t.items()}
    if rng.random() < 0.5:
        t["d_loss"] = t["d_loss"] / 2
    if rng.random() < 0.5:
        t = view(t, "shifted and scaled", rng)
    return t


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

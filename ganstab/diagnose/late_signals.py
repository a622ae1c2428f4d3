"""Signatures of collapse and of a hopping generator that a trace shows late in a run, for the
features (features.TraceFeatures) and the evidence of a diagnosis (classifier.evidence): each
loss against its own start, slow cycles of the late window, and how far G's fixed-latent samples
move between evaluations (`g_move`)."""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # under this a spread or a power is nothing


MOVE_LEVELS = ("g_move:late_level", "g_move:late_p90", "g_move:late_over_early")

# Loss-trace signatures of collapse that survive other people's logging (issue 15). Each loss is
# read against its own start, where D cannot yet tell real from fake: for NS, LS and hinge the
# start sits at (or at a fixed ratio to) the loss family's equilibrium, so a D that keeps winning
# leaves d_loss under its start and g_loss over it for the rest of the run. The shares of late
# rows below / above the start are free of scale, offset, sampling rate and smoothing.
# `late_vs_start` is the same in units of the start's size and the trace's spread. Slow cycles
# (G hopping between modes) show as one strong low frequency in the detrended late window.
COLLAPSE_LEVELS = (
    "d_loss:late_below_start",
    "g_loss:late_above_start",
    "d_loss:late_vs_start",
    "g_loss:late_vs_start",
    "d_loss:cycle_period",
    "d_loss:cycle_power",
    "g_loss:cycle_period",
    "g_loss:cycle_power",
)


def start_and_late(x: np.ndarray) -> tuple[float, np.ndarray]:
    d0, late = start_and_late_rows(np.asarray(x, float)[None])
    return float(d0[0]), late[0]


def start_and_late_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of equal length: each row's start (median of its first twentieth, at least 3 values)
    and its late window (last third, at least 3)."""
    n = x.shape[1]
    return np.median(x[:, : max(3, n // 20)], axis=1), x[:, -max(3, n // 3) :]


def detrend_rows(x: np.ndarray) -> np.ndarray:
    """Each row minus its least-squares line over 0, 1, ...: closed form, row by row the same
    whatever the batch (features must not depend on which traces share a call)."""
    t = np.arange(x.shape[1], dtype=float)
    tc = t - t.mean()
    slope = (x * tc).sum(axis=1) / (tc * tc).sum()
    return x - (slope[:, None] * tc + x.mean(axis=1, keepdims=True))


CYCLE_POWER = 0.3  # a late-window frequency with this share of the power is a cycle (evidence)


def cycle(late: np.ndarray) -> tuple[float, float]:
    """Period of the strongest frequency of the detrended late window, as a fraction of the
    window, and its share of the power (0, 0 for a flat or too short window)."""
    period, power = cycle_rows(np.asarray(late, float)[None])
    return float(period[0]), float(power[0])


def cycle_rows(late: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`cycle` of each row of equal-length late windows."""
    k_rows, m = late.shape
    zeros = np.zeros(k_rows)
    if m < 8:
        return zeros, zeros.copy()
    power = (np.abs(np.fft.rfft(detrend_rows(late), axis=1)) ** 2)[:, 1:]
    total = power.sum(axis=1)
    k = np.argmax(power, axis=1)
    ok = (np.std(late, axis=1) >= EPS) & (total >= EPS)
    share = power[np.arange(k_rows), k] / np.where(ok, total, 1.0)
    return np.where(ok, 1.0 / (k + 1), 0.0), np.where(ok, share, 0.0)


def cycle_over_noise(late: np.ndarray) -> tuple[float, float]:
    """`cycle`, read against white noise: the strongest of a window's m frequencies holds a share
    H_m / m of the power by chance (the mean largest of m exponential powers over their sum: 0.46
    for the 10-row late window of a 31-row log, 0.12 for the 67 rows of a 200-row one), so a short
    log shows a "cycle" whatever the run did. Returns the power's excess over that share, scaled to
    at most 1 (about 0 for noise, negative under it), and the period (a fraction of the window)
    only where the excess is positive, else 0. On foreign WGAN-GP logs of 25-62 rows the plain
    share was 0.40-0.55 for every label, where corpus runs of 200+ rows show 0.12 unless they
    oscillate (0.30), and the classifier read it as oscillation (bench/RESULTS.md)."""
    period, excess = cycle_over_noise_rows(np.asarray(late, float)[None])
    return float(period[0]), float(excess[0])


def cycle_over_noise_rows(late: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`cycle_over_noise` of each row of equal-length late windows."""
    period, power = cycle_rows(late)
    m = late.shape[1] // 2  # rfft bins without the constant term
    if m < 2:
        return np.zeros(len(late)), np.zeros(len(late))
    noise = float(np.sum(1.0 / np.arange(1, m + 1))) / m
    excess = np.where(power == 0.0, 0.0, (power - noise) / (1.0 - noise))
    return np.where(excess > 0, period, 0.0), excess


def collapse_levels(d: np.ndarray, g: np.ndarray, over_noise: bool = False) -> list[float]:
    return collapse_levels_rows(np.asarray(d, float)[None], np.asarray(g, float)[None], over_noise)[0].tolist()


def collapse_levels_rows(d: np.ndarray, g: np.ndarray, over_noise: bool = False) -> np.ndarray:
    """COLLAPSE_LEVELS of each row pair of equal-length d_loss and g_loss: [rows, 8]."""
    if d.shape[1] < 8:
        return np.zeros((len(d), len(COLLAPSE_LEVELS)))
    (d0, dl), (g0, gl) = start_and_late_rows(d), start_and_late_rows(g)
    out = [np.mean(dl < d0[:, None], axis=1), np.mean(gl > g0[:, None], axis=1)]
    for x0, late, x in ((d0, dl, d), (g0, gl, g)):
        out.append(np.clip((np.median(late, axis=1) - x0) / (np.abs(x0) + np.std(x, axis=1) + EPS), -20, 20))
    for late in (dl, gl):
        out += list(cycle_over_noise_rows(late) if over_noise else cycle_rows(late))
    return np.stack(out, axis=1)


MOVE_MIN_VALUES = 3  # g_move values (one per evaluation) before its late levels mean anything


def move_windows_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The late and early windows of rows of equal numbers of finite `g_move` values (at least
    MOVE_MIN_VALUES): their last and first third, at least two values each (the levels below and
    the evidence read the same windows)."""
    k = max(2, x.shape[1] // 3)
    return x[:, -k:], x[:, :k]


def move_levels(move: np.ndarray) -> list[float]:
    """Late levels of `g_move` (evaluation rows only, so a few values per run): how far G's
    fixed-latent samples move between evaluations, late in the run and against early on. A
    hopping generator moves about a mode's distance, a collapsed or converged one stays put.
    Zeros where there are fewer than MOVE_MIN_VALUES (a short prefix, or a trace without the column)."""
    x = np.asarray(move, dtype=float)
    return move_levels_rows(x[np.isfinite(x)][None])[0].tolist()


def move_levels_rows(x: np.ndarray) -> np.ndarray:
    """`move_levels` of each row of equal numbers of finite `g_move` values: [rows, 3]."""
    if x.shape[1] < MOVE_MIN_VALUES:
        return np.zeros((len(x), len(MOVE_LEVELS)))
    late, early = move_windows_rows(x)
    out = [
        np.log(np.median(late, axis=1) + 1e-3),
        np.log(np.percentile(late, 90, axis=1) + 1e-3),
        np.log((np.median(late, axis=1) + 1e-3) / (np.median(early, axis=1) + 1e-3)),
    ]
    return np.clip(np.stack(out, axis=1), -50, 50)

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
    k = max(3, len(x) // 20)
    return float(np.median(x[:k])), x[-max(3, len(x) // 3) :]


CYCLE_POWER = 0.3  # a late-window frequency with this share of the power is a cycle (evidence)


def cycle(late: np.ndarray) -> tuple[float, float]:
    """Period of the strongest frequency of the detrended late window, as a fraction of the
    window, and its share of the power (0, 0 for a flat or too short window)."""
    if len(late) < 8 or np.std(late) < EPS:
        return 0.0, 0.0
    t = np.arange(len(late), dtype=float)
    detrended = late - np.polyval(np.polyfit(t, late, 1), t)
    power = np.abs(np.fft.rfft(detrended)) ** 2
    power = power[1:]
    total = power.sum()
    if total < EPS:
        return 0.0, 0.0
    k = int(np.argmax(power))
    return 1.0 / (k + 1), float(power[k] / total)


def cycle_over_noise(late: np.ndarray) -> tuple[float, float]:
    """`cycle`, read against white noise: the strongest of a window's m frequencies holds a share
    H_m / m of the power by chance (the mean largest of m exponential powers over their sum: 0.46
    for the 10-row late window of a 31-row log, 0.12 for the 67 rows of a 200-row one), so a short
    log shows a "cycle" whatever the run did. Returns the power's excess over that share, scaled to
    at most 1 (about 0 for noise, negative under it), and the period (a fraction of the window)
    only where the excess is positive, else 0. On foreign WGAN-GP logs of 25-62 rows the plain
    share was 0.40-0.55 for every label, where corpus runs of 200+ rows show 0.12 unless they
    oscillate (0.30), and the classifier read it as oscillation (bench/RESULTS.md)."""
    period, power = cycle(late)
    m = len(late) // 2  # rfft bins without the constant term
    if m < 2 or power == 0.0:
        return 0.0, 0.0
    noise = float(np.sum(1.0 / np.arange(1, m + 1))) / m
    excess = (power - noise) / (1.0 - noise)
    return (period if excess > 0 else 0.0), float(excess)


def collapse_levels(d: np.ndarray, g: np.ndarray, over_noise: bool = False) -> list[float]:
    if len(d) < 8:
        return [0.0] * len(COLLAPSE_LEVELS)
    (d0, dl), (g0, gl) = start_and_late(d), start_and_late(g)
    out = [float(np.mean(dl < d0)), float(np.mean(gl > g0))]
    for x0, late, x in ((d0, dl, d), (g0, gl, g)):
        out.append(float(np.clip((np.median(late) - x0) / (abs(x0) + np.std(x) + EPS), -20, 20)))
    for late in (dl, gl):
        out += list(cycle_over_noise(late) if over_noise else cycle(late))
    return out


MOVE_MIN_VALUES = 3  # g_move values (one per evaluation) before its late levels mean anything


def move_windows(move: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The late and early windows of a run's finite `g_move` values: its last and first third, at
    least two values each (the levels below and the evidence read the same windows); None with
    fewer than MOVE_MIN_VALUES values."""
    x = np.asarray(move, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < MOVE_MIN_VALUES:
        return None
    k = max(2, len(x) // 3)
    return x[-k:], x[:k]


def move_levels(move: np.ndarray) -> list[float]:
    """Late levels of `g_move` (evaluation rows only, so a few values per run): how far G's
    fixed-latent samples move between evaluations, late in the run and against early on. A
    hopping generator moves about a mode's distance, a collapsed or converged one stays put.
    Zeros where there are fewer than MOVE_MIN_VALUES (a short prefix, or a trace without the column)."""
    windows = move_windows(move)
    if windows is None:
        return [0.0] * len(MOVE_LEVELS)
    late, early = windows
    out = [
        np.log(np.median(late) + 1e-3),
        np.log(np.percentile(late, 90) + 1e-3),
        np.log((np.median(late) + 1e-3) / (np.median(early) + 1e-3)),
    ]
    return [float(v) for v in np.clip(out, -50, 50)]

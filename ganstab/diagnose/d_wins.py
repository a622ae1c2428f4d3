"""Whether D is winning, read so that it cannot contradict the log (issue 30, item 4).

The first `d_wins` compared D's late loss with its early one, so a D that won from the first rows
(D(x) 0.95, D(G(z)) 0.03, G's loss about 10, D's 1e-4 throughout) read as "not seen": the baseline
was already a won game. Two readings that need no healthy start:

- the losses' *ratio*: for the NS, minimax-D and LS losses D's loss sits near G's or above at
  balance (NS: 1.39 against 0.69), and falls far under it only when D tells real from fake with
  confidence (NS at D(x) 0.95, D(G(z)) 0.05: 0.10 against 3.0). Free of the loss's scale.
- D's outputs, where the log has them (`d_real`, `d_fake`: the tutorial's D(x), D(G(z))), as
  probabilities: D at above 0.9 on real and under 0.1 on fake is D winning.

Each is read on the early and the late window, so the evidence can also say that D won from the
start, in which case the rows measured against the start (`d_loss_below_start_late`,
`g_loss_above_start_late`) say nothing and are left out.
"""

from __future__ import annotations

import numpy as np

RATIO_WINS = 0.05  # D's loss under this share of G's: D wins (NS at D(x) 0.95, D(G(z)) 0.05: 0.035)
PROB_REAL_WINS = 0.9  # D's median output on real data above this ...
PROB_FAKE_WINS = 0.1  # ... and on G's samples under this: D wins
START_SIGNALS = ("d_loss_below_start_late", "g_loss_above_start_late")
# The rows that read D's loss or outputs as a game D can win: left out for WGAN-GP and hinge losses.
D_WINS_ROWS = ("d_wins", "d_wins_from_start", "d_real_late", "d_fake_late")


def d_output_probabilities(trace: dict[str, np.ndarray], logits: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """D's outputs on real and fake rows as probabilities, or None without both columns. `logits`:
    the trace logs logits (ganstab's traces); otherwise values that all lie in [0, 1] are read as
    probabilities (the DCGAN tutorial's D(x), D(G(z)), after a sigmoid) and others as logits."""
    if "d_real" not in trace or "d_fake" not in trace:
        return None
    real, fake = np.asarray(trace["d_real"], float), np.asarray(trace["d_fake"], float)
    both = np.r_[real, fake]
    both = both[np.isfinite(both)]
    if len(both) < 4:
        return None
    if logits or both.min() < 0 or both.max() > 1:
        real, fake = 1 / (1 + np.exp(-np.clip(real, -50, 50))), 1 / (1 + np.exp(-np.clip(fake, -50, 50)))
    return real, fake


def _nanmedian_rows(x: np.ndarray) -> np.ndarray:
    """Each row's median over its values that are not NaN (NumPy's 2-D nanmedian is slow: the
    median where no row has a NaN)."""
    return np.nanmedian(x, axis=1) if np.isnan(x).any() else np.median(x, axis=1)


def _window_wins(d: np.ndarray, g: np.ndarray, probs, window: slice) -> np.ndarray:
    """Rows (equal-length traces) whose window says D wins: by the losses' ratio, or by D's outputs."""
    dl, gl = _nanmedian_rows(d[:, window]), _nanmedian_rows(g[:, window])
    by_losses = (gl > 0) & (dl >= 0) & (dl < RATIO_WINS * gl)
    if probs is None:
        return by_losses
    real, fake = (_nanmedian_rows(p[:, window]) for p in probs)
    return by_losses | ((real > PROB_REAL_WINS) & (fake < PROB_FAKE_WINS))


def d_wins_evidence(
    d: np.ndarray, g: np.ndarray, probs: tuple[np.ndarray, np.ndarray] | None, evs: list[dict[str, float]]
) -> None:
    """Each evidence dict of `evs` (classifier.evidence_batch: loss levels early and late) gets
    `d_wins` read as the module docstring says, `d_wins_from_start` where D had already won in the
    first quarter, and D's late outputs as probabilities (`d_real_late`, `d_fake_late`) where the
    log has them. `d`, `g`: the losses of equal-length traces, one per row; `probs`: their D outputs
    as probabilities (d_output_probabilities, stacked), or None."""
    q = max(2, d.shape[1] // 4)
    late = _window_wins(d, g, probs, slice(-q, None))
    start = _window_wins(d, g, probs, slice(0, q))
    real_late = _nanmedian_rows(probs[0][:, -q:]) if probs is not None else None
    fake_late = _nanmedian_rows(probs[1][:, -q:]) if probs is not None else None
    for r, ev in enumerate(evs):
        fell = ev["d_loss_late"] < 0.25 * max(ev["d_loss_early"], 1e-12) and ev["g_loss_late"] > ev["g_loss_early"]
        ev["d_wins"] = float(fell or late[r])
        if late[r] and start[r]:
            ev["d_wins_from_start"] = 1.0
            for name in START_SIGNALS:  # measured against a start that was already a won game
                ev.pop(name, None)
        if probs is not None:
            ev["d_real_late"] = float(real_late[r])
            ev["d_fake_late"] = float(fake_late[r])

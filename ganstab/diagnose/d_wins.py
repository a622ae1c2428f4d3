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


def _window_wins(d: np.ndarray, g: np.ndarray, probs, window: slice) -> bool:
    dl, gl = float(np.nanmedian(d[window])), float(np.nanmedian(g[window]))
    by_losses = gl > 0 and 0 <= dl < RATIO_WINS * gl
    if probs is None:
        return by_losses
    real, fake = (float(np.nanmedian(p[window])) for p in probs)
    return by_losses or (real > PROB_REAL_WINS and fake < PROB_FAKE_WINS)


def d_wins_evidence(trace: dict[str, np.ndarray], ev: dict[str, float], logits: bool) -> dict[str, float]:
    """The evidence `ev` (classifier.evidence: loss levels early and late) with `d_wins` read as
    the module docstring says, `d_wins_from_start` where D had already won in the first quarter,
    and D's late outputs as probabilities (`d_real_late`, `d_fake_late`) where the log has them."""
    d, g = np.asarray(trace["d_loss"], float), np.asarray(trace["g_loss"], float)
    q = max(2, len(d) // 4)
    probs = d_output_probabilities(trace, logits)
    fell = ev["d_loss_late"] < 0.25 * max(ev["d_loss_early"], 1e-12) and ev["g_loss_late"] > ev["g_loss_early"]
    late = _window_wins(d, g, probs, slice(-q, None))
    out = dict(ev)
    out["d_wins"] = float(fell or late)
    if late and _window_wins(d, g, probs, slice(0, q)):
        out["d_wins_from_start"] = 1.0
        for name in START_SIGNALS:  # measured against a start that was already a won game
            out.pop(name, None)
    if probs is not None:
        out["d_real_late"] = float(np.nanmedian(probs[0][-q:]))
        out["d_fake_late"] = float(np.nanmedian(probs[1][-q:]))
    return out

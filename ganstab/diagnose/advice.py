"""What to do about a diagnosis: short advice drawn from the ten lessons (docs/lessons.md).

Each item names the lesson it comes from, so a user can read the reasoning; the few basic checks
that are not lessons (data scaling, NaN in the data) say so instead of borrowing a lesson's
authority. Config keys in brackets are ganstab's `--set` names; the advice holds for any GAN.
"""

from __future__ import annotations

import math

from ganstab.diagnose.result import DIVERGED, LABELS

# Shared items: a run may need them for two reasons (oscillating and D winning); listed once.
SPECTRAL_NORM = (
    "Add spectral normalization to D, and to G as in SAGAN: the single most helpful technique "
    "[train.sn_d=true train.sn_g=true] (lesson 10)."
)
TTUR = (
    "Use TTUR, separate learning rates for D and G, e.g. lr_d 4e-4 and lr_g 1e-4; expect a higher "
    "G loss [train.lr_d=4e-4 train.lr_g=1e-4] (lesson 9)."
)
JUDGE_BY_SAMPLES = (
    "Do not stop a run on a loss spike alone: GAN losses jump; look at the samples before "
    "giving up on it (lesson 2)."
)

_ADVICE: dict[str, tuple[str, ...]] = {
    "collapsing": (
        "Lower the learning rate (e.g. halve lr_g and lr_d) and restart from scratch: the learning "
        "rate is the most important knob and a collapsed run rarely recovers [train.lr_g, train.lr_d] "
        "(lesson 5).",
        "Larger batches tolerate larger learning rates: if the rate must stay, raise the batch size "
        "[train.batch_size] (lesson 5).",
        "If a lower rate does not help, consider feature matching or minibatch discrimination, the "
        "usual alternatives against mode collapse (not built into ganstab) (lesson 5).",
    ),
    "oscillating": (
        SPECTRAL_NORM,
        "Use one-sided label smoothing, real labels 1 -> 0.9, so D does not become over-confident "
        "[train.label_smoothing=0.9] (lesson 7).",
        "Add instance noise to D's real and fake inputs, annealed to 0: it makes the game more "
        "stable and costs little [train.noise_std=0.1] (lesson 6).",
        TTUR,
        JUDGE_BY_SAMPLES,
    ),
    DIVERGED: (
        "Lower the learning rate and restart from scratch; a conservative rate is safe "
        "[train.lr_g, train.lr_d] (lesson 5).",
        "Add spectral normalization to D: it bounds D's Lipschitz constant, which keeps its outputs "
        "and gradients from exploding [train.sn_d=true] (lesson 10).",
        "Check the data scaling: inputs should lie in [-1, 1], the range of G's tanh output "
        "(a basic check, not one of the lessons).",
        "Check the data itself for NaN or Inf values (a basic check, not one of the lessons).",
    ),
    "converging": (
        "Keep training, and judge the result by its samples, not by the losses; a later loss spike "
        "alone is no reason to stop (lesson 2).",
    ),
}

# D's loss near 0 while G's is high: evidence["d_wins"] > this.
D_WINS_THRESHOLD = 0.5
_D_WINS = (
    "D is winning (its loss near 0, G's high), yet more filters in G rarely help: capacity is "
    "seldom the cause [model.g_mult] (lesson 1).",
    SPECTRAL_NORM,
    TTUR,
    "Changing the D:G update ratio only delays the problem; do not count on it [train.n_dis] (lesson 4).",
)


def advice_for(label: str, evidence: dict[str, float]) -> list[str]:
    """Advice for a diagnosis: the label's items, after the "D wins" items when the evidence says so.

    D winning is the more specific finding, so its items come first; an item needed for both
    reasons appears once.
    """
    if label not in (*LABELS, DIVERGED):
        raise ValueError(f"No advice for label {label!r}; expected one of: {', '.join((*LABELS, DIVERGED))}.")
    items: list[str] = []
    try:
        d_wins = float(evidence.get("d_wins", math.nan))
    except (TypeError, ValueError):
        d_wins = math.nan
    if label != DIVERGED and d_wins > D_WINS_THRESHOLD:
        items += _D_WINS
    items += _ADVICE[label]
    return list(dict.fromkeys(items))

"""Ground-truth labels of a run from its quality metrics over time (docs/labels.md).

Inputs are the run's evaluations (`evals.jsonl`: modes covered, HQ %, and two histograms over the
modes: `hist` counts high-quality samples, `near` counts all samples by nearest mode) and whether
it diverged. The losses are never looked at: labels are what the classifier must learn to predict
from losses alone.

Signals, over the *late window* (the last third of the evaluations):
- coverage: modes covered / M (a mode is covered by at least one HQ sample, as in docs/benchmarks.md);
- quality: HQ fraction;
- spread: effective number of modes of `near`, exp(entropy), over M (1 = uniform, 1/M = one mode);
- movement: total-variation distance between consecutive `near` histograms (0 = still).

Rules, in order:
1. diverged      NaN/Inf in the losses.
2. oscillating   the distribution keeps moving: mean late movement >= MOVE_OSC.
3. collapsing    mass sits on few modes and stays there: late spread <= SPREAD_COLLAPSE, coverage <=
                 COVER_COLLAPSE and still (movement <= MOVE_STILL). A collapsed generator that moves
                 between MOVE_STILL and MOVE_OSC is neither still nor hopping: ambiguous.
4. converging    stable (movement <= MOVE_STILL), mass over the modes (spread >= SPREAD_CONVERGE), late
                 coverage >= COVER_CONVERGE, some sharpness (final quality >= QUALITY_CONVERGE) and
                 quality not falling (final >= 0.6 x the best late value). On the way to a good
                 sampler, not necessarily there: short corpus runs rarely finish sharpening.
5. ambiguous     anything else (e.g. spread over every mode but never sharp): not forced into a class.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MOVE_OSC = 0.25
MOVE_STILL = 0.1
SPREAD_COLLAPSE = 0.45
COVER_COLLAPSE = 0.5
SPREAD_CONVERGE = 0.75
COVER_CONVERGE = 0.75
QUALITY_CONVERGE = 0.01
LATE_FRACTION = 1 / 3

AMBIGUOUS = "ambiguous"


def _spread(counts: list[float]) -> float:
    p = np.asarray(counts, dtype=float)
    if p.sum() <= 0:
        return 0.0
    p = p / p.sum()
    entropy = -float(np.sum(p[p > 0] * np.log(p[p > 0])))
    return math.exp(entropy) / len(p)


def _movement(a: list[float], b: list[float]) -> float:
    pa, pb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if pa.sum() <= 0 or pb.sum() <= 0:
        return 1.0 if pa.sum() != pb.sum() else 0.0
    return 0.5 * float(np.abs(pa / pa.sum() - pb / pb.sum()).sum())


def signals(evals: list[dict[str, Any]], n_modes: int) -> dict[str, float]:
    """The late-window signals of docs/labels.md (NaN where there are too few evaluations)."""
    usable = [e for e in evals if e.get("near") is not None]
    if len(usable) < 3:
        return {k: math.nan for k in ("coverage", "quality", "final_quality", "spread", "movement")}
    late = usable[-max(2, int(round(len(usable) * LATE_FRACTION))) :]
    moves = [_movement(a["near"], b["near"]) for a, b in zip(late, late[1:])]
    return {
        "coverage": float(np.mean([e["modes"] / n_modes for e in late])),
        "quality": float(np.max([e["hq"] / 100 for e in late])),
        "final_quality": late[-1]["hq"] / 100,
        "spread": float(np.mean([_spread(e["near"]) for e in late])),
        "movement": float(np.mean(moves)),
    }


def label_run(
    evals: list[dict[str, Any]], diverged_at: int | None, n_modes: int
) -> tuple[str, dict[str, float]]:
    """(label, signals) for one run; label is diverged, oscillating, collapsing, converging or
    ambiguous."""
    if diverged_at is not None:
        return "diverged", {"diverged_at": float(diverged_at)}
    s = signals(evals, n_modes)
    if any(math.isnan(v) for v in s.values()):
        return AMBIGUOUS, s
    if s["movement"] >= MOVE_OSC:
        return "oscillating", s
    if s["movement"] <= MOVE_STILL and s["spread"] <= SPREAD_COLLAPSE and s["coverage"] <= COVER_COLLAPSE:
        return "collapsing", s
    if (
        s["movement"] <= MOVE_STILL
        and s["spread"] >= SPREAD_CONVERGE
        and s["coverage"] >= COVER_CONVERGE
        and s["final_quality"] >= QUALITY_CONVERGE
        and s["final_quality"] >= 0.6 * s["quality"]
    ):
        return "converging", s
    return AMBIGUOUS, s

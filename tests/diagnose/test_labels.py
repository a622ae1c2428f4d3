"""Label rules on evaluation sequences: converging, collapsing, oscillating, diverged or ambiguous."""

from __future__ import annotations

import numpy as np
import pytest

from ganstab.diagnose.labels import label_run, signals


def _evals(near_seq, hq=50.0, modes=None):
    out = []
    for i, near in enumerate(near_seq):
        m = modes if modes is not None else sum(1 for c in near if c > 0)
        out.append({"step": 100 * (i + 1), "modes": m, "hq": hq, "near": near, "hist": near})
    return out


def test_stable_full_coverage_with_quality_is_converging():
    label, s = label_run(_evals([[100] * 8] * 12, hq=80), None, 8)
    assert label == "converging" and s["movement"] == 0 and s["spread"] == pytest.approx(1.0)


def test_mass_on_one_mode_is_collapsing():
    one = [2500, 0, 0, 0, 0, 0, 0, 0]
    label, s = label_run(_evals([[300] * 8] * 6 + [one] * 6, hq=90), None, 8)
    assert label == "collapsing" and s["spread"] == pytest.approx(1 / 8)


def test_collapse_that_drifts_between_still_and_hopping_is_ambiguous():
    # mass on one or two modes, shifting 15 % of it every evaluation: movement 0.15, neither
    # still (<= 0.1) nor hopping (>= 0.25)
    a, b = [2500, 0, 0, 0, 0, 0, 0, 0], [2125, 375, 0, 0, 0, 0, 0, 0]
    label, s = label_run(_evals([[300] * 8] * 6 + [a, b] * 3, hq=90), None, 8)
    assert label == "ambiguous" and s["movement"] == pytest.approx(0.15) and s["spread"] < 0.45


def test_mass_hopping_between_modes_is_oscillating():
    hops = [[2500 if j == i % 8 else 0 for j in range(8)] for i in range(12)]
    label, s = label_run(_evals(hops, hq=90), None, 8)
    assert label == "oscillating" and s["movement"] == pytest.approx(1.0)


def test_divergence_wins_and_unclear_runs_are_ambiguous():
    assert label_run(_evals([[100] * 8] * 12, hq=80), 1234, 8)[0] == "diverged"
    blurry = _evals([[100] * 8] * 12, hq=1.0, modes=3)  # spread everywhere, never sharp
    assert label_run(blurry, None, 8)[0] == "ambiguous"
    assert label_run(_evals([[100] * 8]), None, 8)[0] == "ambiguous"  # too few evaluations
    assert np.isnan(signals([], 8)["coverage"])

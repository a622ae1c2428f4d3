"""Late signatures of a run: slow cycles read against white noise of the window's length."""

from __future__ import annotations

import numpy as np
import pytest

from ganstab.diagnose.features import TraceFeatures


def test_slow_cycles_are_read_against_noise_of_the_logs_length():
    """late_signals.cycle_over_noise (the losses model's cycles since issue 15's WGAN-GP finding): white
    noise shows no cycle however short the window, where the plain share of the strongest
    frequency grows as the window shrinks; a real slow cycle stands out at either length."""
    from ganstab.diagnose.late_signals import COLLAPSE_LEVELS, cycle, cycle_over_noise

    rng = np.random.default_rng(0)
    for rows in (10, 20, 67, 200):
        noise = [rng.standard_normal(rows) for _ in range(300)]
        plain = np.mean([cycle(x)[1] for x in noise])
        excess = [cycle_over_noise(x) for x in noise]
        # about 0 (0.07 at 10 rows, where detrending and the Nyquist bin bend the noise share)
        assert abs(np.mean([e[1] for e in excess])) < 0.1, rows
        if rows == 10:
            assert plain > 0.35  # a 10-row window: one of five frequencies holds a third by chance
        # no cycle stands out: the period is given only where the excess is positive
        assert all(p == 0.0 for p, e in excess if e <= 0)
        t = np.arange(rows, dtype=float)
        wave = np.sin(2 * np.pi * t / (rows / 2)) + 0.3 * rng.standard_normal(rows)
        period, power = cycle_over_noise(wave)
        assert power > 0.5 and period == pytest.approx(0.5), rows
    tf = TraceFeatures(collapse=True, cycles_over_noise=True).fit(None)
    names = list(tf.get_feature_names_out())
    assert names[-len(COLLAPSE_LEVELS) :] == list(COLLAPSE_LEVELS)
    short = {"step": np.arange(31.0), "d_loss": rng.standard_normal(31), "g_loss": rng.standard_normal(31)}
    plain_f = TraceFeatures(collapse=True).fit(None).transform([short])[0]
    noise_f = tf.transform([short])[0]
    at = names.index("g_loss:cycle_power")
    assert noise_f[at] < plain_f[at] - 0.3  # the same 31-row log: its "cycle" was the window's length

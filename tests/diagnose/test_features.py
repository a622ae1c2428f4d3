"""The scale-free trace features: levels, collapse signatures, slow cycles, g_move and the
canonical form of a log."""

from __future__ import annotations

import numpy as np
import pytest

from ganstab.diagnose.features import LOSS_COLUMNS, RICH_COLUMNS, RICH_LEVELS, TraceFeatures
from ganstab.diagnose.late_signals import MOVE_LEVELS


def _trace(n=300, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return {
        "step": (t + 1) * 10.0,
        "d_loss": 1.3 - 0.3 * t / n + 0.05 * rng.normal(size=n) + 0.1 * np.sin(t / 7),
        "g_loss": 0.8 + 0.4 * t / n + 0.05 * rng.normal(size=n),
        "d_real": 0.5 + 0.1 * rng.normal(size=n),
        "d_fake": -0.5 + 0.1 * rng.normal(size=n),
        "grad_norm_d": np.abs(1 + 0.2 * rng.normal(size=n)),
        "grad_norm_g": np.abs(0.5 + 0.1 * rng.normal(size=n)),
        "g_spread": np.linspace(1.0, 0.2, n),
    }


@pytest.mark.parametrize("columns", [LOSS_COLUMNS, RICH_COLUMNS])
def test_features_ignore_the_scale_and_offset_of_each_column(columns):
    """A WGAN critic loss is an NS loss at another scale and offset, for these features."""
    tf = TraceFeatures(columns=columns).fit(None)
    base = _trace()
    scaled = {k: (v * 37.0 - 5.0 if k != "step" else v) for k, v in base.items()}
    a, b = tf.transform([base])[0], tf.transform([scaled])[0]
    names = list(tf.get_feature_names_out())
    shape = [i for i, name in enumerate(names) if name not in RICH_LEVELS]  # levels by design
    np.testing.assert_allclose(a[shape], b[shape], rtol=1e-6, atol=1e-8)
    assert len(a) == len(names) and (columns == LOSS_COLUMNS) == (len(shape) == len(names))


def test_rich_levels_hold_across_data_scales_and_see_a_shrinking_generator():
    tf = TraceFeatures(columns=RICH_COLUMNS).fit(None)
    names = list(tf.get_feature_names_out())
    at = {name: i for i, name in enumerate(names)}
    base = {**_trace(), "g_drift": np.abs(0.2 + 0.05 * np.random.default_rng(2).normal(size=300))}
    wider = {**base, "g_spread": base["g_spread"] * 12.0}  # the same run on a data set 12x as wide
    a, b = tf.transform([base, wider])
    np.testing.assert_allclose([a[at[n]] for n in RICH_LEVELS], [b[at[n]] for n in RICH_LEVELS], atol=1e-9)
    steady = {**base, "g_spread": np.full(300, 0.6)}
    c = tf.transform([steady])[0]
    # _trace's G shrinks from spread 1.0 to 0.2: late spread far under its peak; a steady G: at it
    assert a[at["g_spread:late_over_peak"]] < np.log(0.5) < c[at["g_spread:late_over_peak"]] == 0.0
    # against the data's spread: the same on a 12x wider data set; ~0 for a G that spreads like
    # the data, far under 0 for one whose late spread is a third of it
    data = {**steady, "data_spread": np.full(300, 0.6)}
    wide = {**data, "g_spread": data["g_spread"] * 12.0, "data_spread": data["data_spread"] * 12.0}
    shrunk = {**base, "data_spread": np.full(300, 1.0)}
    d, w, s = tf.transform([data, wide, shrunk])
    late = at["g_spread:late_over_data"]
    np.testing.assert_allclose(d[late:], w[late:], atol=1e-9)
    assert abs(d[late]) < 1e-5 and s[late] < np.log(0.4)
    assert a[late] == 0.0  # no data_spread column: the group falls back to zeros


def _with_move(trace: dict, per_eval: list[float], every: int = 8) -> dict:
    """`trace` with every rich column, `g_move` NaN but on every `every`-th row (evaluations)."""
    move = np.full(len(trace["d_loss"]), np.nan)
    rows = np.arange(every, len(move), every)[: len(per_eval)]
    move[rows] = per_eval[: len(rows)]
    n = len(move)
    return {**trace, "g_drift": np.full(n, 0.1), "data_spread": np.full(n, 0.6), "g_move": move}


def test_move_levels_tell_a_hopping_generator_from_a_settled_one():
    """g_move's late levels: a generator whose fixed-latent samples still jump a data scale per
    evaluation late in training (hopping) against one that moved early and settled."""
    from ganstab.diagnose.classifier import choose_model, missing_columns

    tf = TraceFeatures(columns=RICH_COLUMNS, move=True).fit(None)
    names = list(tf.get_feature_names_out())
    assert names[-len(MOVE_LEVELS) :] == list(MOVE_LEVELS)
    settles = _with_move(_trace(), list(np.geomspace(1.0, 0.01, 36)))
    hops = _with_move(_trace(), [1.0] * 36)
    a, b = tf.transform([settles, hops])[:, -len(MOVE_LEVELS) :]
    level, p90, late_over_early = range(3)
    assert a[level] < np.log(0.05) and abs(b[level]) < 0.01  # units of the data's scale
    assert a[late_over_early] < np.log(0.1) and abs(b[late_over_early]) < 0.01
    assert a[p90] >= a[level] and np.isfinite(a).all()
    # Two values are not yet a late level: zeros, and diagnosis keeps to the losses model until
    # the third evaluation gives one (MIN_FINITE), however rich the rest of the trace.
    early = _with_move(_trace(), [1.0, 0.5])
    assert (tf.transform([early])[0, -len(MOVE_LEVELS) :] == 0).all()
    assert missing_columns(early, "rich") == ["g_move"] and choose_model(early) == "losses"
    assert missing_columns(hops, "rich") == [] and choose_model(hops) == "rich"
    # a prefix reads only the evaluations inside it
    prefix = TraceFeatures(columns=RICH_COLUMNS, move=True, prefix=0.3).fit(None)
    turn = _with_move(_trace(), [0.02] * 11 + [1.0] * 25)
    assert prefix.transform([turn])[0, -3 + level] < np.log(0.05) < tf.transform([turn])[0, -3 + level]


def test_features_tell_traces_apart_and_work_on_prefixes():
    tf = TraceFeatures().fit(None)
    flat = {**_trace(), "d_loss": np.full(300, 1.0) + 1e-3 * np.random.default_rng(1).normal(size=300)}
    a, b = tf.transform([_trace(), flat])
    assert not np.allclose(a, b)
    prefix = TraceFeatures(prefix=0.3).fit(None).transform([_trace()])[0]
    assert np.isfinite(prefix).all() and not np.allclose(prefix, a)


def test_features_skip_non_finite_rows_and_missing_optional_columns():
    trace = _trace()
    trace["d_loss"][100] = np.nan
    del trace["g_spread"]
    x = TraceFeatures(columns=RICH_COLUMNS).fit(None).transform([trace])
    assert np.isfinite(x).all()


def test_the_canonical_form_of_a_log_holds_across_its_logging_interval():
    """features.canonical: a log cut into 20 blocks, as block means or as each block's last value.
    The same run logged every 10 steps and every 100 comes out the same ("last") or as the block
    means of its every-10-steps rows ("mean"), so the canonical features hold across the interval
    where the per-row ones do not."""
    from ganstab.diagnose.features import CANONICAL_ROWS, canonical

    x = np.arange(200.0)
    np.testing.assert_array_equal(canonical(x, "last"), x[9::10])  # every tenth row: a log every 100 steps
    np.testing.assert_array_equal(canonical(x, "mean"), x.reshape(20, 10).mean(axis=1))  # per-epoch means
    np.testing.assert_array_equal(canonical(x[9::10], "last"), x[9::10])  # 20 rows are canonical already
    uneven = canonical(np.arange(45.0), "mean")
    assert len(uneven) == CANONICAL_ROWS and np.all(np.diff(uneven) > 0) and uneven[-1] == pytest.approx(43.0)  # rows 42-44
    every_10 = _trace(400)
    every_100 = {k: v[9::10] for k, v in every_10.items()}
    tf = TraceFeatures(canonical=("last",)).fit(None)
    names = list(tf.get_feature_names_out())
    a, b = tf.transform([every_10, every_100])
    canon = [i for i, n in enumerate(names) if n.startswith("canonical last:")]
    per_row = [i for i, n in enumerate(names) if n.startswith("d_loss:") and n.endswith(("roughness", "ac1"))]
    assert len(canon) == 2 * 10 + 1 and len(names) == len(a)
    np.testing.assert_allclose(a[canon], b[canon], atol=1e-9)
    assert np.abs(a[per_row] - b[per_row]).max() > 0.1  # the per-row features see the interval
    with pytest.raises(ValueError, match="'lst'"):
        canonical(x, "lst")
    with pytest.raises(ValueError, match="tuple of forms"):
        TraceFeatures(canonical="mean").fit(None)
    from ganstab.diagnose.classifier import make_pipeline

    shipped = make_pipeline("losses").named_steps["features"].fit(None)  # as the losses model ships
    assert len(shipped.get_feature_names_out()) == len(shipped.transform([every_10])[0])


@pytest.mark.parametrize("columns", [LOSS_COLUMNS, RICH_COLUMNS])
def test_a_trace_has_the_same_features_alone_as_in_any_batch(columns):
    """Features are computed for a batch of equal-length traces at once (a search's cohort), row by
    row the same bits as alone: training reads runs one at a time, so a prediction must not depend
    on which traces share the call (tests/diagnose/test_folds.py relies on it too). Rounding shows
    on some data only (a reduction over a strided copy sums in another order), hence many traces."""
    tf = TraceFeatures(columns=columns, levels=True, move=True, collapse=True, canonical=("mean", "last")).fit(None)
    rng = np.random.default_rng(0)
    traces = []
    for seed, n in enumerate([300] * 12 + [333] * 12 + [120] * 4 + [25] * 3):
        t = _trace(n, seed)
        t["d_loss"] = t["d_loss"] + 0.05 * rng.normal(size=n).cumsum()  # a wandering loss, as runs have
        t["g_drift"] = np.abs(rng.normal(size=n))
        t["g_move"] = np.where(np.arange(n) % 10 == 0, 0.1 + 0.01 * rng.random(n), np.nan)
        traces.append(t)
    traces[1]["d_real"] = traces[1]["d_real"].copy()
    traces[1]["d_real"][7] = np.nan  # a hole: another batch
    together = tf.transform(traces + [traces[0]] * 3)
    alone = np.array([tf.transform([t])[0] for t in traces])
    assert np.array_equal(together[: len(traces)], alone)  # bit for bit
    assert np.array_equal(together[len(traces) :], np.repeat(alone[:1], 3, axis=0))
    assert np.isfinite(together).all() and not np.array_equal(alone[0], alone[1])

"""The "outputs" kind (issue 30 item 3), trained and measured but not shipped: the losses model's
features and D's outputs (the DCGAN tutorial's `D(x)`, `D(G(z))`) read as probabilities whatever
convention the log used, learned from views that keep them; and, since it is not shipped, a log
with D's outputs still gets the losses model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ganstab.cli import main
from ganstab.diagnose.classifier import KINDS, MODELS, make_pipeline, missing_columns, train_views
from ganstab.diagnose.d_outputs import OutputFeatures, output_feature_names, output_trace
from ganstab.diagnose.folds import FoldFeatures
from ganstab.diagnose.model_files import MODEL_DIR, fitted
from ganstab.diagnose.views import foreign_view
from tests.diagnose.corpus_examples import _first


def _tutorial_log(path: Path, rows: int = 200) -> Path:
    """A DCGAN-tutorial-style CSV (`epoch,iter,Loss_D,Loss_G,D(x),D(G(z))`, a per-epoch counter)."""
    rng = np.random.default_rng(1)
    lines = ["epoch,iter,Loss_D,Loss_G,D(x),D(G(z))"]
    for i in range(rows):
        epoch, it = divmod(i, 50)
        row = (
            1.3 + rng.normal(0, 0.1),
            0.75 + rng.normal(0, 0.1),
            0.5 + rng.normal(0, 0.03),
            0.45 + rng.normal(0, 0.03),
        )
        lines.append(f"{epoch},{it * 10}," + ",".join(f"{v:.6g}" for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_outputs_model_is_not_shipped_so_a_tutorial_log_gets_the_losses_model(tmp_path, capsys):
    """Measured and not shipped (bench/RESULTS.md, issue 30 item 3: on the foreign logs with D's
    outputs its confident answers were right less often than the losses model's): no half-shipped
    tier, `auto` gives a log with D(x) and D(G(z)) the losses model, and the evidence reads them."""
    assert set(MODELS) == {"losses", "rich"} and "outputs" in KINDS
    assert {p.stem for p in MODEL_DIR.glob("*.skops")} == set(MODELS)
    assert "outputs" not in fitted("CALIBRATION") and "outputs" not in fitted("TRAINING")
    assert main(["diagnose", str(_tutorial_log(tmp_path / "log.csv")), "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)
    assert d["model"] == "losses" and "d_real_late" in d["evidence"]


def test_the_outputs_kind_needs_d_outputs_on_twenty_rows(examples):
    e = _first(examples, "oscillating")
    only = {k: e.trace[k] for k in ("step", "d_loss", "g_loss", "d_real", "d_fake")}
    assert missing_columns(only, "outputs") == []
    sparse = {**only, "d_real": np.where(np.arange(len(only["step"])) < 19, only["d_real"], np.nan)}
    assert missing_columns(sparse, "outputs") == ["d_real"]
    assert missing_columns({k: only[k] for k in ("step", "d_loss", "g_loss")}, "outputs") == [
        "d_real",
        "d_fake",
    ]


def test_features_read_d_outputs_as_probabilities_whatever_the_convention(examples):
    """ganstab's logits (a trace with g_spread), the same outputs as probabilities (a tutorial's
    log) and as logits in a foreign log (values outside [0, 1]) give the same features."""

    def outside(e) -> bool:  # a foreign log's logits are told from probabilities by such values
        both = np.r_[e.trace["d_real"], e.trace["d_fake"]]
        return bool(both.min() < 0 or both.max() > 1)

    e = next(e for e in examples if e.label == "collapsing" and outside(e))
    tf = make_pipeline("outputs").named_steps["features"].fit(None)
    assert (
        isinstance(tf, OutputFeatures) and len(tf.get_feature_names_out()) == tf.transform([e.trace]).shape[1]
    )
    as_probabilities = output_trace(e.trace)
    assert 0 <= as_probabilities["d_real"].min() and as_probabilities["d_real"].max() <= 1
    foreign_logits = {k: e.trace[k] for k in ("step", "d_loss", "g_loss", "d_real", "d_fake")}
    a, b, c = tf.transform([e.trace, as_probabilities, foreign_logits])
    assert np.allclose(a, b, atol=1e-9) and np.allclose(a, c, atol=1e-9)
    n = len(output_feature_names())
    without = tf.transform([{k: e.trace[k] for k in ("step", "d_loss", "g_loss")}])[0]
    assert (without[-n:] == 0).all() and not (a[-n:] == 0).all()
    # the losses model's features come first, the same bits
    losses = make_pipeline("losses").named_steps["features"].fit(None).transform([e.trace])[0]
    assert np.array_equal(a[: len(losses)], losses)


def test_foreign_views_keep_d_outputs_without_changing_the_losses_draws(examples):
    e = _first(examples, "converging")
    t = output_trace(e.trace)
    for seed in range(6):
        plain = foreign_view(t, np.random.default_rng(seed), 20)
        kept = foreign_view(t, np.random.default_rng(seed), 20, keep=("d_real", "d_fake"))
        assert set(plain) == {"step", "d_loss", "g_loss"} and set(kept) == set(plain) | {"d_real", "d_fake"}
        for c in plain:
            assert np.array_equal(plain[c], kept[c], equal_nan=True)
        assert (
            len(kept["d_real"]) == len(kept["d_loss"])
            and 0 <= np.nanmin(kept["d_fake"]) <= np.nanmax(kept["d_fake"]) <= 1
        )
    # the outputs model's training views: the losses model's, with D's outputs as probabilities
    views_o, views_l = train_views(e.trace, "outputs", "k"), train_views(e.trace, "losses", "k")
    assert len(views_o) == len(views_l) and all("d_real" in v for v in views_o)
    assert all(np.array_equal(a["g_loss"], b["g_loss"]) for a, b in zip(views_o, views_l))


def test_fold_features_of_the_outputs_kind_are_its_pipelines(examples):
    """What training.fit_calibrated fits on (FoldFeatures) is what the pipeline computes of a
    trace at diagnosis: as logged (ganstab's logits) and in the calibration's foreign views,
    which keep D's outputs."""
    runs = [_first(examples, label) for label in ("converging", "collapsing")]
    folds = FoldFeatures(runs, "outputs", calibration_views=2)
    tf = make_pipeline("outputs").named_steps["features"].fit(None)
    for e in runs:
        assert np.allclose(folds.x[(e.id, 1.0)], tf.transform([e.trace])[0], atol=1e-12)
        assert len(folds.train_x[(e.id, 1.0)]) > 5 and len(folds.calibration_x[e.id]) == 2
        n = len(output_feature_names())
        assert all(not np.all(np.asarray(x[-n:]) == 0) for x in folds.calibration_x[e.id])  # D's outputs kept

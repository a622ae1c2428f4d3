"""Stacked digits (issue 15 item 6): three scikit-learn digits in three channels, 1,000 modes,
counted per channel with the digits classifier, as VEEGAN and PacGAN count Stacked MNIST."""

from __future__ import annotations

import math

import pytest
import torch

from ganstab.engine import config as C
from ganstab.engine.data import build_dataset, digits_real_images
from ganstab.engine.metrics import Evaluator, score
from ganstab.engine.metrics.digits import (
    STACKED_MODES,
    _digits_labels,
    load_digits_classifier,
    stacked_digits_metrics,
)


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    return load_digits_classifier(tmp_path_factory.mktemp("ganstab_cache"))


@pytest.fixture(scope="module")
def ds():
    return build_dataset(C.resolve(C.apply_overrides(C.Config(), ["data.name=stacked_digits"])).data)


def test_a_stack_is_three_real_digits_drawn_independently(ds):
    assert ds.shape == (3, 8, 8) and ds.kind == "images" and ds.metric == "stacked_digits"
    draws = ds.draw(4000, torch.Generator().manual_seed(0))
    x = ds.take(draws)
    digits = digits_real_images(8)
    assert x.shape == (4000, 3, 8, 8) and x.min() >= -1 and x.max() <= 1
    for c in range(3):  # channel c of a stack is the digit its draw names
        assert torch.equal(x[:, c : c + 1], digits[draws[:, c]])
    labels = torch.as_tensor(_digits_labels())[draws]
    modes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
    assert len(modes.unique()) > 950  # 4,000 draws reach almost all 1,000 modes
    # the trainer's layout: draws [K, B, 3] -> batches [K, B, 3, 8, 8]
    assert ds.take(draws.view(2, 2000, 3)).shape == (2, 2000, 3, 8, 8)


def test_real_stacks_cover_most_modes_and_collapsed_ones_one(ds, clf):
    real = ds.reference(5000)
    m = stacked_digits_metrics(ds.take(ds.draw(5000, torch.Generator().manual_seed(1))), real,
                               classifier=clf, with_histogram=True)
    assert m["modes"] > 900 and m["hq"] > 70 and m["kl"] < 0.3 and m["fd"] < 5
    assert len(m["near"]) == STACKED_MODES and sum(m["near"]) == 5000
    one = real[:1].expand(500, -1, -1, -1)  # one stack, repeated: one mode
    m1 = stacked_digits_metrics(one, real, classifier=clf, with_histogram=True)
    assert m1["modes"] <= 1 and sum(c > 0 for c in m1["near"]) == 1 and m1["fd"] > m["fd"]
    if m1["hq"] > 0:
        assert m1["kl"] == pytest.approx(math.log(STACKED_MODES), abs=1e-6)
    # a generator that always draws the same first digit reaches at most 100 modes
    fixed = real.clone()
    fixed[:, 0] = real[0, 0]
    m2 = stacked_digits_metrics(fixed, real, classifier=clf)
    assert 50 < m2["modes"] <= 100
    noise = torch.rand(500, 3, 8, 8) * 2 - 1
    assert stacked_digits_metrics(noise, real, classifier=clf)["hq"] < m["hq"] / 2


def test_stacked_metrics_reject_the_wrong_shape(ds, clf):
    real = ds.reference(10)
    with pytest.raises(ValueError, match=r"fake must have shape \[N, 3, H, W\].*\(10, 1, 8, 8\)"):
        stacked_digits_metrics(real[:, :1], real, classifier=clf)
    with pytest.raises(ValueError, match="confidence must be a number in"):
        stacked_digits_metrics(real, real, classifier=clf, confidence=1.5)


def test_the_engine_evaluates_stacked_digits_over_1000_modes(ds):
    ev = Evaluator(ds)
    assert ev.n_modes == STACKED_MODES and ev.columns() == ("modes", "hq", "kl", "fd")
    fake = ds.take(ds.draw(600, torch.Generator().manual_seed(2))).view(2, 300, 3, 8, 8).clone()
    fake[1] = float("nan")
    rows = ev(fake)
    assert rows[0]["modes"] > 200 and len(rows[0]["near"]) == STACKED_MODES
    assert math.isnan(rows[1]["modes"]) and rows[1]["near"] is None
    assert score("stacked_digits", rows[0], ev.n_modes) == pytest.approx(rows[0]["modes"] / 1000 * rows[0]["hq"] / 100)


def test_a_short_engine_run_on_stacked_digits_records_1000_mode_histograms(tmp_path):
    """A real (tiny) cohort run: three-channel G and D, the classifier's metrics per evaluation."""
    import json

    from ganstab.engine import CohortTrainer, apply_overrides, preset

    cfg = apply_overrides(
        preset("lessons"),
        ["data.name=stacked_digits", "data.n_eval=200", "train.steps=4", "train.eval_every=2",
         "model.channels=4", "model.latent_dim=8", "train.batch_size=16", "train.device=cpu"],
    )
    m = CohortTrainer([cfg], tmp_path / "run").train()[0]
    assert 0 <= m["eval_modes"] <= 200 and 0 <= m["eval_hq"] <= 100 and m["eval_fd"] > 0
    evals = [json.loads(line) for line in (tmp_path / "run" / "members" / "000" / "evals.jsonl").read_text().splitlines()]
    assert len(evals[-1]["near"]) == STACKED_MODES and sum(evals[-1]["near"]) == 200

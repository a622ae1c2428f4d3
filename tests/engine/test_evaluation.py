"""Evaluation inside training: the right metric family per data set, samples on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ganstab.cli import main
from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.trace import read_trace

TINY_CONV = ["model.channels=4", "model.latent_dim=8", "train.batch_size=16", "train.device=cpu"]


def test_digits_run_reports_classifier_metrics_and_saves_grids(tmp_path):
    cfg = apply_overrides(
        preset("lessons"),
        ["data.name=digits", "data.n_eval=200", "train.steps=4", "train.eval_every=2", *TINY_CONV],
    )
    summary = CohortTrainer([cfg], tmp_path / "run").train()
    m = summary[0]
    assert 0 <= m["eval_modes"] <= 10 and 0 <= m["eval_hq"] <= 100 and m["eval_fd"] > 0
    trace = read_trace(tmp_path / "run" / "members" / "000" / "trace.csv")
    assert np.isfinite(trace["eval_fd"][trace["step"] == 4]).all()
    evals = [
        json.loads(line)
        for line in (tmp_path / "run" / "members" / "000" / "evals.jsonl").read_text().splitlines()
    ]
    assert len(evals[-1]["near"]) == 10 and sum(evals[-1]["near"]) == 200  # every sample, by class
    grid = Image.open(tmp_path / "run" / "members" / "000" / "samples" / "step_000004.png")
    assert grid.size[0] >= 8 * 64  # 8 digits per row, upscaled to be visible


def test_image_folder_without_inception_weights_says_which_metric_it_used(tmp_path, capsys):
    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(data / f"{i}.png")
    args = [
        "train",
        "--out",
        str(tmp_path),
        "--name",
        "r",
        "--quiet",
        "--set",
        "data.name=folder",
        "--set",
        f"data.path={data}",
        "--set",
        "data.resolution=8",
        "--set",
        "data.n_eval=24",
        "--set",
        "train.steps=2",
        "--set",
        f"inception_weights={tmp_path / 'missing.pth'}",
    ]
    args += [x for o in TINY_CONV for x in ("--set", o)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "FID unavailable" in out and "missing.pth" in out
    trace = read_trace(tmp_path / "r" / "members" / "000" / "trace.csv")
    assert np.isfinite(trace["eval_fd_proxy"][-1]) and np.isnan(trace["eval_fid"][-1])


def test_point_file_run_reports_its_modes_knn_metrics_and_sliced_wasserstein(tmp_path):
    pts = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
    np.save(tmp_path / "p.npy", pts)
    cfg = apply_overrides(
        preset("vanilla"),
        [
            "data.name=points",
            f"data.path={tmp_path / 'p.npy'}",
            "train.steps=5",
            "train.device=cpu",
            "data.n_eval=300",
        ],
    )
    trainer = CohortTrainer([cfg], tmp_path / "run")
    summary = trainer.train()
    m = summary[0]
    assert m["eval_swd"] > 0 and 0 <= m["eval_coverage"] <= 1 and 0 <= m["eval_recall"] <= 1
    # the score is the mixtures' own, over the modes found by clustering the file's points
    assert m["eval_score"] == pytest.approx(m["eval_modes"] / trainer.evaluator.n_modes * m["eval_hq"] / 100)
    assert (tmp_path / "run" / "members" / "000" / "samples" / "step_000005.png").exists()


def test_g_move_is_the_fixed_latent_samples_displacement_in_units_of_the_data_scale():
    cfg = apply_overrides(preset("vanilla"), ["data.name=ring8", "data.n_eval=300", "train.steps=1"])
    trainer = CohortTrainer([cfg, cfg])
    x = trainer.sample(300)
    assert np.isnan(trainer._g_move(x)).all()  # nothing to compare with at the first evaluation
    assert trainer._g_move(x) == [0.0, 0.0]  # the same samples again: still
    scale = trainer.data_spread * 2**0.5  # ring8 is 2-D
    assert abs(trainer.data_spread - 2**0.5) < 0.05  # 8 modes on a circle of radius 2: std ~ sqrt(2)
    shifted = x.clone()
    shifted[1] += scale / 2**0.5  # member 1's samples all move by one data scale
    np.testing.assert_allclose(trainer._g_move(shifted), [0.0, 1.0], atol=1e-5)




def test_evaluations_fall_every_eval_every_and_at_each_member_s_end():
    from ganstab.engine.evaluation import eval_due

    local = np.array([5, 10, 12, 20])
    assert eval_due(local, steps=12, eval_every=5).tolist() == [True, True, True, True]
    assert eval_due(local, steps=30, eval_every=5).tolist() == [True, True, False, True]
    assert eval_due(local, steps=12, eval_every=0).tolist() == [False, False, True, True]  # end only


def test_a_refilled_member_s_first_g_move_has_no_reference():
    import torch

    from ganstab.engine.evaluation import SampleMoves

    moves = SampleMoves(n_samples=3, scale=2.0)
    x = torch.zeros(2, 5, 2)
    assert np.isnan(moves.measure(x, [0, 1])).all()
    moves.restart(1)
    y = x.clone()
    y[:, :3, 0] = 4.0  # the first three samples (those measured) moved by 4 = 2 data scales
    assert moves.measure(y, [0]) == [2.0, 2.0]  # slot 1 is not due: it keeps its reference
    z = y.clone()
    z[:, :3, 0] = 6.0
    out = moves.measure(z, [0, 1])
    assert out[0] == 1.0 and np.isnan(out[1])  # slot 1's new member: nothing to compare with
    assert moves.measure(z, [0, 1]) == [0.0, 0.0]

"""Evaluation inside training: the right metric family per data set, samples on disk."""

from __future__ import annotations

import json

import numpy as np
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


def test_point_file_run_reports_sliced_wasserstein(tmp_path):
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
    summary = CohortTrainer([cfg], tmp_path / "run").train()
    assert summary[0]["eval_swd"] > 0 and summary[0]["eval_score"] == -summary[0]["eval_swd"]
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



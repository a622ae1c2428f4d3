"""Printed progress lines saved from stdout (issue 30): Keras-GAN's `%d [D loss: %f, acc.: %.2f%%]
[G loss: %f]` and PyTorch-GAN's `[Epoch e/E] [Batch b/B] [D loss: %f] [G loss: %f]` are read
without `--tag`, the file's other lines skipped, and D's accuracy kept out of D's outputs."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from ganstab.cli import main
from ganstab.diagnose.logs import LogError, read_logs
from tests.diagnose.logs.log_files import _err

FOREIGN = Path(__file__).resolve().parents[3] / "bench" / "foreign"
KERAS_LINE = re.compile(r"^(\d+) \[D loss: (\S+), acc\.: (\S+)%\] \[G loss: (\S+)\]$")


def _keras_style():
    sys.path.insert(0, str(FOREIGN))  # it imports its data sets from mixtures_mlp
    spec = importlib.util.spec_from_file_location("foreign_keras_style", FOREIGN / "keras_style.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def keras_log(tmp_path_factory) -> Path:
    """A real log of bench/foreign/keras_style.py: its model summaries, then one line per
    iteration (a high learning rate, so that D's loss and accuracy move)."""
    out = tmp_path_factory.mktemp("keras")
    cfg = dict(data="hex7", lr_d=5e-3, lr_g=5e-3, beta1=0.5, latent_dim=8, widths=(32, 64), bn=True, alpha=0.2,
               d_dropout=0.0, out="tanh", batch=32, half_batch=False, iters=80, log_every=1, eval_every=50,
               real_label=1.0, seed=3)
    assert _keras_style().train(cfg, out) is None
    return out / "train.log"


def test_a_keras_gan_log_reads_without_tags_summaries_skipped(keras_log: Path) -> None:
    lines = keras_log.read_text().splitlines()
    rows = [m.groups() for m in map(KERAS_LINE.match, lines) if m]
    assert len(rows) == 80 and "Total params:" in "\n".join(lines[: len(lines) - 80])  # summaries first
    (log,) = read_logs(keras_log)
    # D's accuracy is no D output: only the step and the two losses are read
    assert list(log.trace) == ["step", "d_loss", "g_loss"] and log.notes == [] and log.diverged_at is None
    np.testing.assert_array_equal(log.trace["step"], [float(r[0]) for r in rows])
    np.testing.assert_array_equal(log.trace["d_loss"], [float(r[1]) for r in rows])
    np.testing.assert_array_equal(log.trace["g_loss"], [float(r[3]) for r in rows])
    assert len({r[2] for r in rows}) > 1  # the accuracy moved, and was still not read


def test_ganstab_diagnose_labels_a_keras_gan_log(keras_log: Path, capsys) -> None:
    assert main(["diagnose", str(keras_log), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["name"] == str(keras_log) and out["label"] in ("converging", "collapsing", "oscillating")
    assert out["model"] == "losses"


def test_keras_gan_lines_other_spellings_and_a_nan(tmp_path: Path) -> None:
    """The ACGAN/pix2pix variants (`op_acc`, `acc: 50%`, a time after the groups), a `|` between
    items, a loss printed as nan (divergence, kept), and a Keras model summary in between."""
    lines = ["Epoch 1/1", "Layer (type)  Output Shape  Param #", "input_1 (InputLayer)  [(None, 100)]  0"]
    for s in range(30):
        d = "nan" if s == 25 else f"{0.5 + s / 100:f}"
        lines.append(
            f"{s} [D loss: {d}, acc.: 50.00%, op_acc: 12.50%] [G loss: {1 + s / 10:f}]"
            if s % 2 else f"{s} [D loss: {d} | D accuracy: 3%] [G loss: {1 + s / 10:f}] time: 0:00:01.5"
        )
    path = tmp_path / "acgan.txt"
    path.write_text("\n".join(lines) + "\n")
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(30))
    assert log.trace["g_loss"][29] == pytest.approx(3.9) and np.isnan(log.trace["d_loss"][25])
    assert log.diverged_at == 25 and "d_loss is nan at step 25" in log.diverged_why


def test_pytorch_gan_lines_give_batches_done_as_the_step(tmp_path: Path) -> None:
    lines = [f"[Epoch {e}/3] [Batch {b}/10] [D loss: {0.6 + b / 100:f}] [G loss: {0.8:f}]"
             for e in range(3) for b in range(10)]
    lines.insert(12, "[Epoch 1/3] saved samples")  # bracketed, but no losses: skipped, said in a note
    path = tmp_path / "out.log"
    path.write_text("\n".join(lines) + "\n")
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(30))  # epoch * 10 + batch
    note = "1 progress line(s) without all of step, D loss, G loss were skipped (the first, line 13, lacks D loss, G loss)."
    assert log.notes == [f"`{path}`: {note}"]
    # without the total, the batch counter restarts each epoch: numbered on, as a per-epoch counter
    path.write_text("\n".join(re.sub(r"Batch (\d+)/10", r"Batch \1", x) for x in lines) + "\n")
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(30))
    assert "step counter starts again 2 time(s)" in log.notes[0]


def test_tags_name_printed_items(tmp_path: Path) -> None:
    lines = [f"{s} [D loss: 1.0, acc.: {s}%] [G loss: 2.0] [Critic real: {s / 30}]" for s in range(25)]
    path = tmp_path / "gan.log"
    path.write_text("\n".join(lines) + "\n")
    (log,) = read_logs(path, tags={"d_real": "Critic real"})
    assert log.trace["d_real"][3] == pytest.approx(0.1)
    with pytest.raises(LogError, match=_err(path, r"has no item `D out` \(given for d_fake\); its items: D loss")):
        read_logs(path, tags={"d_fake": "D out"})


def test_printed_lines_without_a_loss_say_which(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("\n".join(f"{s} [D loss: 1.0, acc.: 50.00%]" for s in range(25)) + "\n")
    with pytest.raises(LogError, match=_err(path, r"needs a `g_loss` item .*found: D loss, D acc\., step")):
        read_logs(path)

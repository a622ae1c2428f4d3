"""TensorBoard event files: scalars and TF2 tensors of the mapped tags, aligned by step."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose.logs import LogError, read_logs
from tests.diagnose.logs.log_files import _err


def _tensorboard_run(folder: Path) -> Path:
    """A real event file: custom tags, D logged every step, G every 2nd, D(x) every 4th."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder)) as w:
        for s in range(60):
            w.add_scalar("train/lossD", 1.0 / (s + 1), s)
            if s % 2 == 0:
                w.add_scalar("train/lossG", float(s), s)
            if s % 4 == 0:
                w.add_scalar("stats/real_score", 0.5, s)
            w.add_scalar("lr", 1e-4, s)
    (event,) = folder.glob("events.out.tfevents.*")
    return event


def test_tensorboard_custom_tags_aligned_by_step(tmp_path: Path) -> None:
    event = _tensorboard_run(tmp_path / "tb")
    tags = {"d_loss": "train/lossD", "g_loss": "train/lossG", "d_real": "stats/real_score"}
    for path in (event, event.parent):
        (log,) = read_logs(path, tags=tags)
        assert log.path == path
        assert list(log.trace) == ["step", "d_loss", "g_loss", "d_real"]
        np.testing.assert_array_equal(log.trace["step"], np.arange(0, 60, 2))  # steps with both losses
        np.testing.assert_allclose(log.trace["d_loss"], 1.0 / (np.arange(0, 60, 2) + 1), rtol=1e-6)
        np.testing.assert_array_equal(log.trace["g_loss"], np.arange(0, 60, 2))
        assert log.trace["d_real"][0] == 0.5 and math.isnan(log.trace["d_real"][1])


def test_tensorboard_default_aliases_and_a_folder_of_runs(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for run, scale in (("a", 1.0), ("b", 2.0)):
        with SummaryWriter(str(tmp_path / "logdir" / run)) as w:
            for s in range(25):
                w.add_scalar("Loss/D", scale, s)
                w.add_scalar("loss_G", scale * 3, s)
    logs = read_logs(tmp_path / "logdir")
    assert [log.path.name for log in logs] == ["a", "b"]
    assert logs[1].trace["d_loss"][0] == 2.0 and logs[1].trace["g_loss"][0] == 6.0
    assert len(logs[0].trace["step"]) == 25


def test_tensorboard_tf2_tensor_scalars(tmp_path: Path) -> None:
    """TF2's tf.summary.scalar stores tensors, not simple values."""
    from tensorboard.compat.proto import types_pb2
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    w = EventFileWriter(str(tmp_path))
    for s in range(20):
        values = [
            Summary.Value(tag=tag, metadata=meta, tensor=TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[v]))
            for tag, v in (("d_loss", 0.5), ("g_loss", float(s)))
        ]
        w.add_event(Event(step=s, summary=Summary(value=values)))
    w.close()
    (log,) = read_logs(tmp_path)
    np.testing.assert_array_equal(log.trace["g_loss"], np.arange(20))
    assert (log.trace["d_loss"] == 0.5).all()


def test_tensorboard_missing_tags_lists_the_tags_it_has(tmp_path: Path) -> None:
    event = _tensorboard_run(tmp_path / "tb")
    with pytest.raises(LogError, match=_err(event, r"needs a `d_loss` tag.*found: .*train/lossD")):
        read_logs(event)
    with pytest.raises(
        LogError, match=_err(event, r"no tag `train/loss_d` \(given for d_loss\).*train/lossG")
    ):
        read_logs(event, tags={"d_loss": "train/loss_d", "g_loss": "train/lossG"})


def test_a_tensorboard_step_counter_that_restarts_every_epoch_is_numbered_on(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "tb")) as w:
        for e in range(4):
            for s in range(0, 100, 2):
                w.add_scalar("d_loss", 1.0 + e, s)
                w.add_scalar("g_loss", 2.0 + e, s)
    (log,) = read_logs(tmp_path / "tb")
    np.testing.assert_array_equal(log.trace["step"], np.arange(0, 400, 2))
    np.testing.assert_array_equal(log.trace["d_loss"][[0, 49, 50, 199]], [1.0, 1.0, 2.0, 4.0])
    assert len(log.notes) == 1 and "starts again 3 time(s)" in log.notes[0]

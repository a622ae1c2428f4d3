"""read_logs on real files of every supported format, and every error it promises to explain."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose.logs import COLUMNS, LoadedLog, LogError, read_logs
from ganstab.engine.trace import read_trace


def _write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _rows(n: int, fmt: str = "{s},{d},{g}") -> list[str]:
    return [fmt.format(s=s, d=1.0 + s / 100, g=0.5 + s / 50) for s in range(1, n + 1)]


def _err(path: Path, problem: str) -> str:
    """A `match` pattern: the message names the file, then states the problem."""
    return re.escape(path.name) + ".*" + problem


# ------------------------------------------------------------------------------ ganstab run folders


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from ganstab.engine import CohortTrainer, apply_overrides, preset

    cfg = apply_overrides(
        preset("vanilla"),
        # evaluations every 50 steps: g_move gets the three values the rich model needs
        [
            "train.steps=300",
            "train.eval_every=50",
            "train.device=cpu",
            "model.hidden=16",
            "train.batch_size=64",
        ],
    )
    out = tmp_path_factory.mktemp("runs") / "myrun"
    CohortTrainer([cfg], out).train()
    return out


def test_run_folder_gives_one_log_per_member_in_the_schema(run_dir: Path) -> None:
    logs = read_logs(run_dir)
    assert len(logs) == 1
    log = logs[0]
    assert isinstance(log, LoadedLog)
    assert log.name == "myrun/member 000"
    assert log.path == run_dir / "members" / "000" / "trace.csv"
    assert list(log.trace) == list(COLUMNS)  # lr_*, noise_std and eval_* dropped
    raw = read_trace(log.path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(10, 301, 10, dtype=float))
    for col in COLUMNS:
        assert log.trace[col].dtype == np.float64
        np.testing.assert_array_equal(log.trace[col], raw[col])
    from ganstab.diagnose.model import diagnose_trace

    assert diagnose_trace(log.trace).model == "rich"  # ganstab's own runs get the rich model


def test_member_folder_and_its_trace_file_read_the_same(run_dir: Path) -> None:
    member = run_dir / "members" / "000"
    whole = read_logs(run_dir)[0]
    for path in (member, member / "trace.csv", str(member)):
        (log,) = read_logs(path)
        assert log.name == "myrun/member 000"
        for col in COLUMNS:
            np.testing.assert_array_equal(log.trace[col], whole.trace[col])


# ------------------------------------------------------------------------------------------- CSV


def test_csv_any_column_order_extra_columns_dropped_empty_optional_is_nan(tmp_path: Path) -> None:
    rows = [f"{0.5 + s},run-a,{s},{1.0 / s},,{s * 0.1}" for s in range(1, 26)]
    rows[3] = "inf,run-a,4,nan,0.2,0.4"  # a NaN/Inf loss is kept: it means divergence
    path = _write_csv(tmp_path / "log.csv", "g_loss,phase,step,d_loss,d_real,g_spread", rows)
    (log,) = read_logs(path)
    assert log.name == str(path) and log.path == path
    assert list(log.trace) == ["step", "d_loss", "g_loss", "d_real", "g_spread"]
    np.testing.assert_array_equal(log.trace["step"], np.arange(1, 26))
    assert log.trace["d_loss"][0] == 1.0 and math.isnan(log.trace["d_loss"][3])
    assert log.trace["g_loss"][3] == math.inf
    assert log.trace["d_real"][3] == 0.2 and np.isnan(np.delete(log.trace["d_real"], 3)).all()
    assert log.trace["g_spread"][24] == pytest.approx(2.5)


def test_csv_rows_are_sorted_by_step_and_a_repeated_step_keeps_its_last_row(tmp_path: Path) -> None:
    rows = _rows(30)[::-1] + ["5,99.0,98.0", "", "5,7.0,8.0"]  # reversed, then step 5 re-logged twice
    (log,) = read_logs(_write_csv(tmp_path / "log.csv", "step,d_loss,g_loss", rows))
    np.testing.assert_array_equal(log.trace["step"], np.arange(1, 31))
    assert (log.trace["d_loss"][4], log.trace["g_loss"][4]) == (7.0, 8.0)
    assert log.trace["d_loss"][5] == pytest.approx(1.06)


def test_csv_aliases_and_tags_name_the_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "dcgan.csv", "iteration,errD,errG,lossD_alt", _rows(20, "{s},{d},{g},{g}"))
    (log,) = read_logs(path)  # iteration, errD, errG are known aliases
    assert log.trace["d_loss"][0] == pytest.approx(1.01)
    (log,) = read_logs(path, tags={"d_loss": "lossD_alt"})
    assert log.trace["d_loss"][0] == pytest.approx(0.52)


# ----------------------------------------------------------------------------------------- JSONL


def test_jsonl_with_extra_keys_blank_lines_nulls_and_text_numbers(tmp_path: Path) -> None:
    lines = []
    for s in range(1, 23):
        rec = {"step": s, "d_loss": 1.0 / s, "g_loss": 2.0, "lr": 1e-4, "tag": "x"}
        if s % 2:
            rec["grad_norm_d"] = float(s)
        lines.append(json.dumps(rec))
    lines[4] = json.dumps({"step": 5, "d_loss": None, "g_loss": "NaN"})  # null, as JSON.stringify(NaN)
    lines[5] = json.dumps({"step": "6", "d_loss": "0.25", "g_loss": float("inf")})  # Python's Infinity
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines[:10]) + "\n\n   \n" + "\n".join(lines[10:]) + "\n")
    (log,) = read_logs(path)
    assert list(log.trace) == ["step", "d_loss", "g_loss", "grad_norm_d"]
    assert len(log.trace["step"]) == 22
    assert math.isnan(log.trace["d_loss"][4]) and math.isnan(log.trace["g_loss"][4])
    assert (log.trace["step"][5], log.trace["d_loss"][5], log.trace["g_loss"][5]) == (6.0, 0.25, math.inf)
    assert log.trace["grad_norm_d"][0] == 1.0 and math.isnan(log.trace["grad_norm_d"][1])


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    path.write_text(json.dumps([{"step": s, "d_loss": 1.0, "g_loss": 2.0} for s in range(20)]))
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(20))


def test_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    csv_path = _write_csv(tmp_path / "train.log", "step,d_loss,g_loss", _rows(20))
    assert len(read_logs(csv_path)[0].trace["step"]) == 20
    jl = tmp_path / "train.out"
    jl.write_text("\n".join(json.dumps({"step": s, "d_loss": 1, "g_loss": 2}) for s in range(20)))
    assert len(read_logs(jl)[0].trace["step"]) == 20


# ----------------------------------------------------------------------------------- TensorBoard


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


# ---------------------------------------------------------------------------------------- errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=_err(tmp_path / "nope.csv", "does not exist")):
        read_logs(tmp_path / "nope.csv")


def test_unknown_format(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("the GAN went badly\n")
    with pytest.raises(LogError, match=_err(text, "unknown format; expected a ganstab run folder")):
        read_logs(text)
    binary = tmp_path / "weights.npy"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LogError, match=_err(binary, "not UTF-8 text")):
        read_logs(binary)
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    with pytest.raises(LogError, match=_err(empty_folder, "folder without trace.csv")):
        read_logs(empty_folder)


def test_missing_required_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "trace.csv", "step,d_loss", [f"{s},1.0" for s in range(30)])
    with pytest.raises(LogError, match=_err(path, r"needs a `g_loss` column.*found: step, d_loss")):
        read_logs(path)
    jl = tmp_path / "log.jsonl"
    jl.write_text("\n".join(json.dumps({"step": s, "g_loss": 1.0, "misc": 0}) for s in range(30)))
    with pytest.raises(LogError, match=_err(jl, r"needs a `d_loss` key.*found: step, g_loss, misc")):
        read_logs(jl)
    jl.write_text(
        json.dumps({"step": 1, "d_loss": 1, "g_loss": 2}) + "\n" + json.dumps({"step": 2, "d_loss": 1})
    )
    with pytest.raises(LogError, match=_err(jl, "line 2: the object has no `g_loss` key")):
        read_logs(jl)


def test_non_numeric_values_name_column_and_line(tmp_path: Path) -> None:
    rows = _rows(25)
    rows[1] = "2,abc,0.5"
    path = _write_csv(tmp_path / "log.csv", "step,d_loss,g_loss", rows)
    with pytest.raises(LogError, match=_err(path, r"line 3: `d_loss` must be a number, but got 'abc'")):
        read_logs(path)
    rows[1] = "2,1.0,"
    _write_csv(path, "step,d_loss,g_loss", rows)
    with pytest.raises(LogError, match=_err(path, "line 3: `g_loss` is empty")):
        read_logs(path)
    rows[1] = "nan,1.0,1.0"
    _write_csv(path, "step,d_loss,g_loss", rows)
    with pytest.raises(LogError, match=_err(path, r"line 3: `step` \(the step\) must be a finite number")):
        read_logs(path)
    jl = tmp_path / "log.jsonl"
    recs = [{"step": s, "d_loss": 1.0, "g_loss": 1.0} for s in range(25)]
    recs[6]["g_loss"] = "abc"
    jl.write_text("\n".join(map(json.dumps, recs)))
    with pytest.raises(LogError, match=_err(jl, r"line 7: `g_loss` must be a number, but got 'abc'")):
        read_logs(jl)
    jl.write_text("\n".join(map(json.dumps, recs[:3])) + "\n{not json\n")
    with pytest.raises(LogError, match=_err(jl, "line 4 is not valid JSON")):
        read_logs(jl)


def test_too_few_rows_says_how_many_and_the_minimum(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "short.csv", "step,d_loss,g_loss", _rows(12) + ["12,1.0,1.0"])
    with pytest.raises(LogError, match=_err(path, r"has 12 rows \(distinct steps\); .*at least 20")):
        read_logs(path)
    assert len(read_logs(path, min_rows=10)[0].trace["step"]) == 12
    empty = _write_csv(tmp_path / "empty.csv", "step,d_loss,g_loss", [])
    with pytest.raises(LogError, match=_err(empty, "has 0 rows")):
        read_logs(empty)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(LogError, match=_err(blank, "is empty")):
        read_logs(blank)


def test_a_short_diverged_log_is_kept_for_the_divergence_rule(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "boom.csv", "step,d_loss,g_loss", [*_rows(4), "5,nan,inf"])
    (log,) = read_logs(path)
    assert len(log.trace["step"]) == 5 and math.isnan(log.trace["d_loss"][-1])


def test_unknown_tag_column_is_an_error(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "log.csv", "step,d_loss,g_loss", _rows(20))
    with pytest.raises(LogError, match="tags: `loss_d` is not a trace column; choose from: step, d_loss"):
        read_logs(path, tags={"loss_d": "x"})


# ------------------------------------------------- divergence, restarting counters (issue 16 item 5)


def test_an_inf_in_any_column_or_a_written_nan_in_a_per_step_column_is_divergence(tmp_path: Path) -> None:
    rows = [f"{s},1.0,0.7,{0.1 * s},0.5" for s in range(1, 31)]
    rows[14] = "15,1.0,0.7,inf,0.5"  # finite losses, an infinite gradient norm
    (log,) = read_logs(_write_csv(tmp_path / "inf.csv", "step,d_loss,g_loss,grad_norm_d,g_spread", rows))
    assert log.diverged_at == 15 and log.diverged_why == "grad_norm_d is inf at step 15"
    assert len(log.trace["step"]) == 30  # the rows are kept
    rows[14] = "15,1.0,0.7,1.5,nan"  # a NaN written in a column measured on every step
    (log,) = read_logs(_write_csv(tmp_path / "nan.csv", "step,d_loss,g_loss,grad_norm_d,g_spread", rows))
    assert log.diverged_at == 15 and "g_spread is nan" in log.diverged_why
    rows[14] = "15,1.0,0.7,1.5,"  # an empty cell is a value not measured, not a divergence
    (log,) = read_logs(_write_csv(tmp_path / "gap.csv", "step,d_loss,g_loss,grad_norm_d,g_spread", rows))
    assert log.diverged_at is None
    short = _write_csv(
        tmp_path / "short.csv", "step,d_loss,g_loss,d_real", ["1,1.0,1.0,0.1", "2,1.0,1.0,-inf"]
    )
    (log,) = read_logs(short)  # a diverged log is read however short
    assert log.diverged_at == 2 and log.diverged_why == "d_real is -inf at step 2"


def test_jsonl_null_is_a_gap_but_a_nan_literal_in_a_per_step_column_is_divergence(tmp_path: Path) -> None:
    recs = [{"step": s, "d_loss": 1.0, "g_loss": 1.0, "grad_norm_g": None} for s in range(1, 26)]
    jl = tmp_path / "log.jsonl"
    jl.write_text("\n".join(map(json.dumps, recs)))
    assert read_logs(jl)[0].diverged_at is None
    recs[20]["grad_norm_g"] = float("nan")  # json.dumps writes NaN
    jl.write_text("\n".join(map(json.dumps, recs)))
    assert read_logs(jl)[0].diverged_at == 21


def test_a_step_counter_that_restarts_every_epoch_is_numbered_on(tmp_path: Path) -> None:
    """4 epochs x 50 rows logged with a per-epoch step (0..49 each time) are one run of 200 rows,
    not the last epoch's 50; the note says what was done."""
    rows = [f"{s},{1.0 + e + s / 100},{0.5 + s / 50}" for e in range(4) for s in range(50)]
    path = _write_csv(tmp_path / "epochs.csv", "step,d_loss,g_loss", rows)
    (log,) = read_logs(path)
    np.testing.assert_array_equal(log.trace["step"], np.arange(200))
    np.testing.assert_array_equal(log.trace["d_loss"][[0, 50, 199]], [1.0, 2.0, 4.49])
    (note,) = log.notes
    assert "starts again 3 time(s) (first at line 52, back to 0)" in note and "0 to 199" in note
    # a step counter that goes back to a later step is a resumed run: the later rows count
    resumed = _rows(100) + [f"{s},{9.0},{9.0}" for s in range(81, 151)]
    (log,) = read_logs(_write_csv(tmp_path / "resumed.csv", "step,d_loss,g_loss", resumed))
    np.testing.assert_array_equal(log.trace["step"], np.arange(1, 151))
    assert log.trace["d_loss"][80] == 9.0 and log.trace["d_loss"][79] == pytest.approx(1.8)
    assert log.notes == [f"`{tmp_path / 'resumed.csv'}`: 20 rows log a step again (a resumed run); "
                         "the later row of each step is kept."]  # fmt: skip


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


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory) -> Path:
    """A real 3-member cohort whose member 1 (learning rates 1e12) diverges at step 2, before its
    first logged step: its trace has no rows, only summary.json tells."""
    from ganstab.engine import CohortTrainer, apply_overrides, preset
    from ganstab.engine.config import member_configs

    cfg = apply_overrides(
        preset("vanilla"), ["train.steps=200", "train.device=cpu", "model.hidden=16", "train.batch_size=64"]
    )
    cfgs = member_configs(cfg, 3)
    cfgs[1].train.lr_d = cfgs[1].train.lr_g = 1e12
    out = tmp_path_factory.mktemp("runs") / "boom"
    summary = CohortTrainer(cfgs, out).train()
    assert [m["status"] for m in summary] == ["finished", "diverged", "finished"]
    return out


def test_a_member_that_diverged_before_its_first_row_is_read_from_summary_json(diverged_run: Path) -> None:
    logs = read_logs(diverged_run)
    assert [len(log.trace["step"]) for log in logs] == [20, 0, 20]
    at = json.loads((diverged_run / "summary.json").read_text())[1]["diverged_at"]
    assert at <= 2  # before the first logged step (10)
    assert [log.diverged_at for log in logs] == [None, at, None]
    assert logs[1].diverged_why == f"summary.json says it diverged at step {at}"
    for path in (diverged_run / "members" / "001", diverged_run / "members" / "001" / "trace.csv"):
        (log,) = read_logs(path)
        assert log.diverged_at == at


def test_keep_going_gives_a_member_that_cannot_be_read_its_error(tmp_path: Path) -> None:
    for member, n in (("000", 25), ("001", 5), ("002", 25)):
        (tmp_path / "run" / "members" / member).mkdir(parents=True)
        _write_csv(tmp_path / "run" / "members" / member / "trace.csv", "step,d_loss,g_loss", _rows(n))
    with pytest.raises(LogError, match=r"001/trace.csv` has 5 rows"):
        read_logs(tmp_path / "run")
    logs = read_logs(tmp_path / "run", keep_going=True)
    assert [log.error is None for log in logs] == [True, False, True]
    assert "has 5 rows (distinct steps); diagnosis needs at least 20" in logs[1].error
    assert logs[1].trace == {} and len(logs[2].trace["step"]) == 25
    summary = [{"member": 0, "status": "finished"}, {"member": 1, "status": "stopped", "steps_trained": 50}]
    (tmp_path / "run" / "summary.json").write_text(json.dumps(summary))  # a search pruned member 1
    logs = read_logs(tmp_path / "run", keep_going=True)
    assert logs[1].error.endswith("(summary.json: the run stopped this member at step 50, e.g. pruned)")


def test_diagnose_labels_every_member_when_one_diverged_at_step_2(diverged_run: Path, capsys) -> None:
    """Issue 16: `ganstab diagnose RUN_DIR` exited 2 with no labels because member 1 had no rows."""
    from ganstab.cli import main

    assert main(["diagnose", str(diverged_run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in out] == ["boom/member 000", "boom/member 001", "boom/member 002"]
    assert out[1]["label"] == "diverged" and out[1]["rows"] == 0 and out[1]["diverged_at"] <= 2
    assert out[0]["label"] in ("converging", "collapsing", "oscillating") and out[0]["rows"] == 20
    assert out[2]["label"] in ("converging", "collapsing", "oscillating")
    assert main(["diagnose", str(diverged_run)]) == 0
    text = capsys.readouterr().out
    assert "boom/member 001: DIVERGED at step" in text and "(summary.json says it diverged at step" in text

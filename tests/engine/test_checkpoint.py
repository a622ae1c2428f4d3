"""Resume is safe and clear: a checkpoint loads only tensors and plain values, every unusable one
is a one-line error (exit 2) that names the file, nothing in the folder is rewritten by a failed
resume, and a save cut short leaves the previous checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ganstab.cli import main
from ganstab.engine import config as C
from ganstab.engine.run_folder import CheckpointError, RunFolder
from ganstab.engine.trainer import CohortTrainer

FAST = ["--set", "train.device=cpu", "--set", "model.hidden=32", "--set", "train.eval_every=20"]


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    args = ["train", "--preset", "vanilla", "--cohort-size", "2", "--out", str(tmp_path), "--name", "r"]
    assert main([*args, "--quiet", "--no-diagnose", "--set", "train.steps=40", *FAST]) == 0
    return tmp_path / "r"


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _resume(run: Path, capsys) -> str:
    assert main(["train", "--resume", str(run), "--set", "train.steps=60", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


class _Payload:
    """What an attacker pickles: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(run, tmp_path, capsys):
    marker = tmp_path / "pwned"
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["wall_time"] = _Payload(marker)
    torch.save(state, run / "checkpoint.pt")
    before = _snapshot(run)
    err = _resume(run, capsys)
    assert "checkpoint.pt" in err and "objects other than tensors" in err
    assert not marker.exists()
    assert _snapshot(run) == before


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda data: b"", "empty"),
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: b"not a checkpoint at all" * 10, "truncated or not a checkpoint"),
    ],
)
def test_a_damaged_checkpoint_is_one_line_naming_the_file(run, capsys, damage, words):
    path = run / "checkpoint.pt"
    path.write_bytes(damage(path.read_bytes()))
    before = _snapshot(run)
    err = _resume(run, capsys)
    assert str(path) in err and words in err
    assert _snapshot(run) == before


def test_a_config_edited_to_another_shape_is_named(run, capsys):
    for member in sorted((run / "members").iterdir()):
        cfg = C.load_yaml(member / "config.yaml")
        cfg.model.hidden = 48
        (member / "config.yaml").write_text(C.dump_yaml(cfg))
    before = _snapshot(run)
    err = _resume(run, capsys)
    assert "checkpoint.pt" in err and "do not fit" in err
    assert _snapshot(run) == before


def test_a_save_cut_short_leaves_the_previous_checkpoint(run, monkeypatch):
    folder = RunFolder(run)
    previous = (run / "checkpoint.pt").read_bytes()
    real_save = torch.save

    def dies_half_way(obj, f, *a, **kw):  # the process is killed while writing
        real_save(obj, f, *a, **kw)
        Path(f).write_bytes(Path(f).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    trainer = CohortTrainer.resume(run, steps=60)
    with pytest.raises(KeyboardInterrupt):
        trainer.checkpoint()
    monkeypatch.undo()
    assert (run / "checkpoint.pt").read_bytes() == previous
    assert folder.load_checkpoint(torch.device("cpu"))["step"] == 40


def test_resume_continues_after_a_safe_load(run):
    trainer = CohortTrainer.resume(run, steps=60)
    assert trainer.step == 40
    trainer.train()
    assert trainer.step == 60 and trainer.status == ["finished", "finished"]
    with pytest.raises(CheckpointError, match="holds no checkpoint.pt"):
        CohortTrainer.resume(run / "members")

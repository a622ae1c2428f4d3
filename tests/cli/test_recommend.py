"""`ganstab recommend`: bad input is refused naming the value, before a database is read or a
folder made."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganstab.cli import main


@pytest.mark.parametrize(
    "args, words",
    [
        (["--dataset", "rign8"], "unknown data set 'rign8' (did you mean 'ring8'?); choose one of: ring8,"),
        (["--dataset", "ring8", "--reseed", "0"], "reseed must be a whole number >= 1, but got 0."),
        (["--dataset", "ring8", "--set", "train.lr_d=-1"], "`train.lr_d`"),
        (["--dataset", "ring8", "--set", "lr=1"], "Unknown config key `lr`"),
    ],
)
def test_bad_input_is_refused_before_anything_is_read(tmp_path: Path, capsys, args: list[str], words: str) -> None:
    storage = tmp_path / "none.db"
    argv = ["recommend", *args, "--storage", f"sqlite:///{storage}", "--runs", str(tmp_path / "runs")]
    assert main(argv) == 2
    assert words in capsys.readouterr().err
    assert not storage.exists() and not (tmp_path / "runs").exists()

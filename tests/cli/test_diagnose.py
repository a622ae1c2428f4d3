"""`ganstab diagnose` on real CSV logs: its exit status says how many were labelled (0 all, 1 some,
2 none), a log that cannot be labelled is named on stderr, and bad --tag / --min-rows values are
refused naming the option."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ganstab.cli import main
from ganstab.diagnose import LABELS


def _log(path: Path, rows: int) -> Path:
    lines = ["step,d_loss,g_loss"]
    lines += [f"{10 * i},{1.2 + 0.1 * math.sin(i)},{0.8 + 0.1 * math.cos(i)}" for i in range(1, rows + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_exit_status_counts_the_logs_labelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, short = _log(tmp_path / "good.csv", 60), _log(tmp_path / "short.csv", 5)
    assert main(["diagnose", str(good), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["name"] == str(good) and entry["label"] in LABELS
    assert main(["diagnose", str(good), str(short), "--json"]) == 1
    err = capsys.readouterr().err
    assert "short.csv" in err and "1 of 2 logs not labelled (above)." in err
    assert main(["diagnose", str(short)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganstab: error: ") and "short.csv" in err and "not labelled" not in err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--tag", "d_loss"], "--tag must look like COLUMN=TAG, but got 'd_loss'."),
        (["--min-rows", "5"], "--min-rows must be at least 20 (the fewest rows the classifier reads), but got 5."),
    ],
)
def test_bad_options_are_refused_naming_them(tmp_path: Path, capsys, args: list[str], words: str) -> None:
    assert main(["diagnose", str(_log(tmp_path / "good.csv", 60)), *args]) == 2
    assert capsys.readouterr().err == f"ganstab: error: {words}\n"

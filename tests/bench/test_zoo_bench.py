"""bench/zoo.py: a shipped entry retrained on the given seeds gives one figure per seed, the bar
check against PacGAN4 follows the figures, and the table sets the row beside the published ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "zoo.py"
_spec = importlib.util.spec_from_file_location("zoo_bench", _PATH)
zb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zb)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_short_check_gives_a_row_per_seed_beside_the_published_ones(tmp_path: Path) -> None:
    row = zb.check("ring8", [7, 8], steps=20, runs=tmp_path)
    assert row["seeds"] == [7, 8] and row["steps"] == 20 and len(row["hq"]) == len(row["modes"]) == 2
    assert row["beats_pacgan4"] is False  # 20 steps cover no ring
    assert (tmp_path / "ring8" / "checkpoint.pt").is_file()  # resumable
    table = zb.table([row])
    assert "| ring8 | ganstab zoo:ring8 |" in table and "| ring8 | PacGAN4 | 7.8 | 95.9 | 0.07 |" in table


def test_the_bar_is_pacgan4s_row() -> None:
    assert zb.BAR == {"ring8": (95.9, 0.07), "grid25": (93.6, 0.04)}

"""`ganstab corpus`: a malformed --cohorts is refused naming the item, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganstab.cli import main
from ganstab.cli.corpus import _cohorts


def test_cohorts_read_as_data_set_counts() -> None:
    assert _cohorts("ring8=3, digits = 1") == {"ring8": 3, "digits": 1}


@pytest.mark.parametrize("text, item", [("ring8=x", "ring8=x"), ("ring8=3,grid25", "grid25")])
def test_a_malformed_cohorts_item_is_refused_naming_it(tmp_path: Path, capsys, text: str, item: str) -> None:
    assert main(["corpus", "--out", str(tmp_path / "c"), "--cohorts", text]) == 2
    assert capsys.readouterr().err == (
        f"ganstab: error: --cohorts must look like ring8=3,digits=1, but got {item!r}.\n"
    )
    assert not (tmp_path / "c").exists()

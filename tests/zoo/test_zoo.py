"""The zoo: every shipped configuration loads, says how it was found and what it measured, and
trains a few steps through `ganstab train --config zoo:NAME`; an unknown name lists the shipped
ones; `recommend` offers the shipped one when there is no history, labelled as shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganstab.cli import main
from ganstab.engine.config import ConfigError, load_yaml, resolve
from ganstab.recommend import SOURCE_SHIPPED, format_report, recommend
from ganstab.zoo import ZOO_DIR, config_path, entry_header, shipped_for, zoo_config, zoo_names

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = zoo_names()
FEW_STEPS = ["--set", "train.steps=20", "--set", "train.eval_every=10", "--set", "train.device=cpu"]


def test_the_zoo_ships_ring8_and_grid25() -> None:
    assert {"ring8", "grid25"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_loads_and_says_how_it_was_found(name: str) -> None:
    cfg = zoo_config(name)
    assert cfg.data.name == name and shipped_for(name) == name  # named after its data set
    assert config_path(f"zoo:{name}") == ZOO_DIR / f"{name}.yaml"
    header = " ".join(entry_header(name))
    for words in (
        "ganstab search",
        "wall",
        "seeds",
        "HQ",
        "reverse KL",
    ):  # the command, its cost, its figures
        assert words in header, f"{name}.yaml's header lacks {words!r}"


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_trains_a_few_steps(name: str, tmp_path: Path) -> None:
    code = main(["train", "--config", f"zoo:{name}", *FEW_STEPS, "--quiet", "--no-diagnose",
                 "--out", str(tmp_path), "--name", "run"])  # fmt: skip
    assert code == 0
    (member,) = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert member["status"] == "finished" and member["steps_trained"] == 20
    assert (
        load_yaml(tmp_path / "run" / "config.yaml").model == resolve(zoo_config(name)).model
    )  # the entry's networks


def test_an_unknown_name_lists_the_shipped_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", "zoo:rign8", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "Unknown zoo config zoo:rign8 (did you mean `ring8`?); shipped: " in err
    assert all(f"zoo:{n}" in err for n in NAMES)
    with pytest.raises(ConfigError, match="shipped: "):
        config_path("zoo:")
    assert config_path("my.yaml") == Path("my.yaml")  # a path stays a path
    assert shipped_for("digits") is None or "digits" in NAMES


def test_recommend_without_history_offers_the_shipped_config(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'none.db'}"  # no database: no history
    out = tmp_path / "grid25.yaml"
    rec = recommend("grid25", storage=storage, reseed=1, steps=20, out=out, runs_dir=tmp_path / "runs",
                    overrides=["train.eval_every=10"], workers=1)  # fmt: skip
    assert rec.source == SOURCE_SHIPPED and rec.best.label == "shipped zoo:grid25"
    assert "no history for grid25" in rec.message and "the configuration ganstab ships for it" in rec.message
    written = load_yaml(out)
    shipped = zoo_config("grid25")
    assert (
        written.train.lr_d == shipped.train.lr_d
        and written.model == resolve(shipped).model
        and written.train.steps == 20
    )
    assert out.read_text().startswith("# ganstab recommend --dataset grid25 (shipped): shipped zoo:grid25")
    assert "(shipped)" in format_report(rec)

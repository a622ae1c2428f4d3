"""bench/diagnosis_user_networks.py's `collapse` draw: its members vary only member keys (a cohort
can hold them), take one of its two learning-rate regimes with the lessons against collapse off,
and the plain draw stays the corpus's sampler."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from ganstab.diagnose.corpus_runs import sample_member
from ganstab.engine import apply_overrides, preset
from ganstab.engine.config import MEMBER_KEYS, check_cohort

_PATH = Path(__file__).resolve().parents[2] / "bench" / "diagnosis_user_networks.py"
_spec = importlib.util.spec_from_file_location("diagnosis_user_networks", _PATH)
dun = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dun)


def test_collapse_members_take_one_regime_with_the_lessons_off() -> None:
    rng = random.Random(0)
    members = [dict(o.split("=", 1) for o in dun.sample_collapse_member(rng)) for _ in range(200)]
    regimes = []
    for m in members:
        assert {f"train.{k}" for k in ("lr_g", "lr_d", "loss", "sn_g", "seed")} <= set(m) <= MEMBER_KEYS
        assert m["train.sn_g"] == "false" and m["train.loss"] in ("ns", "ls", "minimax")
        ratio = float(m["train.lr_g"]) / float(m["train.lr_d"])
        if ratio > 1:  # D nearly still
            assert 9.5 <= ratio <= 105 and m["train.n_dis"] == "1"
        else:  # G hardly moves
            assert 1 / 52 <= ratio <= 1 / 9.5 and float(m["train.lr_g"]) <= 1.01e-4
        regimes.append(ratio > 1)
    assert 60 <= sum(regimes) <= 140  # about half each


def test_a_collapse_cohort_is_a_valid_cohort_of_the_user_mlp() -> None:
    _, common = dun.ARCHITECTURES["ln_mlp"]
    rng = random.Random(1)
    check_cohort(
        [apply_overrides(preset("vanilla"), [*common, *dun.sample_collapse_member(rng)]) for _ in range(8)]
    )


def test_the_default_draw_is_the_corpus_sampler_and_an_unknown_one_is_refused() -> None:
    assert dun.sampler("plain") is sample_member
    assert dun.sampler("collapse") is dun.sample_collapse_member
    with pytest.raises(ValueError, match="`--draw` must be one of plain, collapse, but got 'wild'"):
        dun.sampler("wild")


def test_pooling_reads_a_file_without_a_draw_as_plain_and_lists_each_wrong_answer(tmp_path: Path) -> None:
    def run(arch: str, truth: str, rich: str) -> dict:
        return {"arch": arch, "overrides": [], "truth": truth, "rich": rich, "uncertain": False}

    (tmp_path / "old.json").write_text(json.dumps({"details": [run("a", "converging", "converging")]}))
    new = [
        run("a", "collapsing", "collapsing"),
        run("b", "collapsing", "converging"),
        run("b", "ambiguous", "x"),
    ]
    (tmp_path / "new.json").write_text(json.dumps({"draw": "collapse", "details": new}))
    res = dun.pool([tmp_path / "old.json", tmp_path / "new.json"])
    assert (res["runs"], res["scored"]) == (4, 3)
    assert res["draw=plain"]["runs"] == 1 and res["draw=collapse"]["scored"] == 2
    assert res["arch=a"]["right"] == 2 and res["draw=collapse,arch=b"]["right"] == 0
    assert [(w["file"], w["draw"], w["truth"], w["rich"]) for w in res["wrong"]] == [
        ("new.json", "collapse", "collapsing", "converging")
    ]

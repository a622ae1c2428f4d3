"""`ganstab diagnose --data/--arch/--loss`: what a user knows of their run conditions the advice
(issue 15, item 5), a ganstab run folder's config says it without being asked, and a bad value is
refused naming the option and the value. Real logs: a run of the foreign benchmark's MLP script
(bench/foreign/data) and real ganstab runs trained here."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from ganstab.cli import main
from ganstab.diagnose.advice import SN_G_MLP, advice_for

DATA = Path(__file__).resolve().parents[2] / "bench" / "foreign" / "data"
# An LSGAN MLP on a 2-D mixture that collapsed (labelled from its samples); the shipped losses
# model calls it collapsing too, so its advice is the ranked kind that the context changes.
RUN = "mixtures_mlp-0-0012"


@pytest.fixture(scope="module")
def foreign_log(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("foreign")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress((DATA / "logs.tar.gz").read_bytes()))) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(RUN + "/")]
        tar.extractall(out, members=members, filter="data")
    (log,) = (out / RUN).glob("*.csv")
    return log


def _diagnose(capsys, *argv: str) -> dict:
    assert main(["diagnose", *argv, "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    return out


def test_the_context_changes_the_advice_of_a_foreign_log(foreign_log: Path, capsys) -> None:
    bare = _diagnose(capsys, str(foreign_log))
    assert bare["label"] == "collapsing", bare["probabilities"]
    assert bare["context"] == {}
    assert any("label smoothing" in i for i in bare["advice"])
    assert any(i.startswith("Not advised here: add spectral normalization to G") for i in bare["advice"])

    # what the script really is: an MLP G without BatchNorm on a 2-D mixture, LSGAN loss
    mlp = _diagnose(capsys, str(foreign_log), "--data", "mixtures", "--arch", "mlp", "--loss", "ls")
    assert mlp["context"] == {"data": "2-D mixtures", "g": "mlp", "loss": "ls"}
    assert mlp["label"] == bare["label"] and mlp["probabilities"] == bare["probabilities"]
    assert any("corpus on 2-D mixtures" in i for i in mlp["advice"])
    assert any(i.startswith("Not advised here: add spectral normalization to G") for i in mlp["advice"])

    # a conv G with a hinge loss: no label smoothing (no real label), SN on G reported as untested
    conv = _diagnose(capsys, str(foreign_log), "--data", "mixtures", "--arch", "conv", "--loss", "hinge")
    assert not any("label smoothing" in i for i in conv["advice"])
    assert not any(i.startswith("Not advised here: add spectral normalization to G") for i in conv["advice"])
    assert SN_G_MLP not in conv["advice"]
    assert any(i.startswith("Spectral normalization on G is untested here for G as a conv net") for i in conv["advice"])

    # images: their own table, which has no collapsing runs to rank by, so the lessons' order
    images = _diagnose(capsys, str(foreign_log), "--data", "images", "--arch", "conv")
    assert images["advice"][0].startswith("Lower both learning rates")
    assert not any("2-D mixtures" in i for i in images["advice"]) and SN_G_MLP not in images["advice"]

    assert len({tuple(d["advice"]) for d in (bare, mlp, conv, images)}) == 4
    # another program's log: words, no ganstab --set keys, whatever the context
    assert not any("[train." in i for d in (bare, mlp, conv, images) for i in d["advice"])

    # the text output says what the advice is for
    assert main(["diagnose", str(foreign_log), "--data", "mixtures", "--arch", "conv", "--loss", "hinge"]) == 0
    text = capsys.readouterr().out
    assert "advice (for 2-D mixtures, G a conv net with BatchNorm, loss hinge)" in text
    assert main(["diagnose", str(foreign_log)]) == 0
    assert "  advice\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--data", "audio", "argument --data: invalid choice: 'audio'"),
        ("--arch", "cnv", "argument --arch: invalid choice: 'cnv' (did you mean 'conv'?)"),
        ("--loss", "wgan", "argument --loss: invalid choice: 'wgan'"),
    ],
)
def test_a_bad_context_value_names_the_option_and_the_value(foreign_log, capsys, option, value, words) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["diagnose", str(foreign_log), option, value])
    assert stop.value.code == 2
    assert words in capsys.readouterr().err


def _train(out: Path, overrides: list[str]) -> Path:
    from ganstab.engine import CohortTrainer, apply_overrides, preset
    from ganstab.engine.config import member_configs

    cfg = apply_overrides(preset("vanilla"), ["train.device=cpu", "train.batch_size=64", *overrides])
    CohortTrainer(member_configs(cfg, 1), out).train()
    return out


@pytest.fixture(scope="module")
def ganstab_runs(tmp_path_factory, one_thread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "ring8": _train(root / "ring8", ["data.name=ring8", "train.loss=hinge", "train.steps=200", "model.hidden=16"]),
        "digits": _train(
            root / "digits",
            ["data.name=digits", "train.steps=100", "train.log_every=5", "train.eval_every=50", "model.channels=8"],
        ),
    }


@pytest.mark.parametrize(
    "run, context, words",
    [
        ("ring8", {"data": "2-D mixtures", "g": "mlp", "loss": "hinge"}, "2-D mixtures, G an MLP without BatchNorm, loss hinge"),
        ("digits", {"data": "images", "g": "conv", "loss": "ns"}, "images, G a conv net with BatchNorm, loss ns"),
    ],
)
def test_a_ganstab_run_folder_gives_its_context_from_its_config(ganstab_runs, capsys, run, context, words) -> None:
    out = _diagnose(capsys, str(ganstab_runs[run]))
    uses = out["context"].pop("uses")  # what the run already has (issue 30), from its config too
    assert out["context"] == context
    assert uses["optimizer"] == "adam" and uses["beta1"] == 0.5 and uses["sn_d"] is False
    context = {**context, "uses": uses}
    # the advice is the one for that context, with ganstab's --set keys (a ganstab run)
    assert out["advice"] == advice_for(out["label"], out["evidence"], context)
    assert main(["diagnose", str(ganstab_runs[run])]) == 0
    assert f"advice (for {words}, already using optimizer=adam, " in capsys.readouterr().out
    # what the user says overrides the config, key by key (and --uses the config's uses, key by key)
    over = _diagnose(capsys, str(ganstab_runs[run]), "--arch", "mlp-bn", "--uses", "sn_d=true")
    assert over["context"] == {**context, "g": "mlp-bn", "uses": {**uses, "sn_d": True}}
    assert over["advice"] == advice_for(out["label"], out["evidence"], over["context"])

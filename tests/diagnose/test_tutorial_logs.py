"""Issue 30: a log written the way the PyTorch DCGAN tutorial writes it (`Loss_D, Loss_G, D(x),
D(G(z))`, probabilities after a sigmoid) is read with D's outputs, a D that wins from the first
rows is "D wins" in the evidence, the advice never adds what `--uses` says the run has, and an
uncertain answer says which two labels the log cannot separate and what to look at."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganstab.cli import main
from ganstab.diagnose.advice import CHANGES, advice_for
from ganstab.diagnose.context import parse_uses
from ganstab.diagnose.logs import read_logs


def _tutorial_log(path: Path, *, d_wins: bool, header: str = "epoch,iter,Loss_D,Loss_G,D(x),D(G(z))") -> Path:
    """Four epochs of 50 rows, the tutorial's per-epoch counter; D winning from the first row
    (D(x) 0.95, D(G(z)) 0.03, G's loss ~10, D's ~1e-4: the issue's case) or a game near balance."""
    rng = np.random.default_rng(0)
    lines = [header]
    for epoch in range(4):
        for i in range(0, 500, 10):
            if d_wins:
                row = (1e-4 * np.exp(rng.normal(0, 0.5)), 10 + rng.normal(0, 0.5), 0.95 + rng.normal(0, 0.01), 0.03)
            else:
                row = (1.3 + rng.normal(0, 0.1), 0.75 + rng.normal(0, 0.1), 0.5 + rng.normal(0, 0.03), 0.45)
            lines.append(f"{epoch},{i}," + ",".join(f"{v:.6g}" for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "header",
    [
        "epoch,iter,Loss_D,Loss_G,D(x),D(G(z))",
        "epoch,iters,errD,errG,D_x,D_G_z1",
        "epoch,it,lossD,lossG,d_real,d_fake",
    ],
)
def test_the_tutorials_columns_and_their_spellings_are_read_without_tags(tmp_path: Path, header: str) -> None:
    (log,) = read_logs(_tutorial_log(tmp_path / "log.csv", d_wins=True, header=header))
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(log.trace)
    assert len(log.trace["step"]) == 200 and np.all(np.diff(log.trace["step"]) > 0)  # the epochs numbered on
    assert np.median(log.trace["d_real"]) == pytest.approx(0.95, abs=0.01)


def test_tag_maps_d_outputs_too(tmp_path: Path) -> None:
    path = _tutorial_log(tmp_path / "log.csv", d_wins=True, header="epoch,iter,Loss_D,Loss_G,real_p,fake_p")
    (log,) = read_logs(path, tags={"d_real": "real_p", "d_fake": "fake_p"})
    assert np.median(log.trace["d_fake"]) == pytest.approx(0.03)


def test_a_d_that_wins_from_the_first_rows_is_d_wins(tmp_path: Path, capsys) -> None:
    """The issue's case: the evidence said d_wins 0 and d_loss_below_start_late 0."""
    path = _tutorial_log(tmp_path / "log.csv", d_wins=True)
    assert main(["diagnose", str(path), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    ev = out["evidence"]
    assert ev["d_wins"] == 1 and ev["d_wins_from_start"] == 1
    assert ev["d_real_late"] == pytest.approx(0.95, abs=0.01) and ev["d_fake_late"] == pytest.approx(0.03)
    assert "d_loss_below_start_late" not in ev and "g_loss_above_start_late" not in ev  # no healthy start
    assert out["advice"][0].startswith("D is winning")
    # ... and the advice does not make D stronger still
    assert not any(CHANGES[c].words in a for a in out["advice"] for c in ("more_d_steps", "ttur"))
    # the losses' ratio alone says it too (a log without D's outputs)
    (log,) = read_logs(path)
    from ganstab.diagnose.classifier import evidence

    ev = evidence({k: log.trace[k] for k in ("step", "d_loss", "g_loss")})
    assert ev["d_wins"] == 1 and ev["d_wins_from_start"] == 1


def test_a_game_near_balance_is_not_d_wins(tmp_path: Path, capsys) -> None:
    assert main(["diagnose", str(_tutorial_log(tmp_path / "log.csv", d_wins=False)), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["evidence"]["d_wins"] == 0 and "d_wins_from_start" not in out["evidence"]
    assert out["evidence"]["d_real_late"] == pytest.approx(0.5, abs=0.05)


def test_ganstab_logits_are_read_as_logits() -> None:
    from ganstab.diagnose.d_wins import d_output_probabilities

    trace = {"d_real": np.full(40, 0.8), "d_fake": np.full(40, 0.2)}  # in [0, 1], but logits
    real, fake = d_output_probabilities(trace, logits=True)
    assert real[0] == pytest.approx(1 / (1 + np.exp(-0.8)))
    real, fake = d_output_probabilities(trace, logits=False)  # a foreign log: probabilities
    assert real[0] == 0.8 and fake[0] == 0.2


@pytest.mark.parametrize("label", ["collapsing", "oscillating", "diverged"])
def test_advice_never_adds_what_the_run_uses(label: str) -> None:
    uses = parse_uses(["beta1=0.5", "sn_d=true", "label_smoothing=0.9", "noise_std=0.1", "lr_d=4e-4", "lr_g=1e-4"])
    plain = advice_for(label, {}, {"data": "2-D mixtures"}, keys=True)
    told = advice_for(label, {}, {"data": "2-D mixtures", "uses": uses}, keys=True)
    changes = ("lower_beta1", "sn_d", "label_smoothing", "instance_noise", "ttur")
    for change in changes:
        assert not any(i.startswith(CHANGES[change].words) for i in told), (change, told)
    # some of them were advised without --uses (a diverged run: SN on D)
    assert any(i.startswith(CHANGES[c].words) or "[train.sn_d=true]" in i for c in changes for i in plain)
    assert not any("[train.sn_d=true]" in i and not i.startswith("Not advised") for i in told)
    # an optimizer without Adam's beta1 is never told to lower it
    rms = advice_for(label, {}, {"data": "2-D mixtures", "uses": parse_uses(["optimizer=rmsprop"])})
    assert not any(i.startswith(CHANGES["lower_beta1"].words) for i in rms)


@pytest.mark.parametrize(
    "items, words",
    [
        (["beta1"], "--uses must look like KEY=VALUE (e.g. beta1=0.5), but got 'beta1'."),
        (["momentum=0.5"], "Unknown --uses key 'momentum' (value '0.5'); expected one of:"),
        (["sn_d=maybe"], "--uses sn_d must be true or false, but got 'maybe'."),
        (["beta1=high"], "--uses beta1 must be a number, but got 'high'."),
    ],
)
def test_bad_uses_are_refused_naming_them(tmp_path: Path, capsys, items: list[str], words: str) -> None:
    path = _tutorial_log(tmp_path / "log.csv", d_wins=False)
    assert main(["diagnose", str(path), *[a for i in items for a in ("--uses", i)]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ganstab: error: {words}") and err.count("\n") == 1


def test_uses_are_said_in_the_output(tmp_path: Path, capsys) -> None:
    path = _tutorial_log(tmp_path / "log.csv", d_wins=True)
    assert main(["diagnose", str(path), "--json", "--uses", "beta1=0.5", "--uses", "sn_d=true"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["context"]["uses"] == {"beta1": 0.5, "sn_d": True}
    assert not any(a.startswith(CHANGES["lower_beta1"].words) for a in out["advice"])


def test_uncertain_names_its_two_labels_and_what_to_look_at() -> None:
    from rich.console import Console

    from ganstab.diagnose.report import LOOK_AT, render_text
    from ganstab.diagnose.result import Diagnosis

    d = Diagnosis("converging", {"converging": 0.5, "oscillating": 0.4, "collapsing": 0.1}, model="losses",
                  rows=40, uncertain=True)
    assert d.verdict == "uncertain: converging or oscillating (confidence 0.50)"
    console = Console(width=400, record=True)
    console.print(render_text("run", d))
    text = console.export_text()
    assert "run: uncertain: converging or oscillating (confidence 0.50)" in text
    assert "cannot separate converging from oscillating" in text
    assert LOOK_AT[frozenset(("converging", "oscillating"))] in text and "--samples" in text


def test_help_explains_uncertain(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["diagnose", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'uncertain: A or B' means that no label reached the confidence at which 95 % of" in text
    assert "--uses" in text and "--samples" in text

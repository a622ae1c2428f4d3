"""advice_for: every item comes from a lesson (or says it does not), each label gets its items, the
corpus ranks the changes with the counts behind them, and another program's log gets words."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ganstab.diagnose.advice import CHANGES, SN_G_MLP, advice_for
from ganstab.diagnose.advice_table import advice_table
from ganstab.diagnose.model_files import fitted
from ganstab.diagnose.result import DIVERGED, LABELS
from tests.diagnose.advice_runs import TOY, _run

LESSON = re.compile(r"\(lesson (\d+)\)\.?$")
SOURCES = ("(a basic check, not one of the lessons).", "(a finding of ganstab's corpus, not one of the lessons).")


def _lessons(items: list[str]) -> list[int]:
    return [int(m.group(1)) for m in map(LESSON.search, items) if m]


@pytest.mark.parametrize("label", [*LABELS, DIVERGED])
@pytest.mark.parametrize("d_wins", [0.0, 1.0])
def test_every_item_names_its_source_and_is_listed_once(label: str, d_wins: float) -> None:
    items = advice_for(label, {"d_wins": d_wins})
    assert items and len(items) == len(set(items))
    for item in items:
        assert LESSON.search(item) or item.endswith(SOURCES), item
    assert all(1 <= n <= 10 for n in _lessons(items))


def test_a_known_loss_ranks_the_changes_by_that_losss_runs():
    """With the loss known, the changes are ranked by the corpus runs of that loss: on the toy
    corpus SN on D helped NS runs and did nothing for WGAN-GP runs, whose TTUR neighbours converged.
    A loss without runs that back a change falls back to every loss's ranking."""
    wgan = (
        [_run("ring8", "collapsing", loss="wgan-gp", lr_d=1e-3 * (1 + i / 40)) for i in range(12)]
        + [_run("ring8", "collapsing", loss="wgan-gp", sn_d="true", lr_d=1.1e-3) for _ in range(6)]
        + [_run("ring8", "converging", loss="wgan-gp", lr_d=2.5e-3) for _ in range(6)]
    )
    table = advice_table(TOY + wgan)
    mixtures = {"data": "2-D mixtures"}
    ns = advice_for("collapsing", {}, {**mixtures, "loss": "ns"}, table=table)
    assert ns[0].startswith(CHANGES["sn_d"].words) and "on 2-D mixtures with the ns loss, neighbours of 18" in ns[0]
    wg = advice_for("collapsing", {}, {**mixtures, "loss": "wgan-gp"}, table=table)
    assert wg[0].startswith(CHANGES["ttur"].words) and "with the wgan-gp loss" in wg[0]
    assert not any(i.startswith(CHANGES["sn_d"].words) for i in wg)  # it did not help these runs
    either = advice_for("collapsing", {}, mixtures, table=table)  # every loss's runs together
    assert "on 2-D mixtures, neighbours of 18 " in either[0] and "loss, neighbours" not in either[0]
    hinge = advice_for("collapsing", {}, {**mixtures, "loss": "hinge"}, table=table)  # no hinge runs
    assert hinge[0] == either[0]


def test_the_shipped_table_ranks_wgan_gp_collapse_by_wgan_gp_runs():
    """In the shipped corpus SN on D helped collapsed runs of every loss taken together, but not the
    WGAN-GP ones: a WGAN-GP run's advice does not lead with it, and says which runs back it."""
    mixtures = {"data": "2-D mixtures"}
    assert advice_for("collapsing", {}, mixtures)[0].startswith(CHANGES["sn_d"].words)
    items = advice_for("collapsing", {}, {**mixtures, "loss": "wgan-gp"})
    assert not items[0].startswith(CHANGES["sn_d"].words) and "with the wgan-gp loss" in items[0], items[0]


def test_the_shipped_table_does_not_lead_with_sn_on_g_and_advises_against_it_on_mixtures():
    for label in ("collapsing", "oscillating"):
        for context in (None, {"data": "2-D mixtures"}):
            items = advice_for(label, {"d_wins": 0.0}, context)
            assert "spectral normalization to G" not in items[0], items[0]
            assert any("spectral normalization to G" in i and ("Not advised" in i or i == SN_G_MLP) for i in items)
            assert re.search(r"converged \d+% of the time", items[0]), items[0]  # backed by counts


def test_another_programs_log_gets_words_without_ganstab_keys():
    with_keys = advice_for("oscillating", {"d_wins": 1.0})
    words = advice_for("oscillating", {"d_wins": 1.0}, keys=False)
    assert any("[train." in i for i in with_keys)
    assert len(words) == len(with_keys) and not any("[train." in i or "[model." in i for i in words)
    assert all(LESSON.search(i) or i.endswith(SOURCES) for i in words)


def test_collapsing_keeps_the_lessons_other_items():
    items = advice_for("collapsing", {})
    assert any("feature matching" in i and "minibatch discrimination" in i for i in items)
    assert any("batch size" in i for i in items)


def test_without_a_table_the_lessons_order_holds():
    assert "lower both learning rates" in advice_for("collapsing", {}, table={})[0].lower()
    assert "spectral normalization to d" in advice_for("oscillating", {}, table={})[0].lower()


def test_d_wins_comes_first_and_does_not_ask_for_more_filters() -> None:
    items = advice_for("collapsing", {"d_wins": 1.0})
    assert _lessons(items)[0] == 1 and "rarely help" in items[0] and "filters" in items[0]
    assert not any(re.search(r"\badd (more )?filters\b", i, re.I) for i in items)
    assert advice_for("collapsing", {"d_wins": 0.5}) == advice_for("collapsing", {})  # threshold is > 0.5
    assert advice_for("collapsing", {"d_wins": float("nan")}) == advice_for("collapsing", {})
    # a WGAN-GP critic's or hinge D's loss falls below 0 in healthy runs: no "D wins" item for them
    for loss in ("wgan-gp", "hinge"):
        context = {"data": "2-D mixtures", "loss": loss}
        assert advice_for("collapsing", {"d_wins": 1.0}, context) == advice_for("collapsing", {}, context)
    assert "D is winning" in advice_for("collapsing", {"d_wins": 1.0}, {"loss": "ls"})[0]


def test_a_wgan_gp_diagnosis_shows_no_d_wins_row():
    """A WGAN-GP critic's loss falls far below its start in a healthy run; with the loss named, the
    diagnosis drops the "D wins" row from its evidence (and its advice item), and keeps it otherwise."""
    from ganstab.diagnose.classifier import diagnose_trace

    n = 60
    trace = {
        "step": np.arange(1, n + 1) * 10.0,
        "d_loss": np.linspace(-0.2, -5.0, n),  # the critic's E[D(fake)] - E[D(real)] + GP
        "g_loss": np.linspace(-0.1, 1.5, n),
    }
    plain = diagnose_trace(trace, model="losses")
    assert plain.evidence["d_wins"] == 1.0  # by the NS/LS reading, D is winning
    for loss in ("wgan-gp", "hinge"):
        d = diagnose_trace(trace, model="losses", context={"data": "2-D mixtures", "loss": loss})
        assert "d_wins" not in d.evidence and not any("D is winning" in i for i in d.advice), loss
        assert d.probabilities == plain.probabilities  # the context changes what is said, not the label
    assert "d_wins" in diagnose_trace(trace, model="losses", context={"loss": "ns"}).evidence


def test_diverged_lower_lr_data_scaling_and_nan_checks() -> None:
    items = advice_for(DIVERGED, {"d_wins": 1.0})  # "D wins" means nothing once the losses are NaN
    assert 1 not in _lessons(items)
    assert "lower the learning rate" in items[0].lower()
    assert any("[-1, 1]" in i for i in items) and any("NaN" in i for i in items)


def test_converging_keep_going_and_judge_by_samples() -> None:
    (item,) = advice_for("converging", {})
    assert "keep training" in item.lower() and "samples" in item and _lessons([item]) == [2]


def test_unknown_label_or_context_is_an_error() -> None:
    with pytest.raises(ValueError, match="No advice for label 'exploding'; expected one of: converging"):
        advice_for("exploding", {})
    with pytest.raises(ValueError, match="Unknown data context 'audio'"):
        advice_for("collapsing", {}, {"data": "audio"})


def test_the_loss_drops_label_smoothing_where_there_is_no_real_label():
    for data in ("2-D mixtures", "images"):
        for loss in ("hinge", "wgan-gp"):
            items = advice_for("collapsing", {}, {"data": data, "loss": loss})
            assert not any("label smoothing" in i for i in items), loss
    # ranked by every loss's runs (the shipped table's all-loss entry alone), where it helped:
    # kept for a loss with real labels, dropped for the others
    every_loss = {"2-D mixtures": fitted("ADVICE_TABLE")["2-D mixtures"]}
    for loss, said in (("ls", True), ("ns", True), ("hinge", False), ("wgan-gp", False)):
        items = advice_for("collapsing", {}, {"data": "2-D mixtures", "loss": loss}, table=every_loss)
        assert any("label smoothing" in i for i in items) == said, loss


def test_g_architecture_decides_what_is_said_of_sn_on_g():
    # ganstab's corpus on 2-D mixtures measured SN on G with its MLP G without BatchNorm only
    mlp = advice_for("oscillating", {}, {"data": "2-D mixtures", "g": "mlp"})
    assert any(i.startswith("Not advised here: add spectral normalization to G") for i in mlp)
    for g in ("mlp-bn", "conv"):
        other = advice_for("oscillating", {}, {"data": "2-D mixtures", "g": g})
        assert not any(i.startswith("Not advised here: add spectral normalization to G") for i in other)
        assert SN_G_MLP not in other
        assert any(i.startswith("Spectral normalization on G is untested here") for i in other), g
    # G an MLP on unknown data: the caveat for low-dimensional data stays (toy table without an SN-on-G row)
    toy = {"any": {"oscillating": [r for r in advice_table(TOY)["2-D mixtures"]["collapsing"] if r["change"] != "sn_g"]}}
    assert SN_G_MLP in advice_for("oscillating", {}, {"g": "mlp"}, table=toy)
    assert SN_G_MLP not in advice_for("oscillating", {}, {"g": "conv"}, table=toy)


def test_images_without_ranked_collapsing_runs_fall_back_to_the_lessons_order():
    items = advice_for("collapsing", {}, {"data": "images", "g": "conv"})
    assert items[0].startswith("Lower both learning rates") and "corpus" not in items[0]

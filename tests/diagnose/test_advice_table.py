"""advice_table: each change scored by how the neighbours of runs with a label fared with it and
without it."""

from __future__ import annotations

from ganstab.diagnose.advice import CHANGES, advice_for
from ganstab.diagnose.advice_table import advice_table
from tests.diagnose.advice_runs import TOY


def test_the_corpus_table_ranks_changes_by_what_helped_neighbours():
    table = advice_table(TOY)
    rows = {r["change"]: r for r in table["2-D mixtures"]["collapsing"]}
    assert rows["sn_d"]["converged_with"] == 1.0 and rows["sn_d"]["converged_without"] == 0.0
    assert rows["sn_d"]["runs"] == 18 and rows["sn_d"]["with"] == 6  # the SN-on-G runs lack SN on D too
    assert rows["sn_g"]["uplift"] <= 0  # its neighbours stayed collapsed
    assert table["images"]["collapsing"] == []  # no digits runs in the toy corpus
    items = advice_for("collapsing", {}, {"data": "2-D mixtures"}, table=table)
    assert items[0].startswith(CHANGES["sn_d"].words)
    assert "neighbours of 18 collapsing runs" in items[0] and "converged 100% of the time" in items[0]
    assert "(6 runs)" in items[0]


def test_runs_of_another_shape_are_not_neighbours():
    """A small net's runs (a `wgan-small` cohort's shape among their overrides) are compared with
    runs of their own shape only: the same SN-on-D runs, made small, back nothing for the wide ones."""
    small = [{**r, "overrides": ["model.hidden=64", "train.batch_size=64", *r["overrides"]]} for r in TOY[12:18]]
    rows = {r["change"]: r for r in advice_table(TOY[:12] + small + TOY[18:])["2-D mixtures"]["collapsing"]}
    assert "sn_d" not in rows or rows["sn_d"]["converged_with"] == 0.0
    assert {r["change"]: r for r in advice_table(TOY)["2-D mixtures"]["collapsing"]}["sn_d"]["converged_with"] == 1.0

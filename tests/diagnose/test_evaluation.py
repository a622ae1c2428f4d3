"""`ganstab diagnose evaluate`: the scenarios scored, and how the scores are shown."""

from __future__ import annotations

import pytest

from ganstab.cli import main
from tests.diagnose.corpus_examples import _small_corpus


def test_evaluate_scores_every_scenario_like_the_pipeline_it_ships(tmp_path, examples, capsys):
    _small_corpus(tmp_path, examples)
    assert main(["diagnose", "evaluate", "--corpus", str(tmp_path), "--model", "losses"]) == 0
    out = capsys.readouterr().out
    for scenario in (
        "held-out seeds, first 30%",
        "leave out ring8, whole runs",
        "leave-one-data-set-out, first 30%",
    ):
        assert scenario in out
    assert out.count("macro-F1") >= 10


def test_scores_count_each_label_and_show_a_confusion_matrix():
    from ganstab.diagnose.evaluation import format_scores, scores

    s = scores(["converging", "collapsing", "collapsing"], ["converging", "collapsing", "oscillating"])
    assert s["labels"] == ["converging", "collapsing", "oscillating"]
    assert s["confusion"] == [[1, 0, 0], [0, 1, 1], [0, 0, 0]] and s["support"] == [1, 2, 0]
    assert s["macro_f1"] == pytest.approx((1 + 2 / 3) / 2)  # labels without runs are left out of the mean
    text = format_scores("held-out seeds", s)
    assert text.startswith("held-out seeds: macro-F1 0.833") and "(n=2)" in text

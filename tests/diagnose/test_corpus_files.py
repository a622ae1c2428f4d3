"""Corpus folders on disk: the committed corpus, and runs appended and read back with their columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ganstab.diagnose import corpus_files, corpus_runs
from ganstab.diagnose.labels import label_run


def test_committed_corpus_is_compact_and_spans_the_data_sets():
    corpora = Path(__file__).resolve().parents[2] / "corpus"
    size = sum(f.stat().st_size for f in corpora.rglob("*") if f.is_file())  # every committed corpus
    assert size < 50 * 2**20
    root = corpus_files.SHIPPED_CORPUS  # today's engine columns, g_move included
    assert corpus_files.read_columns(root) == corpus_files.TRACE_COLUMNS
    runs = corpus_files.load(root)
    # every corpus data set but stacked digits, whose runs at CPU lengths are all but one class
    # and cost digits-out LODO 0.087 (bench/RESULTS.md, thirteenth session): seven, LODO trains on six
    shipped = set(corpus_runs.DATASETS) - {"stacked_digits"}
    assert {r.dataset for r in runs} == shipped
    for name in shipped:  # every data set from at least two corpus seeds
        assert len({corpus_runs._run_seed(r.id) for r in runs if r.dataset == name}) >= 2, name
    losses = {o.split("=")[1] for r in runs for o in r.overrides if o.startswith("train.loss=")}
    assert losses == {"ns", "minimax", "hinge", "ls", "wgan-gp"}
    # v5's WGAN-GP draw (issue 15) covers every 2-D data set, with penalty weights other than 10
    wgan = [r for r in runs if r.draw == "wgan"]
    assert {r.dataset for r in wgan} == set(corpus_runs.DATASETS) - {"digits", "stacked_digits"}
    assert len({o for r in wgan for o in r.overrides if o.startswith("train.gp_weight=")}) > 100
    # v6's small-WGAN draw (issue 15 item 3): short runs of small nets, whose unspread blob the
    # rules call collapsing, on every 2-D data set; their shape is among their overrides
    small = [r for r in runs if r.draw == "wgan-small"]
    assert {r.dataset for r in small} == {r.dataset for r in wgan} and len(small) == 384
    assert all("model.hidden=64" in r.overrides and "train.batch_size=64" in r.overrides for r in small)
    assert {o for r in small for o in r.overrides if o.startswith("model.latent_dim=")} == {"model.latent_dim=2", "model.latent_dim=4"}
    assert sum(label_run(r.evals, r.diverged_at, len(r.evals[0]["near"]))[0] == "collapsing" for r in small) > 150


def _run(run_id: str, names=corpus_files.TRACE_COLUMNS) -> corpus_files.CorpusRun:
    trace = np.arange(3 * len(names), dtype=np.float32).reshape(3, len(names))
    return corpus_files.CorpusRun(run_id, "ring8", 0, ["train.loss=ns"], [{"step": 10}], None, trace, names=names)


def test_appended_runs_read_back_as_written_and_the_same_bytes_twice(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    corpus_files.append_runs(tmp_path / "a", [_run("ring8-0-00-00")])
    corpus_files.append_runs(tmp_path / "a", [_run("ring8-0-00-01")])
    runs = corpus_files.load(tmp_path / "a")
    assert [r.id for r in runs] == ["ring8-0-00-00", "ring8-0-00-01"] and runs[0].draw == "plain"
    np.testing.assert_array_equal(runs[1].trace, _run("x").trace)
    assert runs[0].columns()["d_loss"].dtype == np.float64
    assert corpus_files.runs_file(tmp_path / "a").name == "runs.jsonl.gz"
    corpus_files.append_runs(tmp_path / "b", [_run("ring8-0-00-00"), _run("ring8-0-00-01")])
    assert (tmp_path / "a" / "runs.jsonl.gz").read_bytes() == (tmp_path / "b" / "runs.jsonl.gz").read_bytes()


def test_runs_of_other_columns_are_refused_and_a_missing_corpus_is_named(tmp_path):
    corpus_files.append_runs(tmp_path, [_run("ring8-0-00-00")])
    with pytest.raises(ValueError, match="holds traces with columns"):
        corpus_files.append_runs(tmp_path, [_run("ring8-0-00-01", names=corpus_files.LEGACY_COLUMNS)])
    with pytest.raises(FileNotFoundError, match="No corpus at"):
        corpus_files.load(tmp_path / "none")

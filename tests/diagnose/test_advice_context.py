"""A search's diagnoses carry advice conditioned on what ganstab knows of each trial's run: its
data, its G and its loss (diagnose.logs.context_for), as `ganstab diagnose` does for a run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganstab.diagnose.advice import advice_for
from ganstab.diagnose.classifier import diagnose_traces
from ganstab.diagnose.corpus_files import SHIPPED_CORPUS, load
from ganstab.diagnose.logs import context_for
from ganstab.search.driver import run_search
from ganstab.search.settings import SearchSettings
from ganstab.search.space import SPACES_DIR, load_space
from ganstab.storage import Store

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_thread")


def test_batched_diagnoses_take_each_traces_context() -> None:
    runs = [r for r in load(SHIPPED_CORPUS) if r.dataset == "ring8"][:40]
    hinge = context_for("ring8", "hinge")
    assert hinge == {"g": "mlp", "data": "2-D mixtures", "loss": "hinge"}
    out = diagnose_traces([r.columns() for r in runs], contexts=[hinge] * len(runs))
    plain = diagnose_traces([r.columns() for r in runs])
    differ = 0
    for d, p in zip(out, plain):
        assert d is not None and d.context == hinge and d.label == p.label
        assert d.advice == advice_for(d.label, d.evidence, hinge)
        differ += d.advice != p.advice
    assert differ  # the context changed some advice (e.g. no label smoothing for hinge)


def test_a_searchs_stored_advice_is_conditioned_on_the_trials_config(tmp_path: Path) -> None:
    settings = SearchSettings(
        storage=f"sqlite:///{tmp_path / 's.db'}",
        runs_dir=tmp_path / "runs",
        study_name="ctx",
        n_trials=2,
        cohort_size=2,
        sampler="random",
        extra_overrides=("train.steps=300", "train.eval_every=100", "model.hidden=16", "train.loss=hinge"),
        diagnose=True,
        prune=False,
    )
    run_search(load_space(SPACES_DIR / "quick.yaml"), settings)
    store = Store(settings.storage)
    try:
        records = [rec for run in store.runs() for rec in store.diagnoses(run.id)]
    finally:
        store.close()
    assert len(records) == 2
    hinge = context_for("ring8", "hinge")
    for rec in records:
        d = rec.diagnosis
        assert d.advice == advice_for(d.label, d.evidence, hinge)

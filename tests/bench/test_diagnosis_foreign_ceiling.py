"""bench/diagnosis_foreign_ceiling.py: a script left out is never trained on; k-fold scores every
run once per shuffle, never with a model trained on it; `--blocks` appends the canonical blocks to
the shipped features."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # the script imports its neighbour diagnosis_foreign
try:
    _spec = importlib.util.spec_from_file_location(
        "diagnosis_foreign_ceiling", ROOT / "bench" / "diagnosis_foreign_ceiling.py"
    )
    ceiling = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(ceiling)
finally:
    sys.path.remove(str(ROOT / "bench"))


def _by_script(n: int = 30, seed: int = 0):
    """Three scripts whose runs all share one label each, told apart by a feature that names the
    script: learnable when a script is in training, unlearnable when it is left out."""
    rng = np.random.default_rng(seed)
    scripts = [s for s in ("a", "b", "c") for _ in range(n)]
    label = {"a": "converging", "b": "collapsing", "c": "oscillating"}
    x = np.array([[float(s == q) for q in "abc"] + list(rng.normal(size=2)) for s in scripts])
    return x, np.array([label[s] for s in scripts]), scripts


def test_script_out_never_trains_on_the_script_it_scores():
    x, y, scripts = _by_script()
    clf = RandomForestClassifier(n_estimators=20, random_state=0)
    out = ceiling.script_out(clf, x, y, scripts)
    # left out, a script's label is absent from training: not one of its runs can be right
    assert out["all"]["macro_f1"] == 0.0
    assert sum(map(sum, out["all"]["confusion"])) == len(y)
    # rows added to training (the corpus of protocol 5) are trained on for every script
    extra = (x, y)
    assert ceiling.script_out(clf, x, y, scripts, extra)["all"]["macro_f1"] == 1.0


def test_k_fold_scores_every_run_once_per_shuffle():
    x, y, scripts = _by_script()
    clf = RandomForestClassifier(n_estimators=20, random_state=0)
    out = ceiling.k_fold(clf, x, y, scripts, k=3, repeats=2)
    assert out["training share"] == round(2 / 3, 3)
    assert out["macro_f1 over repeats"] == [1.0, 1.0]  # every script is in every training fold
    assert set(out["per script over repeats"]) == {"a", "b", "c"}
    assert sum(map(sum, out["all"]["confusion"])) == len(y)


def test_k_fold_never_scores_a_run_it_trained_on():
    # a feature unique to each run and labels drawn at random: 1-nearest-neighbour recalls a run
    # it was trained on exactly, and guesses (about a third right) on a run it was not
    rng = np.random.default_rng(0)
    y = rng.choice(["converging", "collapsing", "oscillating"], size=150)
    x = rng.permutation(150).astype(float)[:, None] * 10.0
    nn = KNeighborsClassifier(n_neighbors=1)
    assert (nn.fit(x, y).predict(x) == y).all()  # with the run in training, always right
    out = ceiling.k_fold(nn, x, y, ["s"] * len(y), k=5, repeats=3)
    assert max(out["macro_f1 over repeats"]) < 0.6


def test_blocks_append_the_canonical_blocks_to_the_shipped_features():
    data = ROOT / "bench" / "foreign" / "data"
    run = ceiling.load_runs(data)[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = ceiling.extract_logs(data, Path(tmp))
        trace = ceiling.read_logs(ceiling.log_path(root, run["id"]), tags=run["tags"])[0].trace
    shipped, blocks = ceiling.Features(False)(trace), ceiling.Features(True)(trace)
    assert blocks[: len(shipped)] == shipped
    assert len(blocks) - len(shipped) == 2 * 2 * 20  # two losses, two forms, 20 blocks
    # the first block mean of D's loss is the mean of its first rows
    d = np.asarray(trace["d_loss"], float)
    assert np.isclose(blocks[len(shipped)], ceiling.canonical(d, "mean")[0])

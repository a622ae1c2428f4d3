"""The foreign benchmark (bench/foreign/, issue 15): its scripts train and log the way other
people's code does, its runs are labelled from their samples, every log reads as a user would
read it, and the shipped models never learned from it."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import sys

import numpy as np
import pytest

from ganstab.diagnose.classifier import held_out
from ganstab.diagnose.corpus_files import SHIPPED_CORPUS
from ganstab.diagnose.examples import labelled_examples, usable
from ganstab.diagnose.logs import read_logs
from ganstab.diagnose.model_files import MODEL_DIR, fitted
from ganstab.diagnose.result import LABELS
from ganstab.diagnose.training import ids_hash

ROOT = MODEL_DIR.parent.parent.parent
FOREIGN = ROOT / "bench" / "foreign"
DATA = FOREIGN / "data"


def _module(name: str):
    sys.path.insert(0, str(FOREIGN))
    spec = importlib.util.spec_from_file_location(f"foreign_{name}", FOREIGN / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench():
    spec = importlib.util.spec_from_file_location("diagnosis_foreign", ROOT / "bench" / "diagnosis_foreign.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_a_foreign_run_is_labelled_from_its_samples_and_its_log_reads(tmp_path):
    """A tiny run of the LSGAN script: its CSV has its own column names, which `--tag` maps."""
    gen = _module("generate")
    cfg = dict(
        data="hex7", loss="lsgan", lr_d=1e-3, lr_g=1e-3, beta1=0.5, n_dis=1, batch=64, z_dim=2, hidden=32,
        depth=2, iters=240, log_every=10, log="mean", d_reduce="mean", names="short", eval_every=20, seed=1,
    )
    label, signals, evals = gen.run_one("mixtures_mlp", cfg, tmp_path)
    assert len(evals) == 12 and all(len(e["near"]) == 7 for e in evals)
    assert label in (*LABELS, "ambiguous") and 0 <= signals["spread"] <= 1
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == "iter,disc,gen"
    (log,) = read_logs(tmp_path / "log.csv", tags=gen.tags_for("mixtures_mlp", cfg))
    assert len(log.trace["d_loss"]) == 24 and log.trace["step"][-1] == 240


@pytest.mark.slow
def test_a_stacked_digits_run_counts_1000_modes_per_channel(tmp_path):
    """The DCGAN on stacked digits (issue 15, item 6): three channels, each classified on its own,
    modes 100 a + 10 b + c; its per-epoch JSONL log reads like the plain DCGAN's."""
    gen = _module("generate")
    cfg = {**gen.sample_stacked_config(__import__("random").Random(0)), "epochs": 2, "log": "epoch", "eval_every": 10}
    label, signals, evals = gen.run_one("dcgan_stacked", cfg, tmp_path)
    assert len(evals) >= 3 and all(len(e["near"]) == 1000 and sum(e["near"]) == 2500 for e in evals)
    assert label in (*LABELS, "ambiguous") and 0 <= signals["coverage"] <= 1 and 0 <= signals["spread"] <= 1
    (log,) = read_logs(tmp_path / "log.jsonl", tags=gen.tags_for("dcgan_stacked", cfg), min_rows=2)
    assert len(log.trace["d_loss"]) == 2
    # a stack of three real digits gets the mode of its three classes
    dc, ev = _module("dcgan_digits"), gen.Evaluator("dcgan_stacked", cfg)
    from sklearn.datasets import load_digits

    digits, y = dc.load_digits_tensor(), load_digits().target
    idx = [0, 1, 2]  # digits 0, 1, 2
    ev(0, digits[idx].reshape(1, 3, 8, 8).repeat(4, 1, 1, 1))
    assert ev.evals[-1]["near"][100 * y[0] + 10 * y[1] + y[2]] == 4


def test_the_scripts_differ_from_ganstab_the_way_other_code_does():
    wgan = (FOREIGN / "wgan_gp.py").read_text()
    assert "n_critic" in wgan and "D(fake).mean() - D(real).mean() + cfg[\"lam\"] * gp" in wgan
    assert "betas=(0.0, 0.9)" in wgan and "RMSprop" in wgan and "SummaryWriter" in wgan
    dcgan = (FOREIGN / "dcgan_digits.py").read_text()
    assert "BCEWithLogitsLoss" in dcgan and "BatchNorm2d" in dcgan and "err_real + err_fake" in dcgan
    mix = _module("mixtures_mlp")
    corpus_like = {"ring8", "grid25", "mixture6", "ring16", "grid9", "mixture10"}
    assert not corpus_like & set(mix.DATASETS)
    for name in mix.DATASETS:  # modes far apart against their std: mode counting means something
        c, std = mix.centres(name)
        d = np.linalg.norm(c[:, None] - c[None], axis=-1) + np.eye(len(c)) * 1e9
        assert d.min() > 8 * std, name


def _runs():
    return _bench().load_runs(DATA)


def test_the_benchmark_spans_the_scripts_and_classes():
    runs = [r for r in _runs() if r["label"] in LABELS]
    assert {r["script"] for r in runs} == {"mixtures_mlp", "wgan_gp", "dcgan_digits", "dcgan_stacked"}
    assert len(runs) >= 300  # issue 15: at least 300 labelled runs, spread over the classes
    for label in LABELS:
        assert sum(r["label"] == label for r in runs) >= 90, label
    assert (DATA / "logs.tar.gz").stat().st_size + (DATA / "runs.jsonl.gz").stat().st_size < 8e6


@pytest.mark.slow
def test_the_shipped_models_never_learned_from_the_foreign_benchmark(tmp_path):
    """TRAINING (written by `ganstab diagnose train`) names the shipped corpus and the hash of
    the run ids each model learned from; those are its training split, no foreign run id is among
    them, and no foreign log's losses are any corpus trace's."""
    training = fitted("TRAINING")
    examples, _ = labelled_examples(SHIPPED_CORPUS)
    for kind in ("losses", "rich"):
        assert training[kind]["corpus"] in (str(SHIPPED_CORPUS.relative_to(ROOT)), str(SHIPPED_CORPUS))
        train = [e for e in usable(examples, kind) if not held_out(e.id)]
        assert training[kind]["runs"] == len(train)
        assert training[kind]["ids_sha256"] == ids_hash(e.id for e in train)
    runs = _runs()
    assert not {r["id"] for r in runs} & {e.id for e in examples}

    def key(x):
        return hashlib.sha256(np.round(np.asarray(x[:20], float), 4).tobytes()).hexdigest()

    corpus_keys = {key(e.trace["d_loss"]) for e in examples}
    bench = _bench()
    root = bench.extract_logs(DATA, tmp_path)
    for r in runs:
        (log,) = read_logs(bench.log_path(root, r["id"]), tags=r["tags"])
        assert key(log.trace["d_loss"]) not in corpus_keys, r["id"]


def test_labels_file_is_plain_gzip_json_lines():
    lines = gzip.decompress((DATA / "runs.jsonl.gz").read_bytes()).decode().splitlines()
    rec = json.loads(lines[0])
    assert {"id", "script", "config", "tags", "label", "signals"} <= set(rec)


def test_packed_runs_unpack_and_merge_with_new_ones(tmp_path):
    """generate.py --unpack gives back the work folder a pack was made from, and --pack merges
    work folders in order (each record says how its configuration was drawn); repeated ids are
    an error."""
    gen = _module("generate")
    old = tmp_path / "old"
    gen.unpack(DATA, old)
    recs = [json.loads(line) for line in (old / "runs.jsonl").read_text().splitlines()]
    new = tmp_path / "new"
    (new / "logs" / "x-9-0000").mkdir(parents=True)
    (new / "logs" / "x-9-0000" / "log.csv").write_text("iter,disc,gen\n10,1,2\n")
    (new / "runs.jsonl").write_text(json.dumps({"id": "x-9-0000", "draw": "collapse", "label": "collapsing"}) + "\n")
    gen.pack([old, new], tmp_path / "data")
    merged = _bench().load_runs(tmp_path / "data")
    assert [r["id"] for r in merged] == [r["id"] for r in recs] + ["x-9-0000"]
    assert {r["draw"] for r in merged[:-1]} <= {"plain", "collapse", "stacked"} and merged[-1]["draw"] == "collapse"
    root = _bench().extract_logs(tmp_path / "data", tmp_path / "logs")
    assert (root / "x-9-0000" / "log.csv").read_text().startswith("iter,disc,gen")
    first = recs[0]["id"]
    assert sorted(p.name for p in (root / first).iterdir()) == sorted(p.name for p in (old / "logs" / first).iterdir())
    with pytest.raises(ValueError, match="Run ids repeat"):
        gen.pack([new, new], tmp_path / "again")


@pytest.mark.slow
def test_a_tutorial_run_is_labelled_and_its_log_reads_without_tags(tmp_path):
    """Issue 30: the DCGAN tutorial's loop on 2-D mixtures; its CSV (`Loss_D, Loss_G, D(x),
    D(G(z))`, a per-epoch counter) reads with no `--tag`, D's outputs as probabilities."""
    gen = _module("generate")
    cfg = dict(data="arc5", lr_d=2e-4, lr_g=2e-4, beta1=0.5, nz=2, hidden=32, batch=256, epochs=3, log_every=3,
               eval_every=20, real_label=1.0, seed=1)
    label, signals, evals = gen.run_one("tutorial_mlp", cfg, tmp_path)
    assert len(evals) == 5 and all(len(e["near"]) == 5 for e in evals) and label in (*LABELS, "ambiguous")
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == "epoch,iter,Loss_D,Loss_G,D(x),D(G(z))"
    assert gen.tags_for("tutorial_mlp", cfg) == {}
    (log,) = read_logs(tmp_path / "log.csv", min_rows=2)
    assert len(log.trace["d_loss"]) == 39 and np.all(np.diff(log.trace["step"]) > 0)  # 3 epochs of 13 rows
    assert 0 < log.trace["d_real"].min() and log.trace["d_fake"].max() < 1
    text = (FOREIGN / "tutorial_mlp.py").read_text()
    assert "nn.BCELoss()" in text and "nn.Sigmoid()" in text and "errD = errD_real + errD_fake" in text


def test_the_tutorial_runs_are_foreign_and_span_the_classes():
    runs = [r for r in _bench().load_runs(FOREIGN / "data_tutorial") if r["label"] in LABELS]
    assert {r["script"] for r in runs} == {"tutorial_mlp"} and len(runs) >= 30
    examples, _ = labelled_examples(SHIPPED_CORPUS)
    assert not {r["id"] for r in runs} & {e.id for e in examples} and not {r["id"] for r in runs} & {
        r["id"] for r in _runs()
    }
    assert len({r["label"] for r in runs}) == 3

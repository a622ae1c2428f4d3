"""Training the shipped stability classifier (`ganstab diagnose train`): the models on a labelled
corpus's training split, and beside them their calibration, what they learned from and the
corpus's advice table (models/fitted.json)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ganstab.diagnose import corpus_files
from ganstab.diagnose.calibration import CALIBRATION_VIEWS, calibration
from ganstab.diagnose.classifier import CALIBRATED, fit, held_out, make_pipeline
from ganstab.diagnose.examples import examples_from_store, labelled_examples, usable
from ganstab.diagnose.folds import FoldFeatures
from ganstab.diagnose.labels import label_run
from ganstab.diagnose.model_files import FITTED_FILE, MODEL_DIR, fitted, save, write_fitted


def train_shipped(
    path: str | Path | None,
    out_dir: Path = MODEL_DIR,
    kinds=("losses", "rich"),
    storage: str | None = None,
    fitted_file: Path | None = None,
) -> dict[str, int]:
    """Train the models on the corpus's training split (the held-out quarter is kept out, so the
    test on it stays honest) plus, with `storage`, every labelled run of that database, and save
    them as skops files. Beside them (`fitted_file`, models/fitted.json when the shipped models
    are trained): each model's calibration and confidence threshold, fitted on
    leave-one-family-out predictions of the same runs (`calibration`), what it was trained on
    (TRAINING: corpus, run count and a hash of the run ids, which tests/diagnose/test_foreign.py
    reads), and the corpus's advice table (advice_table.advice_table)."""
    from ganstab.diagnose.advice_table import advice_table

    examples, counts = labelled_examples(path) if path is not None else ([], {})
    if storage is not None:
        extra = examples_from_store(storage)
        counts["from storage"] = len(extra)
        examples += extra
    if len({e.label for e in examples}) < 2:
        raise ValueError(f"Training needs labelled runs of at least two classes, but got {counts}.")
    if fitted_file is None and Path(out_dir) == MODEL_DIR:
        fitted_file = FITTED_FILE
    calibrations, training = {}, {}
    for kind in kinds:
        runs = usable(examples, kind)
        if len(runs) < len(examples):
            counts[f"left out of the {kind} model (columns missing)"] = len(examples) - len(runs)
        train = [e for e in runs if not held_out(e.id)]
        if len({e.label for e in train}) < 2:
            raise ValueError(f"Too few labelled runs have the columns the {kind!r} model reads ({counts}).")
        # Only the losses and outputs models are calibrated: their calibration is for logs ganstab
        # did not write (foreign views), which the rich model never reads (they lack its columns).
        if fitted_file is not None and kind in CALIBRATED and len({e.dataset for e in train}) >= 2:
            model, calibrations[kind] = fit_calibrated(train, kind)
        else:
            model = fit([e.trace for e in train], [e.label for e in train], kind, ids=[e.id for e in train])
        save(model, out_dir / f"{kind}.skops")
        training[kind] = {"corpus": str(path), "runs": len(train), "ids_sha256": ids_hash(e.id for e in train)}
    if fitted_file is not None:
        table = advice_table(corpus_advice_runs(path)) if path is not None else {}
        # a model not retrained this time keeps its entries (e.g. `kinds=("losses",)`)
        calibrations = {**{k: v for k, v in fitted("CALIBRATION").items() if k not in kinds}, **calibrations}
        training = {**{k: v for k, v in fitted("TRAINING").items() if k not in kinds}, **training}
        write_fitted(fitted_file, calibrations, training, table)
    return counts


def fit_calibrated(train: list, kind: str, folds: FoldFeatures | None = None):
    """A calibrated model (CALIBRATED) fitted on `train`, and its calibration: the features once,
    for the calibration's folds and the model itself (test_model checks that a classifier fit on
    FoldFeatures predicts what `fit`'s pipeline predicts). `folds` may hold more runs than `train`
    (bench/diagnosis_outputs.py computes them once for its evaluation too)."""
    folds = folds or FoldFeatures(train, kind, calibration_views=CALIBRATION_VIEWS)
    cal = calibration(train, kind, folds)
    model = make_pipeline(kind)
    model.named_steps["features"].fit(None)
    model.steps[-1] = ("classifier", folds.fit(train))
    return model, cal


def ids_hash(ids) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def corpus_advice_runs(path: str | Path) -> list[dict]:
    out = []
    for run in corpus_files.load(path):
        n_modes = next((len(e["near"]) for e in run.evals if e.get("near")), 0)
        out.append({"dataset": run.dataset, "label": label_run(run.evals, run.diverged_at, n_modes)[0],
                    "overrides": run.overrides})
    return out

"""`ganstab diagnose train`: the models trained on a corpus or a user's database, and the tables
fitted beside them."""

from __future__ import annotations

from ganstab.cli import main
from ganstab.diagnose.model_files import load_model
from tests.diagnose.corpus_examples import _small_corpus


def test_retrain_from_a_ganstab_database(tmp_path, examples, capsys):
    """`ganstab diagnose train --storage URL` learns from a user's own labelled runs."""
    from ganstab.storage import Store

    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store(url) as store:
        for e in examples[:40]:
            run_id = store.add_run(e.dataset, {"source": "test"})
            store.save_trace(run_id, e.trace)
            store.set_label(run_id, e.label, source="rules")
    out = tmp_path / "models"
    assert main(["diagnose", "train", "--storage", url, "--no-corpus", "--out", str(out)]) == 0
    assert "from storage 40" in capsys.readouterr().out
    model = load_model(out / "losses.skops")
    assert set(model.classes_) <= {"converging", "collapsing", "oscillating"}
    assert (
        main(
            [
                "diagnose",
                "train",
                "--storage",
                f"sqlite:///{tmp_path / 'empty.db'}",
                "--no-corpus",
                "--out",
                str(out),
            ]
        )
        == 2
    )


def test_the_ids_hash_does_not_depend_on_the_order_of_the_runs():
    from ganstab.diagnose.training import ids_hash

    assert ids_hash(["b", "a", "c"]) == ids_hash(["c", "b", "a"]) != ids_hash(["a", "b"])


def test_retraining_one_model_rewrites_fitted_json_and_keeps_the_others_entries(tmp_path, examples):
    """`train_shipped` writes the tables beside the models as JSON: the retrained model's TRAINING
    entry and the corpus's advice table are new, the model not retrained keeps its entries."""
    import json

    from ganstab.diagnose.model_files import fitted
    from ganstab.diagnose.training import train_shipped

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _small_corpus(corpus, examples, per_dataset=6)
    out = tmp_path / "fitted.json"
    train_shipped(corpus, tmp_path / "models", kinds=("rich",), fitted_file=out)
    data = json.loads(out.read_text())
    assert data["CALIBRATION"] == fitted("CALIBRATION")  # only the losses model is calibrated
    assert data["TRAINING"]["losses"] == fitted("TRAINING")["losses"]
    assert data["TRAINING"]["rich"]["corpus"] == str(corpus) and data["TRAINING"]["rich"]["runs"] >= 1
    assert set(data["ADVICE_TABLE"]) == set(fitted("ADVICE_TABLE"))  # every context and loss, however few runs
    assert load_model(tmp_path / "models" / "rich.skops").named_steps["features"].move

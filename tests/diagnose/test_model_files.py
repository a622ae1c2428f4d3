"""The shipped model files: skops models loaded safely, and fitted.json read as data."""

from __future__ import annotations

import json

import pytest

from ganstab.diagnose.model_files import MODEL_DIR, load_model


def test_a_model_file_is_read_once_and_untrusted_types_are_refused(tmp_path, monkeypatch):
    """load_model reads the file's bytes once (its type check and the load parse the same bytes),
    and still refuses a file that holds a type outside sklearn, numpy and ganstab.diagnose."""
    import builtins
    import io
    import zipfile
    from fractions import Fraction

    import skops.io as sio

    path = MODEL_DIR / "losses.skops"
    opened = []
    real_open = io.open

    def counting_open(file, *args, **kwargs):  # a spy: the real open, counted for this file
        if str(file) == str(path):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)  # pathlib and zipfile open files through io.open
    monkeypatch.setattr(builtins, "open", counting_open)
    model = load_model(path)
    monkeypatch.undo()
    assert len(opened) == 1 and hasattr(model, "predict_proba")
    odd = tmp_path / "odd.skops"
    sio.dump({"model": Fraction(1, 3)}, odd, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="does not trust.*fractions.Fraction"):
        load_model(odd)


def test_fitted_tables_are_read_from_the_json_beside_the_models():
    """fitted.json holds what `ganstab diagnose train` fitted (it was fitted.py, imported as code):
    the figures recorded for the shipped models (bench/RESULTS.md), read as data."""
    from ganstab.diagnose.model_files import FITTED_FILE, fitted

    assert FITTED_FILE.parent == MODEL_DIR and FITTED_FILE.suffix == ".json"
    data = json.loads(FITTED_FILE.read_text())
    assert set(data) == {"about", "CALIBRATION", "TRAINING", "ADVICE_TABLE"}
    cal = fitted("CALIBRATION")["losses"]
    assert cal["temperature"] == 0.707 and cal["uncertain_below"] == 0.87 and cal["out_of_fold_predictions"] == 4314
    assert fitted("TRAINING")["rich"] == {
        "corpus": "corpus/v6",
        "ids_sha256": "acf94faa3c463fc1e4b63f7839fbc53d90c3c3e8ecc4ebbbca5bda9010afeffd",
        "runs": 1438,
    }
    assert fitted("ADVICE_TABLE")["2-D mixtures"]["collapsing"][0]["change"] == "sn_d"
    assert fitted("NO SUCH TABLE") == {}


def test_write_fitted_writes_the_shipped_file_byte_for_byte(tmp_path):
    """What `train_shipped` writes: the shipped tables written again give the same bytes (sorted keys,
    floats that round-trip), so a retrain that changes nothing leaves no diff."""
    from ganstab.diagnose.model_files import FITTED_FILE, fitted, write_fitted

    out = tmp_path / "fitted.json"
    write_fitted(out, fitted("CALIBRATION"), fitted("TRAINING"), fitted("ADVICE_TABLE"))
    assert out.read_bytes() == FITTED_FILE.read_bytes()


def test_without_fitted_json_every_table_is_empty(tmp_path, monkeypatch):
    from ganstab.diagnose import model_files

    monkeypatch.setattr(model_files, "FITTED_FILE", tmp_path / "none.json")
    model_files._fitted_tables.cache_clear()
    try:
        assert model_files.fitted("CALIBRATION") == {} and model_files.fitted("ADVICE_TABLE") == {}
    finally:
        monkeypatch.undo()
        model_files._fitted_tables.cache_clear()

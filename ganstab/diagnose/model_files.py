"""The files the shipped classifier is made of, in ganstab/diagnose/models/: one skops file per
model (`save`, `load_model`) and fitted.json beside them (`fitted`,
`write_fitted`): the calibration, what each model was trained on and the corpus's advice table,
which `ganstab diagnose train` fits with the models. Data, read at run time, never imported."""

from __future__ import annotations

import json
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MODEL_DIR = Path(__file__).parent / "models"
FITTED_FILE = MODEL_DIR / "fitted.json"
FITTED_ABOUT = (
    "Fitted beside the shipped models by `ganstab diagnose train` (training.train_shipped); do not edit. "
    "CALIBRATION: temperature and confidence threshold per model, from leave-one-family-out predictions "
    "of its training runs; TRAINING: what each model learned from; ADVICE_TABLE: "
    "advice_table.advice_table of the corpus."
)


def save(model: Pipeline, path: Path) -> None:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    # deflated: the forest's arrays shrink ~8x (17.5 -> 2.3 MB for a shipped model)
    sio.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def load_model(path: Path) -> Pipeline:
    """Load a skops file, trusting only the types a ganstab pipeline is made of."""
    import skops.io as sio

    if not path.exists():
        raise FileNotFoundError(
            f"No diagnosis model at {str(path)!r}; train one with `ganstab diagnose train`."
        )
    # the file is read once: checking its types and loading it both parse these bytes (reading it
    # by name for each cost a second read of a 2-3 MB zip at every start)
    data = path.read_bytes()
    untrusted = sio.get_untrusted_types(data=data)
    allowed = [t for t in untrusted if t.startswith(("sklearn.", "ganstab.diagnose.", "numpy.", "builtins."))]
    unexpected = sorted(set(untrusted) - set(allowed))
    if unexpected:
        raise ValueError(f"Model file {str(path)!r} contains types ganstab does not trust: {unexpected}.")
    return sio.loads(data, trusted=allowed)


@lru_cache(maxsize=1)
def _fitted_tables() -> dict:
    # read once per process, as the module it replaces was imported once
    try:
        return json.loads(FITTED_FILE.read_text())
    except FileNotFoundError:  # not fitted yet
        return {}


def fitted(name: str) -> dict:
    """A table that `ganstab diagnose train` fitted beside the models (models/fitted.json):
    CALIBRATION, TRAINING or ADVICE_TABLE; {} before the first training."""
    return _fitted_tables().get(name, {})


def write_fitted(file: Path, calibrations: dict, training: dict, table: dict) -> None:
    """Write the fitted tables as JSON (floats round-trip exactly; keys sorted, so a retrain
    without change writes the same bytes)."""
    data = {"about": FITTED_ABOUT, "CALIBRATION": calibrations, "TRAINING": training, "ADVICE_TABLE": table}
    file.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    if Path(file) == FITTED_FILE:
        _fitted_tables.cache_clear()

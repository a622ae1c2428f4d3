"""Issue 30, item 5: `ganstab diagnose --samples S --real R` decides the label from G's samples by
docs/labels.md's rules, with the real data's modes found by k-means."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganstab.cli import main
from ganstab.diagnose.samples import SamplesError, find_modes, load_points

RING = 2 * np.c_[np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)]


def _points(modes: np.ndarray, n: int, rng) -> np.ndarray:
    return modes[rng.integers(0, len(modes), n)] + rng.normal(0, 0.05, (n, 2))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("samples")
    out = {"real": root / "real.npy"}
    np.save(out["real"], _points(RING, 3000, rng))
    runs = {
        "converging": [RING] * 8,
        "collapsing": [RING[:3]] * 8,  # three of eight modes, still
        "oscillating": [RING[[e % 8, (e + 1) % 8]] for e in range(0, 16, 2)],  # two modes, hopping
    }
    for label, modes in runs.items():
        out[label] = root / f"{label}.npy"
        np.save(out[label], np.stack([_points(m, 800, rng) for m in modes]))
    folder = root / "per_eval"
    folder.mkdir()
    for i, ev in enumerate(np.load(out["collapsing"])):
        np.save(folder / f"eval_{i:03d}.npy", ev)
    out["folder"] = folder
    log = root / "log.csv"
    log.write_text("step,d_loss,g_loss\n" + "".join(f"{10 * i},{1.2 + 0.05 * np.sin(i)},0.8\n" for i in range(60)))
    out["log"] = log
    return out


def test_the_modes_of_the_real_data_are_found() -> None:
    centres, std = find_modes(_points(RING, 2000, np.random.default_rng(1)))
    assert len(centres) == 8 and std == pytest.approx(0.05, rel=0.3)


@pytest.mark.parametrize("label", ["converging", "collapsing", "oscillating", "folder"])
def test_the_samples_decide_the_label(files, capsys, label: str) -> None:
    args = ["diagnose", str(files["log"]), "--samples", str(files[label]), "--real", str(files["real"])]
    assert main([*args, "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    want = "collapsing" if label == "folder" else label
    assert out["from_samples"]["label"] == want and out["from_samples"]["modes"] == 8
    if label == "collapsing":
        assert out["from_samples"]["signals"]["coverage"] == pytest.approx(3 / 8)
        assert main(args) == 0
        assert "decided from G's samples: collapsing" in capsys.readouterr().out


def test_bad_samples_are_refused_naming_the_file(files, tmp_path: Path, capsys) -> None:
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((10, 2)))
    assert main(["diagnose", str(files["log"]), "--samples", str(flat), "--real", str(files["real"])]) == 2
    err = capsys.readouterr().err
    assert err == f"ganstab: error: `{flat}` must hold finite numbers of shape (evaluations, samples, dims), but has shape (10, 2).\n"
    assert main(["diagnose", str(files["log"]), "--samples", str(files["converging"])]) == 2
    assert "--samples and --real go together" in capsys.readouterr().err
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(b"")
    with pytest.raises(SamplesError, match="image files"):
        load_points(tmp_path / "imgs", per_evaluation=True)

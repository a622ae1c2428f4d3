"""The user's code named in a config: import errors, shape errors and refused switches are one
line naming the key and the value; data factories in their accepted forms; CSV headers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.config import ConfigError, resolve
from ganstab.engine.data import build_dataset
from ganstab.engine.user_code import code_paths
from ganstab.engine.user_networks import check_user_code
from tests.user_nets import MLP_OVERRIDES as OK
from tests.user_nets import NETS


def _cfg(*extra: str):
    return resolve(apply_overrides(preset("vanilla"), [*OK, *extra]))


def _error(*extra: str) -> str:
    with pytest.raises(ConfigError) as e:
        check_user_code(_cfg(*extra))
    text = str(e.value)
    assert "\n" not in text
    return text


def test_a_good_config_passes_every_check():
    check_user_code(_cfg())


@pytest.mark.parametrize(
    "override, words",
    [
        (
            "model.generator=nowhere.nets:G",
            ["`model.generator`", "'nowhere.nets:G'", "does not import", "nowhere"],
        ),
        (f"model.generator={NETS}:Nope", ["`model.generator`", "has no 'Nope'"]),
        (f"model.discriminator={NETS}:NotAModule", ["`model.discriminator`", "nn.Module subclass"]),
        (
            f"model.discriminator={NETS}:WideDiscriminator",
            ["`model.discriminator`", "one score per sample", "[4, 3]"],
        ),
        ("model.generator_kwargs={out: 3}", ["`model.generator`", "returns shape [4, 3]", "items are [2]"]),
        ("model.generator_kwargs={width: 3}", ["`model.generator_kwargs`", "width", "cannot be made"]),
        ("model.latent_dim=5", ["`model.generator`", "`model.latent_dim` 5"]),
        (f"data.factory={NETS}:broken_factory", ["`data.factory`", "RuntimeError: no data here"]),
        (f"data.factory={NETS}:MLPGenerator", ["`data.factory`", "must return a torch Dataset"]),
    ],
)
def test_errors_name_the_key_and_the_value(override, words):
    text = _error(override)
    for w in words:
        assert w in text, text


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.g_mult=2", "model.g_mult"),
        ("model.d_mult=0.5", "model.d_mult"),
        ("model.hidden=64", "model.hidden"),
        ("model.layers=3", "model.layers"),
        ("model.channels=32", "model.channels"),
    ],
)
def test_switches_that_cannot_apply_are_refused(override, key):
    with pytest.raises(ConfigError, match=f"`{key}` does not apply to your own networks"):
        _cfg(override)


def test_syntax_of_names_and_latent_dim_are_checked_by_the_config():
    with pytest.raises(ConfigError, match="`model.generator` must be an import path"):
        _cfg("model.generator=nets.py")
    with pytest.raises(ConfigError, match="`model.latent_dim` must be set"):
        _cfg("model.latent_dim=0")
    with pytest.raises(ConfigError, match="`data.factory` must be unset unless"):
        resolve(apply_overrides(preset("vanilla"), [f"data.factory={NETS}:ring_points"]))
    with pytest.raises(ConfigError, match="`model.generator_kwargs` must be a mapping"):
        _cfg("model.generator_kwargs=3")
    with pytest.raises(ConfigError, match="`model.user_cohort` must be auto without model.generator"):
        resolve(apply_overrides(preset("vanilla"), ["model.user_cohort=loop"]))
    with pytest.raises(
        ConfigError, match="`model.discriminator_kwargs` must be empty without model.discriminator"
    ):
        resolve(apply_overrides(preset("vanilla"), ["model.discriminator_kwargs={a: 1}"]))


def test_a_factory_dataset_of_labelled_images_gives_its_images():
    cfg = resolve(apply_overrides(preset("vanilla"), ["data.name=factory", f"data.factory={NETS}:LabelledImages",
                                                       "data.factory_kwargs={n: 20}"]))  # fmt: skip
    ds = build_dataset(cfg.data)
    assert ds.kind == "images" and ds.shape == (1, 8, 8) and len(ds.data) == 20
    # ganstab's own conv networks train on it too (8x8 is a power of 2)
    cfg.model.channels, cfg.train.steps, cfg.train.batch_size, cfg.data.n_eval = 4, 2, 8, 16
    CohortTrainer([cfg]).train()


def test_a_factory_array_is_points():
    ds = build_dataset(_cfg("data.factory_kwargs={n: 100}").data)
    assert ds.kind == "points" and ds.shape == (2,) and len(ds.data) == 100


def test_names_resolve_from_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(
        "import torch\nclass G(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = torch.nn.Linear(8, 2)\n"
        "    def forward(self, z):\n        return self.l(z)\n"
    )
    monkeypatch.chdir(tmp_path)
    cfg = _cfg("model.generator=mynets:G", "model.generator_kwargs={}")
    check_user_code(cfg)
    paths = code_paths(cfg)
    assert str((tmp_path / "mynets.py").resolve()) in paths
    assert any(p.endswith("user_nets") or p.endswith("tests") for p in paths)


def test_points_csv_with_a_header_row_is_read(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,y\n0.5,1.0\n-1,2\n3,4\n")
    cfg = resolve(apply_overrides(preset("vanilla"), ["data.name=points", f"data.path={path}"]))
    ds = build_dataset(cfg.data)
    np.testing.assert_allclose(ds.data.numpy(), [[0.5, 1.0], [-1, 2], [3, 4]])
    path.write_text("0.5,1.0\n-1,2\n")  # no header: the first row is data
    assert len(build_dataset(cfg.data).data) == 2


def test_trainer_reports_the_shape_error_before_training():
    cfg = _cfg(f"model.discriminator={NETS}:WideDiscriminator")
    with pytest.raises(ConfigError, match="one score per sample"):
        CohortTrainer([cfg])
    assert torch.is_grad_enabled()


def test_one_side_may_stay_ganstabs():
    """Only the user's D: ganstab's MLP G (model.hidden applies to it) trains against it."""
    cfg = resolve(
        apply_overrides(
            preset("vanilla"),
            [f"model.discriminator={NETS}:MLPDiscriminator", "model.hidden=16", "train.steps=3",
             "train.batch_size=16", "data.n_eval=20", "train.device=cpu"],
        )
    )  # fmt: skip
    t = CohortTrainer([cfg])
    assert type(t.G).__name__ == "MLPGenerator" and "D: " in t.networks_note
    assert t.train()[0]["status"] == "finished"
    with pytest.raises(ConfigError, match="`model.d_mult` does not apply"):
        resolve(apply_overrides(cfg, ["model.d_mult=2"]))

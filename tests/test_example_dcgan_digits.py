"""The worked example (examples/dcgan_digits, README "Your own networks"), short: copied to a
fresh folder as a user would, its one search command runs a couple of trials for a few steps and
writes a recommended YAML that names the user's classes and factory, scored by the digits metric."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import yaml

from ganstab.cli import main
from ganstab.diagnose.logs import run_context
from ganstab.engine.config import ConfigError, apply_overrides, preset, resolve
from ganstab.engine.data import build_dataset
from ganstab.recommend.history import find_history

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dcgan_digits"
SHORT = ["--set", "train.steps=40", "--set", "train.eval_every=20", "--set", "data.n_eval=200"]


@pytest.fixture
def example(tmp_path, monkeypatch):
    """The example's files in a fresh working folder (no ganstab file beside them)."""
    folder = tmp_path / "dcgan_digits"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db", "recommended-*"))
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_the_example_imports_no_ganstab():
    for f in EXAMPLE.glob("*.py"):
        text = f.read_text()
        assert "import ganstab" not in text and "from ganstab" not in text, f"{f.name} must be plain PyTorch"


def test_the_example_search_writes_a_recommendation_of_the_users_dcgan(example):
    args = ["search", "--space", "space.yaml", "--trials", "2", "--cohort-size", "2", "--top", "1",
            "--executor", "local", "--no-diagnose", "--storage", "sqlite:///s.db", "--runs", "runs",
            "--set", "train.device=cpu", *SHORT]  # fmt: skip
    assert main(args) == 0
    study = optuna.load_study(study_name="space-default", storage="sqlite:///s.db")
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE"]
    assert all(
        "eval_modes" in t.user_attrs and "eval_hq" in t.user_attrs for t in trials
    )  # the digits metric
    written = yaml.safe_load((example / "recommended-factory.yaml").read_text())
    assert written["model"]["generator"] == "dcgan:Generator"
    assert written["model"]["discriminator"] == "dcgan:Discriminator"
    assert written["data"]["factory"] == "digits_data:digits"
    assert written["data"]["factory_metric"] == "digits"

    # the history of a user's data set is its factory's, not every factory's
    assert len(find_history("factory", "sqlite:///s.db", factory="digits_data:digits").runs) == 2
    assert find_history("factory", "sqlite:///s.db", factory="someone_else:data").runs == []
    # the advice knows the run: the user's G on images
    trace = next((example / "runs").glob("*/cohort-*/members/000/trace.csv"))
    context = run_context(trace)
    assert (context["g"], context["data"], context["loss"]) == ("user", "images", "ns")


def test_digits_scoring_refuses_a_factory_that_is_not_digits_like(example):
    base = ["data.name=factory", "data.factory=digits_data:digits", "data.factory_metric=digits"]
    assert build_dataset(resolve(apply_overrides(preset("vanilla"), base)).data).metric == "digits"
    (example / "not_digits.py").write_text(
        "import torch\n\ndef pixels():\n    return torch.rand(16, 1, 8, 8) * 255\n"
    )
    cfg = resolve(apply_overrides(preset("vanilla"), [*base, "data.factory=not_digits:pixels"]))
    with pytest.raises(
        ConfigError, match=r"`data.factory_metric` 'digits' needs greyscale images .* in \[-1, 1\]"
    ):
        build_dataset(cfg.data)
    with pytest.raises(
        ConfigError, match="`data.factory_metric` must be 'auto' unless data.name is 'factory'"
    ):
        resolve(apply_overrides(preset("vanilla"), ["data.factory_metric=digits"]))

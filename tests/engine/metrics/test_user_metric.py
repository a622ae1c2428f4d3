"""A user's own metric by import path (config `metric: "pkg.mod:fn"`): it is checked before
training, its numbers become trace columns and its "score" the objective, and every way it can be
wrong is one line naming the key and the value."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from ganstab.engine import CohortTrainer, apply_overrides, preset
from ganstab.engine.config import ConfigError, resolve
from ganstab.engine.metrics import user
from ganstab.engine.trace import read_trace

QUICK = ["train.device=cpu", "train.steps=4", "train.eval_every=2", "model.hidden=16", "data.n_eval=64"]

MODULE = '''
import torch

def mean_gap(real, fake):
    """Minus the distance between the means; the spread ratio beside it."""
    assert real.dtype == torch.float32 and fake.shape[1:] == real.shape[1:]
    return {"score": -float((real.mean(0) - fake.mean(0)).norm()), "spread": float(fake.std() / real.std())}

def no_score(real, fake):
    return {"gap": 1.0}

def not_a_dict(real, fake):
    return 0.5

def text_value(real, fake):
    return {"score": "high"}

def bad_name(real, fake):
    return {"score": 1.0, "two words": 2.0}

def clash(real, fake):
    return {"score": 1.0, "swd": 2.0}

def raises(real, fake):
    raise RuntimeError("boom")

NOT_CALLABLE = 3
'''


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    """A module `myquality` in a fresh working folder, importable from there only."""
    name = f"myquality_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    user.load_metric.cache_clear()
    yield name
    user.load_metric.cache_clear()
    sys.modules.pop(name, None)


def test_the_users_metric_is_reported_and_its_score_is_the_objective(user_module, tmp_path):
    cfg = apply_overrides(preset("vanilla"), [*QUICK, f"metric={user_module}:mean_gap"])
    trainer = CohortTrainer([cfg, apply_overrides(cfg, ["train.seed=1"])], tmp_path / "run")
    summary = trainer.train()
    assert trainer.evaluator.columns() == ("modes", "hq", "kl", "spread")  # ring8's own, then the user's
    for m in summary:
        assert m["eval_score"] < 0 and m["eval_spread"] > 0 and 0 <= m["eval_modes"] <= 8
    trace = read_trace(tmp_path / "run" / "members" / "000" / "trace.csv")
    evals = ~np.isnan(trace["eval_score"])
    assert evals.sum() == 2 and np.all(trace["eval_score"][evals] < 0)
    np.testing.assert_allclose(trace["eval_score"][evals][-1], summary[0]["eval_score"], rtol=1e-6)
    assert "the 'score' of metric" in trainer.evaluator.describe_score()


@pytest.mark.parametrize(
    "value, words",
    [
        ("nocolon", "`metric` must be an import path 'module.path:function', but got 'nocolon'."),
        ("no_such_module_q29:fn", "`metric` 'no_such_module_q29:fn': cannot import module 'no_such_module_q29'"),
        ("{mod}:missing", "has no attribute 'missing'."),
        ("{mod}:NOT_CALLABLE", "must name a function, but it is a int."),
    ],
)
def test_a_name_that_does_not_resolve_is_refused_when_the_config_is_checked(user_module, value, words):
    cfg = apply_overrides(preset("vanilla"), [f"metric={value.format(mod=user_module)}"])
    with pytest.raises(ConfigError) as e:
        resolve(cfg)  # what `train --dry-run` and a search's checks call
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "fn, words",
    [
        ("no_score", "must return a 'score' entry (the objective, higher is better); it returned ['gap']"),
        ("not_a_dict", "must return a dict of numbers with a 'score' entry, but returned float"),
        ("text_value", "returned score='high', which is not a number"),
        ("bad_name", "returned the name 'two words'; names must be identifiers"),
        ("clash", "returned 'swd', a name the data set's own metrics use"),
        ("raises", "raised RuntimeError: boom"),
    ],
)
def test_a_function_that_misbehaves_is_refused_before_training(user_module, tmp_path, fn, words):
    pts = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
    np.save(tmp_path / "p.npy", pts)
    cfg = apply_overrides(
        preset("vanilla"), [*QUICK, "data.name=points", f"data.path={tmp_path / 'p.npy'}", f"metric={user_module}:{fn}"]
    )
    with pytest.raises(ConfigError) as e:
        CohortTrainer([cfg], tmp_path / "run")
    assert str(e.value).startswith(f"`metric` '{user_module}:{fn}' ") and words in str(e.value)
    assert not (tmp_path / "run").exists()  # nothing trained, no folder

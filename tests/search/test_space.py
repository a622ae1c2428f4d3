"""Search spaces: the shipped files sample valid configs; bad files fail with file, key and rule."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ganstab.engine.config import LABEL_LOSSES, Config, ConfigError, flat_items
from ganstab.search.space import SPACES_DIR, SpaceError, find_space, load_space
from ganstab.search.space_model import SearchSpace

SHIPPED = ("quick", "lessons", "full", "points", "zoo-ring8", "zoo-ring8-long", "zoo-ring8-steady", "zoo-grid25", "zoo-digits")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _trials(space: SearchSpace, n: int = 30) -> list[tuple[dict, dict, Config]]:
    """Sample n trials of a real study; return (trial.params, sampled values, resolved config) each."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask()
        values = space.sample(trial)
        cfg = space.config(values=values)
        out.append((dict(trial.params), values, cfg))
        study.tell(trial, 0.0)
    return out


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- shipped spaces


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_space_samples_valid_configs(name: str) -> None:
    space = load_space(SPACES_DIR / f"{name}.yaml")
    assert space.name == name and space.description and space.params
    assert find_space(name) == SPACES_DIR / f"{name}.yaml"
    keys = [p.key for p in space.params]
    for params, values, cfg in _trials(space):
        flat = flat_items(cfg)
        for key, value in space.fixed.items():
            assert flat[key] == value, key
        for key, value in params.items():
            assert flat[key] == value and type(flat[key]) is type(value), key  # the very value sampled
        assert set(params) <= set(keys) and set(params) <= set(values)


def test_quick_space_fixes_the_main_job() -> None:
    """The README's main job searches where ring8 was measured to work (bench/RESULTS.md): NS
    without spectral normalization, learning rates near 1e-3, G's weight average, 5,000 steps."""
    space = load_space(SPACES_DIR / "quick.yaml")
    cfg = space.config()
    assert (cfg.data.name, cfg.model.hidden, cfg.train.steps, cfg.train.eval_every, cfg.train.g_ema) == (
        "ring8",
        128,
        5000,
        500,
        0.99,
    )
    assert space.shape_keys() == []  # every trial fits one cohort
    assert {p.key for p in space.params} == {"train.lr_d", "train.lr_g"}
    for params, _, cfg in _trials(space, 40):
        assert (cfg.train.loss, cfg.train.sn_d, cfg.train.sn_g, cfg.train.n_dis) == ("ns", False, False, 1)
        assert 7e-4 <= params["train.lr_d"] <= 2e-3 and 7e-4 <= params["train.lr_g"] <= 2.5e-3


def test_full_space_conditions_hold() -> None:
    space = load_space(SPACES_DIR / "full.yaml")
    assert space.shape_keys() == ["model.g_mult", "model.d_mult"]
    trials = _trials(space, 40)
    seen_losses = set()
    for params, _, cfg in trials:
        loss = params["train.loss"]
        seen_losses.add(loss)
        assert ("train.gp_weight" in params) == (loss == "wgan-gp")
        assert ("train.label_smoothing" in params) == (loss in LABEL_LOSSES)
        assert ("train.noise_anneal" in params) == (params["train.noise_std"] > 0)
        if loss not in LABEL_LOSSES:
            assert cfg.train.label_smoothing == 1.0  # `otherwise`
    assert {"wgan-gp", "hinge", "ns"} <= seen_losses


def test_lessons_space_starts_from_the_preset() -> None:
    space = load_space(SPACES_DIR / "lessons.yaml")
    assert space.base == "lessons" and space.shape_keys() == []
    for params, _, cfg in _trials(space, 20):
        assert cfg.train.loss == "ns" and 1e-4 <= cfg.train.lr_d <= 1e-3
        assert ("train.noise_anneal" in params) == (params["train.noise_std"] > 0)


def test_int_params_steps_and_shape_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
fixed: {train.steps: 100}
params:
  train.batch_size: {int: [32, 256], log: true}
  model.hidden: {int: [32, 128], step: 32}
  train.lr_d: {log_uniform: [1e-5, 1e-2]}
""",
        "ints.yaml",
    )
    space = load_space(path)
    assert space.shape_keys() == ["train.batch_size", "model.hidden"]
    for params, _, cfg in _trials(space, 10):
        assert 32 <= cfg.train.batch_size <= 256 and cfg.model.hidden in (32, 64, 96, 128)
        assert isinstance(params["model.hidden"], int) and cfg.train.steps == 100


def test_values_apply_as_values_and_overrides_as_text() -> None:
    """A trial's values go into its config as they are, never as key=value text parsed back (YAML
    1.1 would read 1e-05 as a string); a user's --set strings are parsed and applied after them."""
    space = SearchSpace("values", fixed={"train.steps": 300})
    values = {
        "train.lr_d": 1e-05,
        "train.lr_g": 3.5e-06,
        "train.sn_d": True,
        "data.path": None,
        "train.n_dis": 5,
    }
    flat = flat_items(space.config(["train.eval_every=50", "beta1=0.25"], values=values))
    assert {k: flat[k] for k in values} == values
    assert (flat["train.steps"], flat["train.eval_every"], flat["train.beta1"]) == (300, 50, 0.25)
    with pytest.raises(ConfigError, match="`train.n_dis` must be an integer, but got 'five'"):
        space.config(values={"train.n_dis": "five"})


def test_overrides_given_as_values_equal_the_same_overrides_as_text() -> None:
    """The search's overrides, parsed once into values, give the config their text gives."""
    space = SearchSpace("values", fixed={"train.steps": 300})
    values = {"train.lr_d": 1e-05}
    as_text = space.config(["train.eval_every=50", "beta1=0.25"], values=values)
    assert space.config({"train.eval_every": 50, "beta1": 0.25}, values=values) == as_text
    with pytest.raises(ConfigError, match="Unknown config key `nope`"):
        space.config({"nope": 1})


@pytest.mark.parametrize("name", SHIPPED)
def test_trial_configs_equal_those_made_from_scratch(name: str) -> None:
    """A trial's config is built from a start config made once per space (and copies that are not
    `copy.deepcopy`): the same config, field for field, as the preset, fixed values, sampled values
    and overrides applied afresh; a config changed by its caller changes no later trial's."""
    import copy

    from ganstab.engine.config import apply_values, from_dict, nest, preset, resolve

    space = load_space(SPACES_DIR / f"{name}.yaml")
    overrides = {"data.name": "ring8", "train.steps": 40, "train.eval_every": 20}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial)
        cfg = space.config(overrides, values=values)
        base = preset(space.base) if space.base else Config()
        fresh = from_dict(nest(space.fixed), copy.deepcopy(base))
        fresh = resolve(apply_values(from_dict(nest(values), copy.deepcopy(fresh)), overrides))
        assert cfg == fresh and flat_items(cfg) == flat_items(fresh)
        cfg.train.lr_d, cfg.data.name = -1.0, "changed"  # the caller's copy
        if cfg.data.centres is not None:
            cfg.data.centres.append([9.0, 9.0])
    assert space.start_config() == from_dict(nest(space.fixed), preset(space.base) if space.base else Config())


def test_a_changed_space_is_seen_by_its_next_trial() -> None:
    """The start config made once is made again when the space's base or fixed values change."""
    space = SearchSpace("values", fixed={"train.steps": 300})
    assert space.config().train.steps == 300
    space.fixed["train.steps"] = 200
    space.base = "lessons"
    cfg = space.config()
    assert cfg.train.steps == 200 and cfg.train.sn_d and space.start_config().train.steps == 200


# --------------------------------------------------------------------------- invalid files

BAD = {
    "unknown key": (
        "params:\n  train.lr_x: {log_uniform: [1e-5, 1e-2]}\n",
        "params.train.lr_x",
        "train.lr_d",
    ),
    "short key": ("params:\n  lr_d: {log_uniform: [1e-5, 1e-2]}\n", "params.lr_d", "train.lr_d"),
    "unknown kind": ("params:\n  train.lr_d: {normal: [0, 1]}\n", "params.train.lr_d", "normal"),
    "no kind": ("params:\n  train.lr_d: {log: true}\n", "params.train.lr_d", "exactly one"),
    "log bounds": ("params:\n  train.lr_d: {log_uniform: [0, 1]}\n", "params.train.lr_d", "0 < low < high"),
    "reversed": ("params:\n  train.beta1: {uniform: [0.5, 0.1]}\n", "params.train.beta1", "low < high"),
    "bad bound": ("params:\n  train.beta1: {uniform: [0, x]}\n", "params.train.beta1", "finite numbers"),
    "out of range": ("params:\n  train.beta1: {uniform: [0.0, 1.0]}\n", "params.train.beta1", "[0, 1)"),
    "int range": ("params:\n  train.n_dis: {int: [0, 3]}\n", "params.train.n_dis", ">= 1"),
    "float on int": ("params:\n  train.n_dis: {uniform: [1, 3]}\n", "params.train.n_dis", "use `int`"),
    "log step": ("params:\n  train.n_dis: {int: [1, 8], log: true, step: 2}\n", "params.train.n_dis", "log"),
    "empty choice": ("params:\n  train.loss: {choice: []}\n", "params.train.loss", "non-empty"),
    "choice type": ("params:\n  train.n_dis: {choice: [1, x]}\n", "params.train.n_dis", "'x'"),
    "bool choice": ("params:\n  train.sn_d: {choice: [true, 1]}\n", "params.train.sn_d", "true or false"),
    "unknown loss": ("params:\n  train.loss: {choice: [ns, wgan]}\n", "params.train.loss", "'wgan'"),
    "unknown data": ("fixed:\n  data.name: ring9\nparams: {}\n", "fixed.data.name", "'ring9'"),
    "data choice": ("params:\n  data.name: {choice: [ring8, moons]}\n", "params.data.name", "'moons'"),
    "fixed type": ("fixed:\n  train.steps: many\nparams: {}\n", "fixed.train.steps", "integer"),
    "fixed range": ("fixed:\n  train.steps: 0\nparams: {}\n", "fixed.train.steps", ">= 1"),
    "when later": (
        "params:\n  train.gp_weight: {uniform: [1, 10], when: {train.loss: wgan-gp}}\n"
        "  train.loss: {choice: [ns, wgan-gp]}\n",
        "params.train.gp_weight.when.train.loss",
        "listed above",
    ),
    "when unknown": (
        "params:\n  train.gp_weight: {uniform: [1, 10], when: {train.losss: wgan-gp}}\n",
        "params.train.gp_weight.when.train.losss",
        "unknown config key",
    ),
    "when value": (
        "params:\n  train.loss: {choice: [ns, hinge]}\n"
        "  train.gp_weight: {uniform: [1, 10], when: {train.loss: wgan-gp}}\n",
        "params.train.gp_weight.when.train.loss",
        "not among the choices",
    ),
    "when op": (
        "params:\n  train.loss: {choice: [ns, hinge]}\n"
        "  train.gp_weight: {uniform: [1, 10], when: {train.loss: {gt: 0}}}\n",
        "params.train.gp_weight.when.train.loss",
        "compares numbers",
    ),
    "when never": (
        "fixed:\n  train.loss: ns\nparams:\n  train.gp_weight: {uniform: [1, 10], when: {train.loss: wgan-gp}}\n",
        "params.train.gp_weight.when.train.loss",
        "never holds",
    ),
    "when never numeric": (
        "params:\n  train.noise_std: {choice: [0.0, 0.1]}\n"
        "  train.noise_anneal: {uniform: [0.5, 1], when: {train.noise_std: {gt: 0.5}}}\n",
        "params.train.noise_anneal.when.train.noise_std",
        "never holds",
    ),
    "fixed and param": (
        "fixed:\n  train.lr_d: 1e-4\nparams:\n  train.lr_d: {log_uniform: [1e-5, 1e-2]}\n",
        "params.train.lr_d",
        "also in `fixed`",
    ),
    "unknown base": ("base: lesson\nparams: {}\n", "base", "'lesson'"),
    "unknown top": ("parameters: {}\n", "parameters", "top-level"),
    "no params": ("description: nothing\n", "params", "missing"),
    "otherwise alone": (
        "params:\n  train.n_dis: {choice: [1, 2], otherwise: 1}\n",
        "params.train.n_dis",
        "`when`",
    ),
    "smoothing vs hinge": (
        "base: lessons\nparams:\n  train.loss: {choice: [ns, hinge]}\n",
        "params.train.loss",
        "train.label_smoothing",
    ),
    "inactive keeps base": (
        "base: lessons\nparams:\n  train.loss: {choice: [ns, hinge]}\n"
        "  train.label_smoothing: {choice: [0.9, 1.0], when: {train.loss: ns}}\n",
        "params.train.loss",
        "otherwise",
    ),
    "duplicate": (
        "params:\n  train.lr_d: {log_uniform: [1e-5, 1e-2]}\n  train.lr_d: {log_uniform: [1e-4, 1e-2]}\n",
        "train.lr_d",
        "twice",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_space_names_file_key_and_problem(tmp_path: Path, case: str) -> None:
    text, key, problem = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(SpaceError) as err:
        load_space(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert key in message and problem in message, message


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="missing.yaml"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(SpaceError, match="not valid YAML"):
        load_space(_write(tmp_path, "params: {train.lr_d: [1,\n"))
    with pytest.raises(SpaceError, match="no shipped space"):
        find_space("no-such-space")


def test_condition_operators(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
params:
  train.loss: {choice: [ns, hinge, ls]}
  train.n_dis: {int: [1, 4]}
  train.beta1: {uniform: [0.0, 0.5], when: {train.n_dis: {ge: 2}, train.loss: {not_in: [hinge]}}}
  train.beta2: {choice: [0.9, 0.99], when: {train.loss: {ne: ns}}, otherwise: 0.999}
  train.noise_std: {choice: [0.0, 0.1], when: {train.n_dis: {le: 1}}}
""",
        "ops.yaml",
    )
    space = load_space(path)
    for params, _, cfg in _trials(space, 30):
        loss, n_dis = params["train.loss"], params["train.n_dis"]
        assert ("train.beta1" in params) == (n_dis >= 2 and loss != "hinge")
        assert ("train.beta2" in params) == (loss != "ns")
        assert ("train.noise_std" in params) == (n_dis <= 1)
        if loss == "ns":
            assert cfg.train.beta2 == 0.999

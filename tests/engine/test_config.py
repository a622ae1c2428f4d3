"""Config: YAML in and out, overrides, presets, and errors that name the key and the value."""

from __future__ import annotations

import pytest

from ganstab.engine import config as C
from ganstab.engine.config import ConfigError


def test_yaml_round_trip(tmp_path):
    cfg = C.apply_overrides(C.preset("lessons"), ["data.name=grid25", "model.g_mult=2", "train.n_dis=3"])
    path = tmp_path / "c.yaml"
    path.write_text(C.dump_yaml(cfg))
    assert C.load_yaml(path) == cfg


def test_every_field_has_a_comment_in_the_source():
    import inspect

    src = inspect.getsource(C)
    for section in C.SECTIONS:
        for name in C.flat_items(C.Config()):
            if name.startswith(section + "."):
                field = name.split(".", 1)[1]
                line = next(line for line in src.splitlines() if line.strip().startswith(f"{field}:"))
                assert "#" in line, f"{name} has no comment"


def test_presets():
    lessons = C.preset("lessons").train
    assert (lessons.loss, lessons.sn_d, lessons.sn_g, lessons.lr_d, lessons.lr_g) == (
        "ns",
        True,
        True,
        4e-4,
        1e-4,
    )
    assert (lessons.beta1, lessons.beta2, lessons.n_dis, lessons.label_smoothing) == (0.0, 0.9, 1, 0.9)
    vanilla = C.preset("vanilla").train
    assert vanilla.lr_d == vanilla.lr_g and not vanilla.sn_d and vanilla.label_smoothing == 1.0
    assert vanilla.noise_std == 0.0
    with pytest.raises(ConfigError, match="Unknown preset 'nope'"):
        C.preset("nope")


def test_overrides_parse_types_and_accept_short_keys():
    cfg = C.apply_overrides(C.Config(), ["lr_d=4e-4", "train.sn_d=true", "data.centres=[[0, 0], [1, 1]]"])
    assert cfg.train.lr_d == 4e-4 and cfg.train.sn_d is True
    assert cfg.data.centres == [[0.0, 0.0], [1.0, 1.0]]


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr_d: 4e-4\n")
    assert C.load_yaml(path).train.lr_d == 4e-4


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.nope=1", "Unknown config key `train.nope`"),
        ("nope=1", "Unknown config key `nope`"),
        ("train.n_dis=abc", "`train.n_dis` must be an integer, but got 'abc'"),
        ("train.sn_d=maybe", "`train.sn_d` must be true or false, but got 'maybe'"),
        ("train.lr_g=x", "`train.lr_g` must be a number, but got 'x'"),
        ("train.steps", "must look like key=value"),
    ],
)
def test_bad_overrides_name_key_and_value(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        C.apply_overrides(C.Config(), [override])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.n_dis=0", "`train.n_dis` must be >= 1, but got 0."),
        ("train.lr_d=0", "`train.lr_d` must be > 0, but got 0.0."),
        ("train.beta2=1.0", "`train.beta2` must be in [0, 1), but got 1.0."),
        ("train.loss=wgan", "`train.loss` must be one of"),
        ("data.name=cifar100", "`data.name` must be one of"),
        ("data.resolution=12", "`data.resolution` must be 0 or a power of 2 >= 8, but got 12."),
        ("model.msg=true", "`model.msg` must be false for point data (ring8)"),
        ("train.device=tpu", "`train.device` must be auto, cpu or cuda, but got 'tpu'."),
        ("train.noise_anneal=0", "`train.noise_anneal` must be in (0, 1]"),
    ],
)
def test_out_of_range_values_name_key_and_value(override, message):
    cfg = C.apply_overrides(C.Config(), [override])
    with pytest.raises(ConfigError) as err:
        C.resolve(cfg)
    assert message in str(err.value)


def test_label_smoothing_only_with_label_losses():
    cfg = C.apply_overrides(C.preset("lessons"), ["train.loss=hinge"])
    with pytest.raises(ConfigError, match="label_smoothing"):
        C.resolve(cfg)
    C.resolve(C.apply_overrides(cfg, ["train.label_smoothing=1.0"]))


def test_bad_yaml_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        C.load_yaml(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("training:\n  lr_d: 1\n")
    with pytest.raises(ConfigError, match=r"unknown.yaml: Unknown config section `training`"):
        C.load_yaml(unknown)
    with pytest.raises(ConfigError, match="Cannot read config file"):
        C.load_yaml(tmp_path / "missing.yaml")


def test_resolve_fills_data_set_defaults():
    ring = C.resolve(C.Config())
    assert (ring.data.n_modes, ring.data.radius, ring.data.std, ring.train.batch_size) == (8, 2.0, 0.02, 256)
    grid = C.resolve(C.apply_overrides(C.Config(), ["data.name=grid25"]))
    assert (grid.data.grid_size, grid.data.grid_spacing, grid.data.std) == (5, 2.0, 0.05)
    digits = C.resolve(C.apply_overrides(C.Config(), ["data.name=digits"]))
    assert (digits.data.resolution, digits.model.latent_dim, digits.train.batch_size) == (8, 64, 64)


def test_cohort_members_may_differ_only_in_member_keys():
    a = C.Config()
    b = C.apply_overrides(a, ["train.loss=hinge", "train.lr_d=1e-3", "train.n_dis=5", "train.seed=4"])
    C.check_cohort([a, b])
    with pytest.raises(ConfigError, match="train.batch_size"):
        C.check_cohort([a, C.apply_overrides(a, ["train.batch_size=32"])])


@pytest.mark.parametrize(
    "override, suggestion",
    [
        ("lr=1e-4", "Unknown config key `lr` (did you mean `train.lr_g` or `train.lr_d`?)"),
        ("stpes=100", "Unknown config key `stpes` (did you mean `train.steps`?)"),
        ("train.lr=1e-4", "Unknown config key `train.lr` (did you mean `train.lr_g`, `train.lr_d`"),
        ("trian.lr_d=1e-4", "Unknown config section `trian` (did you mean `train`?)"),
    ],
)
def test_mistyped_keys_get_a_did_you_mean(override, suggestion):
    with pytest.raises(ConfigError) as err:
        C.apply_overrides(C.Config(), [override])
    assert suggestion in str(err.value)


def test_a_key_near_nothing_gets_no_guess_and_a_preset_gets_one():
    with pytest.raises(ConfigError) as err:
        C.apply_overrides(C.Config(), ["xyzzy=1"])
    assert str(err.value) == "Unknown config key `xyzzy`."
    with pytest.raises(ConfigError, match=r"Unknown preset 'lesson' \(did you mean 'lessons'\?\)"):
        C.preset("lesson")


def test_registry_lookup_of_an_unknown_name_is_a_plain_value_error_with_a_guess():
    from ganstab.engine.dataset_registry import DATASETS

    with pytest.raises(ValueError) as err:
        DATASETS.get("rign8")
    assert isinstance(err.value, KeyError)  # lookups may still catch KeyError
    assert str(err.value).startswith(
        "Unknown data set 'rign8' (did you mean 'ring8'?); choose one of: ring8,"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.name=rign8", "`data.name` must be one of ring8, grid25,"),
        ("train.loss=hinj", "`train.loss` must be one of ns, minimax, hinge,"),
    ],
)
def test_an_unknown_data_set_or_loss_gets_a_did_you_mean(override, message):
    with pytest.raises(ConfigError) as err:
        C.resolve(C.apply_overrides(C.Config(), [override]))
    text = str(err.value)
    assert (
        text.startswith(message)
        and "(did you mean '" in text
        and text.endswith(f"but got {override.split('=')[1]!r}.")
    )


def test_configs_are_copied_deeply():
    """from_dict and resolve copy their input (without copy.deepcopy's machinery): equal to it,
    and sharing nothing mutable with it."""
    import copy

    base = C.from_dict({"data": {"name": "mixture", "centres": [[0.0, 0.0], [1.0, 1.0]]}, "train": {"lr_d": 1e-3}})
    made, resolved = C.from_dict({"train": {"seed": 3}}, base), C.resolve(base)
    assert made == C.from_dict({"train": {"seed": 3}}, copy.deepcopy(base)) and resolved.data.centres == base.data.centres
    for cfg in (made, resolved):
        assert cfg.data is not base.data and cfg.train is not base.train
        assert cfg.data.centres is not base.data.centres and cfg.data.centres[0] is not base.data.centres[0]
    resolved.data.centres.append([2.0, 2.0])
    made.data.centres[0][0] = 5.0
    assert base.data.centres == [[0.0, 0.0], [1.0, 1.0]] and base.train.seed == 0

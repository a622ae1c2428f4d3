"""The one typed configuration of a training run: data, networks, training.

Every field has a default and a comment saying what it does and what turns it off. YAML in and
out; unknown keys, wrong types and out-of-range values are errors (`ConfigError`) that name the
key and the value. `apply_overrides` implements `--set key=value`. Fields whose value depends on
the data set (`0`/`None` = "auto") are filled in by `resolve`, and the resolved config is what a
run folder stores.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import json
import math
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganstab.engine.config_error import ConfigError
from ganstab.engine.dataset_registry import DATASETS, IMAGE_DATASETS


def close_names(word: str, options: Iterable[str], n: int = 3) -> list[str]:
    """The options a mistyped `word` most likely meant: close spellings, else the options that
    start with it (`lr` -> lr_d, lr_g). Empty when nothing is near."""
    options = list(dict.fromkeys(options))
    close = difflib.get_close_matches(word, options, n=n, cutoff=0.6)
    if not close and word:
        close = [o for o in options if o.startswith(word)][:n]
    return close


def did_you_mean(word: str, options: Iterable[str], quote: str = "`") -> str:
    """' (did you mean `a` or `b`?)' for a mistyped name, '' when no option is near."""
    return _suggest([f"{quote}{c}{quote}" for c in close_names(word, options)])


def _suggest(names: list[str]) -> str:
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f" (did you mean {listed}?)"


@dataclass
class DataConfig:
    name: str = "ring8"  # data set, one of ganstab.engine.dataset_registry.DATASETS
    n_modes: int = 0  # ring: number of Gaussians on the circle; 0 = 8
    radius: float = 0.0  # ring: radius of the circle of centres; 0 = 2.0
    grid_size: int = 0  # grid: centres per side; 0 = 5
    grid_spacing: float = 0.0  # grid: distance between neighbouring centres; 0 = 2.0
    std: float = 0.0  # mixtures: std of every Gaussian; 0 = the data set's standard (ring 0.02, grid 0.05)
    centres: list[list[float]] | None = None  # mixture: explicit 2-D centres, e.g. [[0, 0], [1, 1]]
    path: str | None = None  # points (.npy/.csv), mnist, cifar10, folder: local file or folder
    factory: str | None = None  # factory: "pkg.mod:func" returning a torch Dataset, tensor or array (engine/user_code.py)
    factory_kwargs: dict[str, Any] = field(default_factory=dict)  # factory: keyword arguments of data.factory
    factory_metric: str = "auto"  # factory: its metric family: auto (points or images by shape), digits (classifier's modes, HQ)
    resolution: int = 0  # images: side in pixels, a power of 2 >= 8; 0 = the data set's (digits 8, others 32)
    n_eval: int = 2500  # samples generated at each evaluation


FACTORY_METRICS = ("auto", "digits")  # data.factory_metric's choices (engine/data.py's _load_factory)


@dataclass
class ModelConfig:
    latent_dim: int = 0  # size of G's input noise z; 0 = 16 for points, 64 for images
    hidden: int = 128  # MLP: width of each hidden layer, before the multiplier
    layers: int = 2  # MLP: number of hidden layers in G and in D
    channels: int = 64  # conv: filters of the widest layer, before the multiplier
    g_mult: float = 1.0  # capacity multiplier for G's widths (lesson 1: rarely the fix)
    d_mult: float = 1.0  # capacity multiplier for D's widths
    msg: bool = False  # multi-scale gradients, MSG-GAN (lesson 8); image data only
    generator: str | None = None  # your own G, "pkg.mod:Name" (an nn.Module class); None = ganstab's
    generator_kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments of model.generator
    discriminator: str | None = None  # your own D, "pkg.mod:Name"; None = ganstab's
    discriminator_kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments of model.discriminator
    user_cohort: str = "auto"  # your networks' cohort: auto (vmap where it runs, else a loop), vmap or loop


@dataclass
class TrainConfig:
    loss: str = "ns"  # GAN loss, one of ganstab.engine.losses.LOSSES (lesson 3: ns is enough)
    gp_weight: float = 10.0  # gradient-penalty weight; used by wgan-gp only
    lr_g: float = 2e-4  # Adam learning rate of G (lesson 5: the most important knob)
    lr_d: float = 2e-4  # Adam learning rate of D; differs from lr_g under TTUR (lesson 9)
    beta1: float = 0.5  # Adam beta1 for G and D
    beta2: float = 0.999  # Adam beta2 for G and D
    n_dis: int = 1  # D updates per G update (lesson 4); 1 = alternate
    sn_d: bool = False  # spectral normalization on D's layers (lesson 10)
    sn_g: bool = False  # spectral normalization on G's layers, as in SAGAN (lesson 10)
    label_smoothing: float = 1.0  # target for real labels, e.g. 0.9 (lesson 7); 1.0 = off
    noise_std: float = 0.0  # instance noise std on D's inputs at step 0 (lesson 6); 0 = off
    noise_anneal: float = 1.0  # fraction of training over which the noise decays linearly to 0
    g_ema: float = 0.0  # evaluate/sample an EMA of G's weights with this decay, e.g. 0.99 (engine/average.py); 0 = off
    batch_size: int = 0  # samples per batch; 0 = 256 for points, 64 for images
    steps: int = 5000  # G updates in the whole run
    eval_every: int = 500  # steps between evaluations (metrics, samples, checkpoint); 0 = end only
    log_every: int = 10  # steps between trace rows
    seed: int = 0  # seeds initialisation and this run's data and noise streams
    device: str = "auto"  # auto (cuda if available), cpu or cuda
    precision: str = "fp32"  # fp32, or bf16 autocast for the networks


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    inception_weights: str | None = None  # FID/KID: path of torch-fidelity's Inception weights file
    metric: str | None = None  # your own quality metric "pkg.mod:fn" (engine/metrics/user.py); None = the data set's


SECTIONS = ("data", "model", "train")
# Config fields outside the sections, set and overridden by their plain name (`inception_weights`).
TOP_LEVEL_KEYS = tuple(f.name for f in dataclasses.fields(Config) if f.name not in SECTIONS)

# Hyperparameters that leave every tensor shape alone, so members of one cohort may differ in them.
MEMBER_KEYS = frozenset(
    f"train.{k}"
    for k in (
        "loss gp_weight lr_g lr_d beta1 beta2 n_dis sn_d sn_g label_smoothing noise_std noise_anneal g_ema seed"
    ).split()
)

# Losses whose real target is a label that one-sided smoothing can move below 1.
LABEL_LOSSES = ("ns", "minimax", "ls")

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # NS loss, no tricks, one learning rate for both networks (DCGAN's Adam settings).
    "vanilla": {"train": {"loss": "ns", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}},
    # The "lessons default" of lessons.md.
    "lessons": {
        "train": {
            "loss": "ns",
            "sn_d": True,
            "sn_g": True,
            "lr_d": 4e-4,
            "lr_g": 1e-4,
            "beta1": 0.0,
            "beta2": 0.9,
            "n_dis": 1,
            "label_smoothing": 0.9,
            "noise_std": 0.0,
        }
    },
}


# --------------------------------------------------------------------------- dict <-> dataclass


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


_FLOAT_MAX = sys.float_info.max


def _check_type(key: str, value: Any, tp: Any) -> Any:
    """Return `value` converted to `tp` where that is lossless, else raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(key, value, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{key}` must be a list, but got {value!r}.")
        return [_check_type(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"`{key}` must be a mapping of names to values, e.g. {{hidden: 64}}, but got {value!r}.")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"`{key}` must be true or false, but got {value!r}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"`{key}` must be an integer, but got {value!r}.")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) > _FLOAT_MAX:  # float() would overflow
                raise ConfigError(f"`{key}` must be a number of at most {_FLOAT_MAX:.3g}, but got {value!r}.")
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 4e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"`{key}` must be a number, but got {value!r}.")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"`{key}` must be a string, but got {value!r}.")
    raise TypeError(f"unsupported config type {tp!r} for {key}")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """`typing.get_type_hints(cls)`, evaluated once per class: a search makes a config per trial
    (thousands per round), and evaluating the string annotations each time was most of it."""
    return typing.get_type_hints(cls)


def _merge_section(obj: Any, values: dict[str, Any], prefix: str) -> None:
    hints = _type_hints(type(obj))
    for key, value in values.items():
        if key not in hints:
            hint = did_you_mean(f"{prefix}{key}", [f"{prefix}{h}" for h in hints])
            raise ConfigError(
                f"Unknown config key `{_shown(f'{prefix}{key}')}`{hint}; valid keys in `{prefix.rstrip('.')}`: "
                f"{', '.join(hints)}."
            )
        setattr(obj, key, _check_type(f"{prefix}{key}", value, hints[key]))


_IMMUTABLE = (str, int, float, bool, type(None))


def _clone(obj: Any) -> Any:
    """A deep copy of a config (or section) dataclass: the same as `copy.deepcopy`, without its
    generic machinery (a search copies a config several times per trial, thousands per round).
    Scalars are shared (immutable), sections cloned, anything else deep-copied."""
    new = object.__new__(type(obj))  # copy.copy, without its __reduce_ex__ round trip
    new.__dict__.update(obj.__dict__)
    for name in _field_names(type(obj)):
        value = getattr(obj, name)
        if type(value) in _IMMUTABLE:
            continue
        setattr(new, name, _clone(value) if dataclasses.is_dataclass(value) else copy.deepcopy(value))
    return new


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def from_dict(values: dict[str, Any] | None, base: Config | None = None) -> Config:
    """Overlay a nested dict (as read from YAML) on `base` (default: the defaults)."""
    cfg = _clone(base) if base is not None else Config()
    if values is None:
        return cfg
    if not isinstance(values, dict):
        raise ConfigError(f"A config must be a mapping with sections {SECTIONS}, but got {values!r}.")
    for key, value in values.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"Config section `{key}` must be a mapping, but got {value!r}.")
            _merge_section(getattr(cfg, key), value, f"{key}.")
        elif key in TOP_LEVEL_KEYS:
            setattr(cfg, key, _check_type(key, value, _type_hints(Config)[key]))
        else:
            valid = [*SECTIONS, *TOP_LEVEL_KEYS]
            hint = did_you_mean(str(key), valid)
            raise ConfigError(f"Unknown config section `{_shown(key)}`{hint}; valid: {', '.join(valid)}.")
    return cfg


# What yaml.safe_load raises on bad input: YAMLError, and for a bad explicit tag ("!!float ;",
# "!!int", "!!timestamp 0000-0-0") whatever the tag's constructor raises.
YAML_ERRORS = (yaml.YAMLError, ValueError, TypeError, AttributeError, IndexError, OverflowError)


def yaml_problem(e: Exception) -> str:
    """A YAML error in one line: what is wrong and where ("expected ..., but found ':' at line 1,
    column 2"); PyYAML's own text spans several lines and quotes the input."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return _shown(f"{e.problem}{where}")
    return " ".join(str(e).split()) or type(e).__name__


def _shown(name: object) -> str:
    """A user's key as one line of text: escapes where it holds a line break or the like."""
    text = str(name)
    return text if text.isprintable() else repr(text)[1:-1]


def load_yaml(path: str | Path, base: Config | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"Cannot read config file {path}: {e.strerror}.") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"Config file {path} is not UTF-8 text: {e.reason} at byte {e.start}.") from e
    try:
        values = yaml.safe_load(text)
    except YAML_ERRORS as e:
        raise ConfigError(f"Config file {path} is not valid YAML: {yaml_problem(e)}") from e
    try:
        return from_dict(values, base)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def preset(name: str) -> Config:
    if name not in PRESETS:
        hint = did_you_mean(str(name), PRESETS, quote="'")
        raise ConfigError(f"Unknown preset {name!r}{hint}; choose one of: {', '.join(PRESETS)}.")
    return from_dict(PRESETS[name])


def qualify_key(key: str) -> str:
    """Accept `train.lr_d` or plain `lr_d` (when the name belongs to one section only)."""
    if "." in key or key in TOP_LEVEL_KEYS:
        return key
    owners = [s for s in SECTIONS if key in typing.get_type_hints(type(getattr(Config(), s)))]
    if len(owners) == 1:
        return f"{owners[0]}.{key}"
    if not owners:
        # match the short names ('lr' -> lr_d, lr_g) and the dotted ones ('train_lr_d'), shown dotted
        dotted = [f"{s}.{k}" for s in SECTIONS for k in typing.get_type_hints(type(getattr(Config(), s)))]
        short = {k.split(".", 1)[1]: k for k in dotted}
        close = [short[c] for c in close_names(key, short)] or close_names(key, dotted)
        raise ConfigError(f"Unknown config key `{_shown(key)}`{_suggest([f'`{c}`' for c in close])}.")
    raise ConfigError(f"Config key `{key}` is ambiguous; write one of {[f'{o}.{key}' for o in owners]}.")


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """`key=value` strings (the CLI's `--set`) as {qualified key: value}, values read as YAML
    scalars. The one place override text is parsed: everything past it passes values."""
    values: dict[str, Any] = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"An override must look like key=value, but got {item!r}.")
        key, raw = item.split("=", 1)
        key = qualify_key(key.strip())
        try:
            values[key] = yaml.safe_load(raw) if raw.strip() else None
        except YAML_ERRORS as e:
            raise ConfigError(f"Cannot parse the value of `{key}`: {raw!r} ({yaml_problem(e)}).") from e
    return values


def apply_values(cfg: Config, values: Mapping[str, Any]) -> Config:
    """A copy of `cfg` with {key: value} set (keys qualified or unique short names)."""
    return from_dict(nest({qualify_key(key): value for key, value in values.items()}), cfg)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{qualified key: value} as the nested dict `from_dict` reads ({"train": {"lr_d": ...}})."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if key in TOP_LEVEL_KEYS:
            nested[key] = value
        else:
            section, _, name = key.partition(".")
            nested.setdefault(section, {})[name] = value
    return nested


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """Apply `key=value` strings (the CLI's `--set`)."""
    return apply_values(cfg, parse_overrides(overrides))


# --------------------------------------------------------------------------- checks and resolution


def _one_of(value: Any, names: Iterable[str]) -> str:
    """A registry's rule text: 'one of a, b, c (did you mean 'b'?)'."""
    names = list(names)
    hint = did_you_mean(str(value), names, quote="'")
    return f"one of {', '.join(names)}{hint}"


def _rule(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"`{key}` must be {rule}, but got {value!r}.")


def validate(cfg: Config) -> None:
    """Range and consistency checks; raise ConfigError naming the key and the value."""
    _check_data(cfg.data)
    _check_model(cfg.model, cfg.data)
    _check_train(cfg.train)
    if cfg.metric is not None:  # imported (once per name) now, not after minutes of training
        from ganstab.engine.metrics.user import load_metric

        load_metric(cfg.metric)


def _check_data(d: DataConfig) -> None:
    if d.name not in DATASETS:  # the rule's text (a did-you-mean search) only when it is broken
        _rule(False, "data.name", _one_of(d.name, DATASETS), d.name)
    _rule(d.n_modes >= 0, "data.n_modes", ">= 1 (0 = default)", d.n_modes)
    _rule(d.radius >= 0, "data.radius", "> 0 (0 = default)", d.radius)
    _rule(d.grid_size >= 0, "data.grid_size", ">= 1 (0 = default)", d.grid_size)
    _rule(d.grid_spacing >= 0, "data.grid_spacing", "> 0 (0 = default)", d.grid_spacing)
    _rule(d.std >= 0, "data.std", "> 0 (0 = default)", d.std)
    _rule(d.n_eval >= 10, "data.n_eval", ">= 10", d.n_eval)
    _rule(
        d.resolution == 0 or (d.resolution >= 8 and d.resolution & (d.resolution - 1) == 0),
        "data.resolution",
        "0 or a power of 2 >= 8",
        d.resolution,
    )
    _check_import_path("data.factory", d.factory)
    if d.name != "factory":
        _rule(d.factory is None, "data.factory", f"unset unless data.name is 'factory' (it is {d.name!r})", d.factory)
        _rule(not d.factory_kwargs, "data.factory_kwargs", "empty unless data.name is 'factory'", d.factory_kwargs)
        _rule(d.factory_metric == "auto", "data.factory_metric", "'auto' unless data.name is 'factory'", d.factory_metric)
    _rule(d.factory_metric in FACTORY_METRICS, "data.factory_metric", f"one of {FACTORY_METRICS}", d.factory_metric)
    if d.centres is not None:
        _rule(
            len(d.centres) >= 1 and all(len(c) == 2 for c in d.centres),
            "data.centres",
            "a non-empty list of [x, y] pairs",
            d.centres,
        )


# "pkg.mod:Name" (the Name may be dotted, a class inside a class): what model.generator,
# model.discriminator and data.factory hold; importing them is engine/user_code.py's job.
IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
# What ganstab's own networks read and a user's network cannot take: refused, never ignored.
G_ONLY_KEYS = {"g_mult": 1.0}
D_ONLY_KEYS = {"d_mult": 1.0}
SHAPE_KEYS = {"hidden": 128, "layers": 2, "channels": 64}  # refused when both networks are the user's


def _check_import_path(key: str, value: str | None) -> None:
    if value is not None:
        _rule(bool(IMPORT_PATH.match(value)), key, 'an import path "pkg.module:Name"', value)


def uses_user_networks(m: ModelConfig) -> bool:
    return m.generator is not None or m.discriminator is not None


def _check_user_networks(m: ModelConfig) -> None:
    _check_import_path("model.generator", m.generator)
    _check_import_path("model.discriminator", m.discriminator)
    _rule(m.user_cohort in ("auto", "vmap", "loop"), "model.user_cohort", "auto, vmap or loop", m.user_cohort)
    if not uses_user_networks(m):
        for key in ("generator_kwargs", "discriminator_kwargs"):
            _rule(not getattr(m, key), f"model.{key}", f"empty without model.{key[:-7]}", getattr(m, key))
        _rule(m.user_cohort == "auto", "model.user_cohort", "auto without model.generator/model.discriminator", m.user_cohort)
        return
    if m.generator is not None:
        _rule(m.latent_dim >= 1, "model.latent_dim", "set (>= 1) with model.generator: the size of your G's input", m.latent_dim)
    refused = [(k, v) for k, v in G_ONLY_KEYS.items() if m.generator is not None]
    refused += [(k, v) for k, v in D_ONLY_KEYS.items() if m.discriminator is not None]
    refused += [(k, v) for k, v in SHAPE_KEYS.items() if m.generator is not None and m.discriminator is not None]
    refused += [("msg", False)]
    for key, default in refused:
        value = getattr(m, key)
        if value != default:
            raise ConfigError(
                f"`model.{key}` does not apply to your own networks (model.generator/model.discriminator "
                f"are set): leave it at {default!r}, but got {value!r}."
            )


def _check_model(m: ModelConfig, d: DataConfig) -> None:
    _check_user_networks(m)
    _rule(m.latent_dim >= 0, "model.latent_dim", ">= 1 (0 = default)", m.latent_dim)
    _rule(m.hidden >= 1, "model.hidden", ">= 1", m.hidden)
    _rule(m.layers >= 1, "model.layers", ">= 1", m.layers)
    _rule(m.channels >= 1, "model.channels", ">= 1", m.channels)
    _rule(m.g_mult > 0, "model.g_mult", "> 0", m.g_mult)
    _rule(m.d_mult > 0, "model.d_mult", "> 0", m.d_mult)
    if m.msg:
        _rule(d.name in IMAGE_DATASETS, "model.msg", f"false for point data ({d.name})", m.msg)


def _check_train(t: TrainConfig) -> None:
    from ganstab.engine.losses import LOSSES  # torch: only when a config is checked

    if t.loss not in LOSSES:
        _rule(False, "train.loss", _one_of(t.loss, LOSSES), t.loss)
    _rule(t.gp_weight >= 0, "train.gp_weight", ">= 0", t.gp_weight)
    for key in ("lr_g", "lr_d"):
        v = getattr(t, key)
        _rule(math.isfinite(v) and v > 0, f"train.{key}", "> 0", v)
    _rule(0 <= t.beta1 < 1, "train.beta1", "in [0, 1)", t.beta1)
    _rule(0 <= t.beta2 < 1, "train.beta2", "in [0, 1)", t.beta2)
    _rule(t.n_dis >= 1, "train.n_dis", ">= 1", t.n_dis)
    _rule(0.5 <= t.label_smoothing <= 1, "train.label_smoothing", "in [0.5, 1] (1 = off)", t.label_smoothing)
    if t.label_smoothing != 1.0:
        _rule(
            t.loss in LABEL_LOSSES,
            "train.label_smoothing",
            f"1.0 with loss {t.loss!r} (smoothing applies to {', '.join(LABEL_LOSSES)})",
            t.label_smoothing,
        )
    _rule(t.noise_std >= 0, "train.noise_std", ">= 0 (0 = off)", t.noise_std)
    _rule(0 < t.noise_anneal <= 1, "train.noise_anneal", "in (0, 1]", t.noise_anneal)
    _rule(0 <= t.g_ema < 1, "train.g_ema", "in [0, 1) (0 = off)", t.g_ema)
    _rule(t.batch_size >= 0, "train.batch_size", ">= 1 (0 = default)", t.batch_size)
    _rule(t.steps >= 1, "train.steps", ">= 1", t.steps)
    _rule(t.eval_every >= 0, "train.eval_every", ">= 0 (0 = at the end only)", t.eval_every)
    _rule(t.log_every >= 1, "train.log_every", ">= 1", t.log_every)
    _rule(t.seed >= 0, "train.seed", ">= 0", t.seed)
    _rule(t.device in ("auto", "cpu", "cuda"), "train.device", "auto, cpu or cuda", t.device)
    _rule(t.precision in ("fp32", "bf16"), "train.precision", "fp32 or bf16", t.precision)


def resolve(cfg: Config) -> Config:
    """Validate, then fill every 'auto' (0) field with the data set's value; returns a copy."""
    validate(cfg)
    cfg = _clone(cfg)
    spec = DATASETS.get(cfg.data.name)
    for key in spec.requires:
        if getattr(cfg.data, key) is None:
            raise ConfigError(f"`data.{key}` is required for data set {cfg.data.name!r}, but got None.")
    spec.fill_defaults(cfg.data)
    is_image = spec.kind in ("images", "user")  # data.factory: set model.latent_dim and train.batch_size
    if cfg.model.latent_dim == 0:
        cfg.model.latent_dim = 64 if is_image else 16
    if cfg.train.batch_size == 0:
        cfg.train.batch_size = 64 if is_image else 256
    return cfg


def member_configs(cfg: Config, k: int) -> list[Config]:
    """K copies of `cfg` that differ only in seed (seed, seed+1, ...): the CLI's --cohort-size."""
    if k < 1:
        raise ConfigError(f"`cohort_size` must be >= 1, but got {k}.")
    out = []
    for i in range(k):
        c = copy.deepcopy(cfg)
        c.train.seed = cfg.train.seed + i
        out.append(c)
    return out


def flat_items(cfg: Config) -> dict[str, Any]:
    """{'train.lr_d': 0.0004, ...}: for comparing members and for tables."""
    out: dict[str, Any] = {k: getattr(cfg, k) for k in TOP_LEVEL_KEYS}
    for s in SECTIONS:
        for k, v in dataclasses.asdict(getattr(cfg, s)).items():
            out[f"{s}.{k}"] = v
    return out


def shape_key(cfg: Config) -> str:
    """What must agree within a cohort, as one string: every value outside MEMBER_KEYS."""
    shape = {k: v for k, v in flat_items(cfg).items() if k not in MEMBER_KEYS}
    return json.dumps(shape, sort_keys=True, default=str)


def check_cohort(configs: list[Config]) -> None:
    """Members may differ only in MEMBER_KEYS: everything else fixes tensor shapes or the schedule."""
    if not configs:
        raise ConfigError("A cohort needs at least one member config.")
    first = flat_items(configs[0])
    for i, c in enumerate(configs[1:], start=1):
        for key, value in flat_items(c).items():
            if key not in MEMBER_KEYS and value != first[key]:
                raise ConfigError(
                    f"Cohort members must share `{key}` (it fixes tensor shapes or the schedule), "
                    f"but member 0 has {first[key]!r} and member {i} has {value!r}."
                )

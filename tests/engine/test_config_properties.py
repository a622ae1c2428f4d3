"""Property-based tests of the configuration parsers users feed (`--set key=value`, YAML files,
YAML-like dicts): any input either gives a Config or a ConfigError with a one-line message that
names what is wrong, never another exception (a traceback)."""

from __future__ import annotations

import os
import tempfile
import typing

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ganstab.engine import config as C
from ganstab.engine.config import Config, ConfigError

SECTION_FIELDS = {s: list(typing.get_type_hints(type(getattr(Config(), s)))) for s in C.SECTIONS}
QUALIFIED = [f"{s}.{k}" for s, fields in SECTION_FIELDS.items() for k in fields] + list(C.TOP_LEVEL_KEYS)
SHORT = [k for fields in SECTION_FIELDS.values() for k in fields]

# Values as YAML may read them: scalars of every kind, and lists and mappings of them.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["ring8", "mixture", "digits", "wgan-gp", "hinge", "cpu", "bf16", "4e-4", "1e999", "nan"]),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Text a user could type for a value, including YAML syntax, tags and flow collections.
value_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", " ", "true", "0", "-1", "1e-4", ".nan", "[1, 2]", "[[0, 0], [1, 1]]", "{a: 1}", "!!float abc",
         "!!int x", "!!binary ###", "!!timestamp 2020-99-99", "!!python/object:os.system", "'", "[", "{",
         "*x", "&a [*a]", "2020-01-01", "0x1F", "1_000", "~", "!!set {a}", "? [a]\n: 1"]
    ),
)
keys = st.one_of(st.sampled_from(QUALIFIED + SHORT + ["lr", "train.", ".lr_d", "a.b.c", "=", " lr_d "]), st.text(max_size=15))
NAMES = {
    "data.name": ["ring8", "grid25", "mixture", "points", "digits", "stacked_digits", "folder", "rign8"],
    "train.loss": ["ns", "minimax", "ls", "hinge", "wgan-gp", "wgan"],
    "train.device": ["auto", "cpu", "cuda", "gpu"],
    "train.precision": ["fp32", "bf16", "fp16"],
}
FIELD_TYPES = {
    f"{s}.{k}": tp for s in C.SECTIONS for k, tp in typing.get_type_hints(type(getattr(Config(), s))).items()
}


def _typed(key: str) -> st.SearchStrategy:
    """Values of the key's declared type, in and out of its allowed range."""
    tp = FIELD_TYPES.get(key, str)
    if key in NAMES:
        return st.sampled_from(NAMES[key]) | st.text(max_size=6)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(min_value=-2, max_value=3000)
    if tp is float:
        return st.floats(min_value=-1, max_value=20) | st.sampled_from([0.0, 0.5, 0.9, 1.0, 2e-4, float("nan")])
    if key == "data.centres":
        return st.none() | st.lists(st.lists(st.floats(-5, 5), min_size=1, max_size=3), max_size=4)
    return st.none() | st.text(max_size=10)


typed_items = st.sampled_from(QUALIFIED).flatmap(lambda k: st.tuples(st.just(k), _typed(k)))
typed_values = st.lists(typed_items, max_size=6).map(dict)
override_items = st.one_of(
    typed_items.map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.builds(lambda k, v: f"{k}={v}", keys, value_text),
    st.text(max_size=40),
    st.sampled_from([None, 3, b"lr_d=1"]),
)


def _one_line_error(e: ConfigError) -> None:
    event("ConfigError")
    message = str(e)
    assert message and "\n" not in message, repr(message)


def _check_config(cfg: Config) -> None:
    """A parsed config is a Config whose values have the declared types; resolving it either
    works or says why not."""
    assert isinstance(cfg, Config)
    event("parsed")
    C.dump_yaml(cfg)
    try:
        resolved = C.resolve(cfg)
    except ConfigError as e:
        _one_line_error(e)
    else:
        assert resolved.train.batch_size >= 1 and resolved.model.latent_dim >= 1


def _parses_or_one_error(parse, *args) -> None:
    """`parse(*args)` gives a valid Config (see _check_config) or a one-line ConfigError."""
    try:
        cfg = parse(*args)
    except ConfigError as e:
        _one_line_error(e)
        return
    _check_config(cfg)


@settings(max_examples=500, deadline=None)
@given(st.lists(override_items, max_size=4))
def test_any_override_text_parses_or_is_one_config_error(items):
    try:
        values = C.parse_overrides(items)
    except ConfigError as e:
        _one_line_error(e)
        return
    assert all(k in QUALIFIED or "." in k for k in values)
    _parses_or_one_error(C.apply_overrides, Config(), items)


@settings(max_examples=400, deadline=None)
@given(typed_values | st.dictionaries(keys, yaml_values, max_size=4))
def test_any_values_apply_or_are_one_config_error(values):
    _parses_or_one_error(C.apply_values, Config(), values)


section_dicts = st.one_of(
    st.dictionaries(st.sampled_from(SHORT) | st.text(max_size=8), yaml_values, max_size=5),
    yaml_values,
)
config_dicts = st.one_of(
    typed_values.map(C.nest),
    st.dictionaries(st.sampled_from([*C.SECTIONS, *C.TOP_LEVEL_KEYS]) | st.text(max_size=8), section_dicts, max_size=4),
    yaml_values,
)


@settings(max_examples=500, deadline=None)
@given(config_dicts)
def test_any_yaml_like_dict_gives_a_config_or_one_config_error(values):
    _parses_or_one_error(C.from_dict, values)


yaml_texts = st.one_of(
    st.text(max_size=200),
    typed_values.map(lambda v: yaml.safe_dump(C.nest(v))),
    st.lists(
        st.builds(lambda indent, k, v: f"{' ' * indent}{k}: {v}", st.sampled_from([0, 2, 4]),
                  st.sampled_from([*C.SECTIONS, *SHORT, *C.TOP_LEVEL_KEYS]) | st.text(max_size=6), value_text),
        max_size=8,
    ).map("\n".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(yaml_texts.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=100)))
def test_any_config_file_loads_or_is_one_config_error(content):
    fd, name = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        try:
            cfg = C.load_yaml(name)
        except ConfigError as e:
            _one_line_error(e)
            assert name in str(e)  # the message names the file
            return
        _check_config(cfg)
    finally:
        os.unlink(name)


# What the properties above found (each raised something other than a one-line ConfigError).
@pytest.mark.parametrize(
    "override, message",
    [
        ("data.name=|:", "Cannot parse the value of `data.name`: '|:' (expected chomping or indentation indicators, but found ':' at line 1, column 2)."),
        ("data.name=!!float ;", "could not convert string to float"),
        ("data.name=!!int", "Cannot parse the value of `data.name`"),
        ("data.name=!!timestamp 0000-0-0", "Cannot parse the value of `data.name`"),
        ("a\nb=1", "Unknown config key `a\\nb`."),
        (f"g_mult={10**400}", "`model.g_mult` must be a number of at most 1.8e+308"),
    ],
)
def test_found_inputs_are_one_line_config_errors(override, message):
    with pytest.raises(ConfigError) as e:
        C.apply_overrides(Config(), [override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_config_file_that_is_not_text_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"train:\n  lr_d: \xff\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text: invalid start byte at byte 15\."):
        C.load_yaml(path)

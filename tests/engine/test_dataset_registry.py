"""The data-set registry: every name has a builder, a kind, and the defaults of its auto fields."""

from __future__ import annotations

import pytest

from ganstab.engine import config as C
from ganstab.engine.data import BUILDERS
from ganstab.engine.dataset_registry import DATASETS, IMAGE_DATASETS


def test_every_registered_data_set_has_a_builder_and_no_builder_is_unregistered():
    assert set(BUILDERS) == set(DATASETS.names())
    assert IMAGE_DATASETS == [n for n in DATASETS if DATASETS.get(n).kind == "images"]
    assert {DATASETS.get(n).kind for n in DATASETS} == {"points", "images", "user"}  # user: data.factory


@pytest.mark.parametrize(
    "name, field, value",
    [("ring8", "std", 0.02), ("grid25", "grid_size", 5), ("digits", "resolution", 8), ("mnist", "resolution", 32)],
)
def test_auto_fields_take_the_data_set_s_defaults(name, field, value):
    d = C.DataConfig(name=name)
    DATASETS.get(name).fill_defaults(d)
    assert getattr(d, field) == value


def test_a_required_field_is_named_when_missing():
    with pytest.raises(C.ConfigError, match=r"^`data.centres` is required for data set 'mixture', but got None\.$"):
        C.resolve(C.apply_overrides(C.Config(), ["data.name=mixture"]))
    cfg = C.resolve(C.apply_overrides(C.Config(), ["data.name=mixture", "data.centres=[[0, 0], [1, 1]]"]))
    assert cfg.data.std == 0.05


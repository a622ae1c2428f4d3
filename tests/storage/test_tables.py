"""The schema's encodings: traces kept bit for bit, JSON columns, configs as JSON objects."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ganstab.storage.tables import (
    TRACE_ENCODING,
    config_json,
    decode_trace,
    dumps,
    encode_trace,
    finite_or_none,
    loads,
    metadata,
)


def test_a_trace_round_trips_bit_for_bit_in_column_order() -> None:
    trace = {"step": np.arange(4), "d_loss": np.array([0.5, np.nan, np.inf, -0.0]), "g": [1, 2, 3, 4]}
    columns, rows, blob = encode_trace(trace)
    assert columns == ["step", "d_loss", "g"] and rows == 4
    back = decode_trace(columns, rows, TRACE_ENCODING, blob)
    assert list(back) == columns and all(v.dtype == np.float64 for v in back.values())
    assert back["d_loss"].tobytes() == np.array([0.5, np.nan, np.inf, -0.0]).tobytes()
    assert encode_trace({}) == ([], 0, encode_trace({})[2])


@pytest.mark.parametrize(
    ("trace", "message"),
    [
        ({"a": [1, 2], "b": [1]}, "same length; got a=2, b=1"),
        ({"a": [[1, 2]]}, "must be 1-D"),
        ({"a": ["x"]}, "must be numeric"),
        ({"": [1]}, "non-empty strings"),
    ],
)
def test_a_bad_trace_is_refused_naming_the_column(trace: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_trace(trace)


def test_a_damaged_trace_blob_is_refused() -> None:
    columns, rows, blob = encode_trace({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="encoding must be 'f8le-zlib'"):
        decode_trace(columns, rows, "raw", blob)
    with pytest.raises(ValueError, match=r"rows x columns = 3 x 1 = 3 values; holds 2"):
        decode_trace(columns, 3, TRACE_ENCODING, blob)


def test_json_columns_take_numpy_values_and_configs_are_objects() -> None:
    assert loads(dumps({"a": np.float32(0.5), "b": np.arange(2), "c": (1, 2)})) == {"a": 0.5, "b": [0, 1], "c": [1, 2]}
    with pytest.raises(TypeError, match="cannot store a object as JSON"):
        dumps(object())

    @dataclasses.dataclass
    class Cfg:
        lr: float = 1e-3

    assert loads(config_json(Cfg())) == {"lr": 1e-3} and loads(config_json({"x": 1})) == {"x": 1}
    assert config_json('{"x": 1}') == '{"x": 1}'
    with pytest.raises(ValueError, match="config JSON must be an object; got list"):
        config_json("[1]")
    with pytest.raises(TypeError, match="config must be a mapping"):
        config_json(5)
    assert finite_or_none(None) is None and finite_or_none(float("nan")) is None and finite_or_none(2) == 2.0
    assert math.isinf(finite_or_none(float("inf")))


def test_every_table_is_prefixed_so_optunas_tables_are_untouched() -> None:
    assert metadata.tables and all(name.startswith("ganstab_") for name in metadata.tables)

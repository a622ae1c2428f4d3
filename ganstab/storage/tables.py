"""ganstab's own tables, beside Optuna's in the same database, and how values are encoded in them.

Every table name starts with `ganstab_` so it can never collide with Optuna's tables (`studies`,
`trials`, `version_info`, ...). Only portable column types are used (Integer, String, Text, Float,
DateTime, LargeBinary), so the schema works on SQLite and PostgreSQL alike.

Encodings (chosen to be exact and readable without ganstab):

- JSON columns are `Text` holding Python `json.dumps` output, like Optuna's user attributes: it
  keeps NaN and +-Infinity as the tokens `NaN`/`Infinity`, which a database JSON type would
  reject.
- A trace is one row per run: `columns` (a JSON list of names, in order), `n_rows`, and `data`,
  zlib-compressed bytes of each column in turn as `n_rows` little-endian IEEE-754 float64
  (`encoding = "f8le-zlib"`). Raw bytes keep every NaN, +-Inf and -0.0 bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

TABLE_PREFIX = "ganstab_"
SCHEMA_VERSION = 1  # bump with a migration whenever a table below changes
TRACE_ENCODING = "f8le-zlib"

# Named constraints, so that the names are the same on every backend (and in migrations).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _run_fk() -> Column[int]:
    return Column(
        "run_id",
        Integer,
        ForeignKey(f"{TABLE_PREFIX}runs.id", ondelete="CASCADE"),
        nullable=False,
    )


schema_table = Table(
    f"{TABLE_PREFIX}schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: a single row
    Column("version", Integer, nullable=False),
)

runs_table = Table(
    f"{TABLE_PREFIX}runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Both NULL for runs outside a study. SQL treats NULLs as distinct in a unique constraint, so
    # the constraint binds only when both are set.
    Column("study_name", String(512), nullable=True),
    Column("trial_number", Integer, nullable=True),
    Column("dataset", String(128), nullable=False),
    Column("config", Text, nullable=False),  # JSON of the resolved config
    Column("status", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("study_name", "trial_number"),
    Index(None, "dataset"),
)

traces_table = Table(
    f"{TABLE_PREFIX}traces",
    metadata,
    Column(
        "run_id",
        Integer,
        ForeignKey(f"{TABLE_PREFIX}runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("columns", Text, nullable=False),  # JSON list of column names, in order
    Column("n_rows", Integer, nullable=False),
    Column("encoding", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

evaluations_table = Table(
    f"{TABLE_PREFIX}evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_fk(),
    Column("step", Integer, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON object: every metric, `hist`, `near`
    UniqueConstraint("run_id", "step"),
)

diagnoses_table = Table(
    f"{TABLE_PREFIX}diagnoses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _run_fk(),
    Column("step", Integer, nullable=False),  # the last trace step the diagnosis saw
    Column("label", String(32), nullable=False),
    Column("probabilities", Text, nullable=False),  # JSON object {label: probability}
    Column("model", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("diverged_at", Float, nullable=True),
    Column("evidence", Text, nullable=False),  # JSON object
    Column("advice", Text, nullable=False),  # JSON list of strings
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "run_id", "step"),
)

labels_table = Table(
    f"{TABLE_PREFIX}labels",
    metadata,
    Column(
        "run_id",
        Integer,
        ForeignKey(f"{TABLE_PREFIX}runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("source", String(64), primary_key=True),  # who labelled it: "user", "rules", ...
    Column("label", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# ---------------------------------------------------------------------------------------- JSON


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON: {value!r}")


def dumps(value: Any) -> str:
    """JSON text for a JSON column; numpy scalars and arrays become plain numbers and lists."""
    return json.dumps(value, default=_json_default, allow_nan=True)


def loads(text: str) -> Any:
    return json.loads(text)


def config_json(config: Mapping[str, Any] | str | Any) -> str:
    """The config as JSON text: a mapping, a dataclass (e.g. `ganstab.engine.config.Config`) or
    JSON text already (checked to parse to an object)."""
    if isinstance(config, str):
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError as e:
            raise ValueError(f"config text must be JSON; got {config[:80]!r}: {e}") from e
        if not isinstance(parsed, dict):
            raise ValueError(f"config JSON must be an object; got {type(parsed).__name__}")
        return config
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, a dataclass or JSON text; got {type(config).__name__}")
    return dumps(dict(config))


# -------------------------------------------------------------------------------------- traces


def encode_trace(trace: Mapping[str, Any]) -> tuple[list[str], int, bytes]:
    """(column names, rows, blob) for a trace {column: 1-D numeric array}, all of one length."""
    names: list[str] = []
    arrays: list[np.ndarray] = []
    for name, values in trace.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"trace column names must be non-empty strings; got {name!r}")
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"trace column {name!r} must be 1-D; got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"trace column {name!r} must be numeric; got dtype {arr.dtype}")
        names.append(name)
        arrays.append(arr.astype("<f8", copy=False))
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        detail = ", ".join(f"{n}={len(a)}" for n, a in zip(names, arrays))
        raise ValueError(f"trace columns must all have the same length; got {detail}")
    n_rows = lengths.pop() if lengths else 0
    # level 1: 0.09 ms for an 80-row trace where level 6 took 0.33 ms, for a blob 3 % larger (a
    # search stores one per trial; issue 27's per-trial budget, bench/RESULTS.md)
    blob = zlib.compress(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays), 1)
    return names, n_rows, blob


def decode_trace(columns: list[str], n_rows: int, encoding: str, blob: bytes) -> dict[str, np.ndarray]:
    """The trace written by `encode_trace`, as {column: float64 array}."""
    if encoding != TRACE_ENCODING:
        raise ValueError(f"trace encoding must be {TRACE_ENCODING!r}; got {encoding!r}")
    flat = np.frombuffer(zlib.decompress(blob), dtype="<f8")
    expected = n_rows * len(columns)
    if flat.size != expected:
        raise ValueError(
            f"trace blob must hold rows x columns = {n_rows} x {len(columns)} = {expected} values; "
            f"holds {flat.size}"
        )
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(columns):
        out[name] = flat[i * n_rows : (i + 1) * n_rows].astype(np.float64)  # native, writable copy
    return out


def finite_or_none(value: float | None) -> float | None:
    """A float column value: None stays None (a database may not keep NaN in a FLOAT)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value

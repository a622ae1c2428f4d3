"""Read any supported GAN log into the trace schema (docs/traces.md), for `ganstab diagnose`.

Diagnosis must work on anybody's logs, not only ganstab's, so every format is mapped onto the
columns the classifier reads: `step`, `d_loss`, `g_loss` (required) and `d_real`, `d_fake`,
`grad_norm_d`, `grad_norm_g`, `g_spread`, `g_drift`, `data_spread`, `g_move` (optional, kept only
when the log has them). Other columns are dropped. Supported inputs:

- a ganstab run folder (`members/NNN/trace.csv`: one log per member) or one member folder;
- a CSV file whose header names the columns (any order; extra columns ignored);
- a JSONL file, one object per line (extra keys ignored; blank lines skipped);
- a TensorBoard event file (`events.out.tfevents.*`) or a folder holding event files (one log per
  folder that holds them), scalars aligned by step.

Columns are found by name: the schema name first, then common aliases (`COLUMN_ALIASES`, matched
case-insensitively, e.g. `Loss/D`, `loss_G`, `errD`); `tags` overrides them per column.

Rules the classifier relies on:

- rows are sorted by step, and of rows with the same step only the last one is kept (a resumed
  run re-logs steps; its later row is the one that counts);
- NaN/Inf losses are kept: they mean divergence, which the classifier decides by rule; text
  that is not a number is an error;
- an empty CSV cell, or a JSON `null` (strict JSON writers write NaN as null), is NaN in a value
  column; an empty `step`, or an empty required loss cell in a CSV, is an error (not logged is
  not the same as diverged);
- a log needs `min_rows` rows, except one whose losses hold a NaN/Inf: a diverged run is
  diagnosed by rule, however short.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.diagnose.features import OPTIONAL_COLUMNS

REQUIRED = ("step", "d_loss", "g_loss")
OPTIONAL = OPTIONAL_COLUMNS
COLUMNS = REQUIRED + OPTIONAL
VALUE_COLUMNS = COLUMNS[1:]  # every column but `step` (TensorBoard takes the step from the event)

# Names tried for each column, in order of preference; matched case-insensitively, exact first.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "step": ("step", "global_step", "iteration", "iter", "it"),
    "d_loss": (
        "d_loss",
        "loss_d",
        "Loss/D",
        "Loss/d_loss",
        "loss/discriminator",
        "train/d_loss",
        "train/loss_d",
        "D/loss",
        "lossD",
        "errD",
        "disc_loss",
        "discriminator_loss",
    ),
    "g_loss": (
        "g_loss",
        "loss_g",
        "Loss/G",
        "Loss/g_loss",
        "loss/generator",
        "train/g_loss",
        "train/loss_g",
        "G/loss",
        "lossG",
        "errG",
        "gen_loss",
        "generator_loss",
    ),
    "d_real": ("d_real", "D(x)", "D_x", "D/real", "d_out_real", "score/real"),
    "d_fake": ("d_fake", "D(G(z))", "D_G_z", "D/fake", "d_out_fake", "score/fake"),
    "grad_norm_d": ("grad_norm_d", "grad_norm/D", "d_grad_norm", "GradNorm/D"),
    "grad_norm_g": ("grad_norm_g", "grad_norm/G", "g_grad_norm", "GradNorm/G"),
    "g_spread": ("g_spread",),
    "g_drift": ("g_drift",),
    "data_spread": ("data_spread",),
    "g_move": ("g_move",),
}

TB_PREFIX = "events.out.tfevents."
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_FORMATS = (
    "a ganstab run folder (members/NNN/trace.csv), a CSV file with a header, a JSONL file, "
    "or a TensorBoard event file (events.out.tfevents.*) or a folder holding one"
)


class LogError(ValueError):
    """A log cannot be read as a trace; the message names the file and the problem."""


@dataclass
class LoadedLog:
    name: str  # what a report calls it: "RUN/member 000" for ganstab runs, else the path given
    path: Path  # the file (or TensorBoard folder) read
    trace: dict[str, np.ndarray]  # {column: float array}, sorted by step


def read_logs(path: str | Path, *, tags: dict[str, str] | None = None, min_rows: int = 20) -> list[LoadedLog]:
    """Every log at `path` in the trace schema (a run folder gives one per member).

    `tags` maps a schema column to its name in the log (a TensorBoard tag, a CSV column or a
    JSON key), e.g. {"d_loss": "train/lossD"}, overriding the aliases.
    """
    path = Path(path)
    tags = _check_tags(tags or {})
    if not path.exists():
        raise LogError(f"`{path}` does not exist; expected {_FORMATS}.")
    if path.is_dir():
        return _read_folder(path, tags, min_rows)
    return [LoadedLog(_file_name(path), path, _read_file(path, tags, min_rows))]


# ---------------------------------------------------------------------------------------- formats


def _read_folder(path: Path, tags: dict[str, str], min_rows: int) -> list[LoadedLog]:
    members = path / "members"
    if members.is_dir():
        traces = sorted(
            (p for p in members.glob("*/trace.csv") if p.parent.name.isdigit()),
            key=lambda p: int(p.parent.name),
        )
        if not traces:
            raise LogError(f"`{path}` has a `members` folder but no members/NNN/trace.csv in it.")
        return [LoadedLog(_member_name(p), p, _read_csv(p, tags, min_rows)) for p in traces]
    if (path / "trace.csv").is_file():
        p = path / "trace.csv"
        return [LoadedLog(_member_name(p), p, _read_csv(p, tags, min_rows))]
    if _event_files(path):
        return [LoadedLog(str(path), path, _read_tensorboard(path, tags, min_rows))]
    folders = sorted({p.parent for p in path.rglob(TB_PREFIX + "*") if p.is_file()})
    if folders:
        return [LoadedLog(str(f), f, _read_tensorboard(f, tags, min_rows)) for f in folders]
    raise LogError(
        f"`{path}` is a folder without trace.csv, members/NNN/trace.csv or TensorBoard event files; "
        f"expected {_FORMATS}."
    )


def _read_file(path: Path, tags: dict[str, str], min_rows: int) -> dict[str, np.ndarray]:
    if path.name.startswith(TB_PREFIX):
        return _read_tensorboard(path, tags, min_rows)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, tags, min_rows)
    if suffix in _JSON_SUFFIXES:
        return _read_jsonl(path, tags, min_rows)
    first = _first_line(path)  # an unknown suffix: look at the content
    if first.startswith(("{", "[")):
        return _read_jsonl(path, tags, min_rows)
    if "," in first and any(n.strip().lower() == "step" for n in first.split(",")):
        return _read_csv(path, tags, min_rows)
    raise LogError(f"`{path}` is of an unknown format; expected {_FORMATS}.")


def _read_csv(path: Path, tags: dict[str, str], min_rows: int) -> dict[str, np.ndarray]:
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise LogError(f"`{path}` is empty; a CSV log needs a header naming {', '.join(REQUIRED)}.")
        header = [h.strip() for h in header]
        found = _resolve(header, tags, COLUMNS, path, "column")
        index = {col: header.index(name) for col, name in found.items()}
        values: dict[str, list[float]] = {col: [] for col in found}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            where = f"line {reader.line_num}"
            for col, i in index.items():
                cell = row[i].strip() if i < len(row) else ""
                if cell == "" and col in REQUIRED:
                    raise LogError(f"`{path}` {where}: `{found[col]}` is empty; {col} must be a number.")
                values[col].append(_number(cell, col, found[col], path, where))
    return _finish(values, path, min_rows)


def _read_jsonl(path: Path, tags: dict[str, str], min_rows: int) -> dict[str, np.ndarray]:
    records: list[tuple[str, Any]] = []
    with _open_text(path) as f:
        text = f.read()
    if text.lstrip().startswith("["):  # a JSON array of objects, for `.json` files
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise LogError(f"`{path}` is not valid JSON ({e}).") from e
        records = [(f"record {i + 1}", item) for i, item in enumerate(items)]
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((f"line {n}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise LogError(f"`{path}` line {n} is not valid JSON ({e.msg}): {line[:60]!r}.") from e
    for where, rec in records:
        if not isinstance(rec, dict):
            raise LogError(f"`{path}` {where}: expected a JSON object, but got {type(rec).__name__}.")
    keys = list(dict.fromkeys(k for _, rec in records for k in rec))
    if not records:
        raise LogError(f"`{path}` is empty; a JSONL log needs objects with keys {', '.join(REQUIRED)}.")
    found = _resolve(keys, tags, COLUMNS, path, "key")
    values: dict[str, list[float]] = {col: [] for col in found}
    for where, rec in records:
        for col, key in found.items():
            if key not in rec:
                if col in REQUIRED:
                    raise LogError(f"`{path}` {where}: the object has no `{key}` key; every line needs one.")
                values[col].append(math.nan)
                continue
            v = rec[key]
            if v is None and col != "step":
                values[col].append(math.nan)  # strict JSON writers (JSON.stringify) write NaN as null
            else:
                values[col].append(_number(v, col, key, path, where))
    return _finish(values, path, min_rows)


def _read_tensorboard(path: Path, tags: dict[str, str], min_rows: int) -> dict[str, np.ndarray]:
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as e:
        raise LogError(
            f"Reading the TensorBoard log `{path}` needs the tensorboard package: pip install tensorboard"
        ) from e
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})  # 0 = keep every event
    try:
        acc.Reload()
    except Exception as e:  # a truncated or foreign file; tensorboard raises many kinds
        raise LogError(f"`{path}` cannot be read as a TensorBoard event file ({e}).") from e
    available = acc.Tags()
    scalar_tags, tensor_tags = available.get("scalars", []), available.get("tensors", [])
    all_tags = list(dict.fromkeys([*scalar_tags, *tensor_tags]))
    if not all_tags:
        raise LogError(f"`{path}` holds no scalar summaries; expected tags such as d_loss and g_loss.")
    found = _resolve(all_tags, tags, VALUE_COLUMNS, path, "tag")

    series: dict[str, dict[float, float]] = {}
    for col, tag in found.items():
        if tag in scalar_tags:
            events = [(e.step, e.value) for e in acc.Scalars(tag)]
        else:  # TF2 writes scalars as tensors (plugin "scalars")
            events = [(e.step, _tensor_value(e.tensor_proto, tag, path)) for e in acc.Tensors(tag)]
        series[col] = {float(s): float(v) for s, v in events}  # a later event of a step wins
    d, g = series["d_loss"], series["g_loss"]
    steps = sorted(set(d) & set(g))
    if d and g and not steps:
        raise LogError(
            f"`{path}`: the tags `{found['d_loss']}` ({len(d)} steps) and `{found['g_loss']}` "
            f"({len(g)} steps) share no step; scalars are aligned by step."
        )
    values = {"step": steps} | {col: [s.get(st, math.nan) for st in steps] for col, s in series.items()}
    return _finish(values, path, min_rows)


def _tensor_value(proto: Any, tag: str, path: Path) -> float:
    from tensorboard.util import tensor_util

    arr = tensor_util.make_ndarray(proto)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise LogError(f"`{path}`: tag `{tag}` holds a tensor of shape {arr.shape}, not a scalar.")
    return float(arr.reshape(()))


# ---------------------------------------------------------------------------------------- helpers


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    unknown = [c for c in tags if c not in COLUMNS]
    if unknown:
        raise LogError(f"tags: `{unknown[0]}` is not a trace column; choose from: {', '.join(COLUMNS)}.")
    return dict(tags)


def _resolve(
    names: Iterable[str],
    tags: dict[str, str],
    columns: tuple[str, ...],
    path: Path,
    kind: str,
) -> dict[str, str]:
    """{schema column: its name in the log}: the `tags` override, else the first alias present."""
    names = list(names)
    exact = set(names)
    lower: dict[str, str] = {}
    for n in names:
        lower.setdefault(n.lower(), n)
    found: dict[str, str] = {}
    for col in columns:
        if col in tags:
            if tags[col] not in exact:
                raise LogError(
                    f"`{path}` has no {kind} `{tags[col]}` (given for {col}); its {kind}s: {_listing(names)}."
                )
            found[col] = tags[col]
            continue
        aliases = COLUMN_ALIASES[col]
        name = next((a for a in aliases if a in exact), None)
        name = name or next((lower[a.lower()] for a in aliases if a.lower() in lower), None)
        if name is not None:
            found[col] = name
        elif col in REQUIRED:
            tried = ", ".join(aliases[:4]) + ", ..."
            raise LogError(
                f"`{path}` needs a `{col}` {kind} (tried {tried}); found: {_listing(names)}. "
                f"Name it with tags, e.g. {col}=NAME."
            )
    return found


def _listing(names: list[str], limit: int = 30) -> str:
    if not names:
        return "(none)"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _number(v: Any, col: str, name: str, path: Path, where: str) -> float:
    """A cell as a float: numbers and number text ("1.5", "nan", "inf"); anything else is an error."""
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return math.nan
        try:
            x = float(s)
        except ValueError:
            x = None
        if x is not None and "_" not in s:  # float() also takes "1_0"
            return _finite_step(x, col, name, v, path, where)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        return _finite_step(float(v), col, name, v, path, where)
    raise LogError(f"`{path}` {where}: `{name}` must be a number, but got {v!r}.")


def _finite_step(x: float, col: str, name: str, raw: Any, path: Path, where: str) -> float:
    if col == "step" and not math.isfinite(x):
        raise LogError(f"`{path}` {where}: `{name}` (the step) must be a finite number, but got {raw!r}.")
    return x


def _finish(values: dict[str, list[float]], path: Path, min_rows: int) -> dict[str, np.ndarray]:
    """Arrays in schema order, sorted by step with the last row of a repeated step kept."""
    arrays = {c: np.asarray(values[c], dtype=float) for c in COLUMNS if c in values}
    step = arrays["step"]
    order = np.argsort(step, kind="stable")  # equal steps keep file order, so the last comes last
    s = step[order]
    keep = order[np.r_[s[1:] != s[:-1], True]] if len(s) else order
    trace = {c: a[keep] for c, a in arrays.items()}
    n = len(trace["step"])
    diverged = n > 0 and not (np.isfinite(trace["d_loss"]).all() and np.isfinite(trace["g_loss"]).all())
    if n == 0 or (n < min_rows and not diverged):
        raise LogError(
            f"`{path}` has {n} rows (distinct steps); diagnosis needs at least {min_rows}. "
            "Log more often or train longer."
        )
    return trace


def _open_text(path: Path):
    try:
        with path.open("rb") as f:
            f.read(4096).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LogError(f"`{path}` is not UTF-8 text ({e.reason}); expected {_FORMATS}.") from e
    return path.open(newline="", encoding="utf-8-sig", errors="replace")


def _first_line(path: Path) -> str:
    with _open_text(path) as f:
        for line in f:
            if line.strip():
                return line.strip()
    return ""


def _event_files(folder: Path) -> list[Path]:
    return [p for p in folder.glob(TB_PREFIX + "*") if p.is_file()]


def _member_name(trace_csv: Path) -> str:
    """`RUN/member NNN` for a ganstab member trace, else the folder holding the trace."""
    member = trace_csv.resolve().parent
    if member.parent.name == "members" and member.name.isdigit():
        return f"{member.parent.parent.name}/member {member.name}"
    return member.name


def _file_name(path: Path) -> str:
    if path.name == "trace.csv":
        return _member_name(path)
    return str(path)

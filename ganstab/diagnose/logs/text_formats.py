"""Text logs: a CSV file whose header names the columns, a JSONL file (one object per line), a
JSON array of objects, or progress lines printed to stdout (printed.py); a file of another suffix
is sniffed by its first line, else by whether any of its lines is a progress line."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from ganstab.diagnose.logs.columns import COLUMNS, REQUIRED, resolve, shown
from ganstab.diagnose.logs.printed import is_progress_line, read_printed
from ganstab.diagnose.logs.results import FORMATS, LogError, Parsed
from ganstab.diagnose.logs.rows import finish, number
from ganstab.diagnose.logs.tensorboard import TB_PREFIX, read_tensorboard

_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


def read_file(path: Path, tags: dict[str, str], min_rows: int, known: tuple | None = None) -> Parsed:
    if path.name.startswith(TB_PREFIX):
        return read_tensorboard(path, tags, min_rows)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, tags, min_rows, known)
    if suffix in _JSON_SUFFIXES:
        return _read_jsonl(path, tags, min_rows)
    first = _first_line(path)  # an unknown suffix: look at the content
    # before JSON: PyTorch-GAN's `[Epoch 0/200] [Batch 0/938] [D loss: ...]` starts with a bracket
    if is_progress_line(first):
        return _read_printed(path, tags, min_rows)
    if first.startswith(("{", "[")):
        return _read_jsonl(path, tags, min_rows)
    if "," in first and any(n.strip().lower() == "step" for n in first.split(",")):
        return _read_csv(path, tags, min_rows, known)
    # stdout saved to a file starts with whatever the script printed first (Keras's
    # model.summary(), warnings): any progress line below makes it a printed log
    with _open_text(path) as f:
        if any(is_progress_line(line) for line in f):
            return _read_printed(path, tags, min_rows)
    raise LogError(f"`{path}` is of an unknown format; expected {FORMATS}.")


def _read_printed(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
    with _open_text(path) as f:
        return read_printed(path, f.read(), tags, min_rows)


def _read_csv(path: Path, tags: dict[str, str], min_rows: int, known: tuple | None = None) -> Parsed:
    with _open_text(path) as f:
        reader = csv.reader(f)
        try:
            return _read_csv_rows(reader, path, tags, min_rows, known)
        except csv.Error as e:  # e.g. a field over csv's size limit
            raise LogError(f"`{path}` line {reader.line_num} is not valid CSV ({e}).") from e


def _read_csv_rows(reader, path: Path, tags: dict[str, str], min_rows: int, known: tuple | None) -> Parsed:
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise LogError(f"`{path}` is empty; a CSV log needs a header naming {', '.join(REQUIRED)}.")
    header = [h.strip() for h in header]
    found = resolve(header, tags, COLUMNS, path, "column")
    index = {col: header.index(name) for col, name in found.items()}
    values: dict[str, list[float]] = {col: [] for col in found}
    gaps: dict[str, list[bool]] = {col: [] for col in found}  # an empty cell: not measured
    lines: list[int] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        where = f"line {reader.line_num}"
        lines.append(reader.line_num)
        for col, i in index.items():
            cell = row[i].strip() if i < len(row) else ""
            if cell == "" and col in REQUIRED:
                raise LogError(f"`{path}` {where}: `{shown(found[col])}` is empty; {col} must be a number.")
            values[col].append(number(cell, col, found[col], path, where))
            gaps[col].append(cell == "")
    return finish(values, path, min_rows, gaps=gaps, where=[f"line {n}" for n in lines], known=known)


def _json_records(path: Path) -> list[tuple[str, Any]]:
    """(where, parsed value) of each record: a JSON array's items, or each non-blank line's value.
    A ValueError that is not a JSONDecodeError: an integer of more digits than Python converts."""
    records: list[tuple[str, Any]] = []
    with _open_text(path) as f:
        text = f.read()
    if text.lstrip().startswith("["):  # a JSON array of objects, for `.json` files
        try:
            items = json.loads(text)
        except ValueError as e:
            raise LogError(f"`{path}` is not valid JSON ({e}).") from e
        return [(f"record {i + 1}", item) for i, item in enumerate(items)]
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {n}", json.loads(line)))
        except ValueError as e:
            why = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
            raise LogError(f"`{path}` line {n} is not valid JSON ({why}): {line[:60]!r}.") from e
    return records


def _read_jsonl(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
    records = _json_records(path)
    for where, rec in records:
        if not isinstance(rec, dict):
            raise LogError(f"`{path}` {where}: expected a JSON object, but got {type(rec).__name__}.")
    keys = list(dict.fromkeys(k for _, rec in records for k in rec))
    if not records:
        raise LogError(f"`{path}` is empty; a JSONL log needs objects with keys {', '.join(REQUIRED)}.")
    found = resolve(keys, tags, COLUMNS, path, "key")
    values: dict[str, list[float]] = {col: [] for col in found}
    gaps: dict[str, list[bool]] = {col: [] for col in found}  # a missing key or a null: not measured
    for where, rec in records:
        for col, key in found.items():
            if key not in rec:
                if col in REQUIRED:
                    raise LogError(f"`{path}` {where}: the object has no `{shown(key)}` key; every line needs one.")
                values[col].append(math.nan)
                gaps[col].append(True)
                continue
            v = rec[key]
            if v is None and col != "step":
                values[col].append(math.nan)  # strict JSON writers (JSON.stringify) write NaN as null
                gaps[col].append(col not in REQUIRED)  # a null loss still means a non-finite loss
            else:
                values[col].append(number(v, col, key, path, where))
                gaps[col].append(False)
    return finish(values, path, min_rows, gaps=gaps, where=[w for w, _ in records])


def _open_text(path: Path):
    try:
        with path.open("rb") as f:
            f.read(4096).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LogError(f"`{path}` is not UTF-8 text ({e.reason}); expected {FORMATS}.") from e
    return path.open(newline="", encoding="utf-8-sig", errors="replace")


def _first_line(path: Path) -> str:
    with _open_text(path) as f:
        for line in f:
            if line.strip():
                return line.strip()
    return ""

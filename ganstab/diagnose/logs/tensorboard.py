"""TensorBoard event files (`events.out.tfevents.*`): scalars (and TF2's scalar tensors) of the
mapped tags, aligned by step."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.diagnose.logs.columns import VALUE_COLUMNS, resolve, shown
from ganstab.diagnose.logs.results import LogError, Parsed
from ganstab.diagnose.logs.rows import finish, renumber_epochs

TB_PREFIX = "events.out.tfevents."


def read_tensorboard(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as e:
        raise LogError(
            f"Reading the TensorBoard log `{path}` needs the tensorboard package: pip install tensorboard"
        ) from e
    # 0 = keep every event; no purging of "orphaned" events when a step goes back, so that a
    # per-epoch step counter can be told from a resumed run (as for CSV and JSONL)
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=False)
    try:
        acc.Reload()
    except Exception as e:  # a truncated or foreign file; tensorboard raises many kinds
        raise LogError(f"`{path}` cannot be read as a TensorBoard event file ({e}).") from e
    available = acc.Tags()
    scalar_tags, tensor_tags = available.get("scalars", []), available.get("tensors", [])
    all_tags = list(dict.fromkeys([*scalar_tags, *tensor_tags]))
    if not all_tags:
        raise LogError(f"`{path}` holds no scalar summaries; expected tags such as d_loss and g_loss.")
    found = resolve(all_tags, tags, VALUE_COLUMNS, path, "tag")

    series: dict[str, dict[float, float]] = {}
    notes: list[str] = []
    for col, tag in found.items():
        if tag in scalar_tags:
            events = [(e.step, e.value) for e in acc.Scalars(tag)]
        else:  # TF2 writes scalars as tensors (plugin "scalars")
            events = [(e.step, _tensor_value(e.tensor_proto, tag, path)) for e in acc.Tensors(tag)]
        steps_in_order = np.asarray([float(s) for s, _ in events])
        where = [f"event {i + 1} of `{tag}`" for i in range(len(events))]
        renumbered, note = renumber_epochs(steps_in_order, path, where)
        if note and col in ("d_loss", "g_loss"):
            notes.append(note)
        # a later event of a step wins (a resumed run)
        series[col] = {float(s): float(v) for s, (_, v) in zip(renumbered, events)}
    d, g = series["d_loss"], series["g_loss"]
    steps = sorted(set(d) & set(g))
    if d and g and not steps:
        raise LogError(
            f"`{path}`: the tags `{shown(found['d_loss'])}` ({len(d)} steps) and `{shown(found['g_loss'])}` "
            f"({len(g)} steps) share no step; scalars are aligned by step."
        )
    values = {"step": steps} | {col: [s.get(st, math.nan) for st in steps] for col, s in series.items()}
    gaps = {col: [st not in s for st in steps] for col, s in series.items()}
    parsed = finish(values, path, min_rows, gaps=gaps)
    parsed.notes[:0] = notes[:1]  # d_loss's and g_loss's notes say the same
    return parsed


def _tensor_value(proto: Any, tag: str, path: Path) -> float:
    from tensorboard.util import tensor_util

    arr = tensor_util.make_ndarray(proto)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise LogError(f"`{path}`: tag `{shown(tag)}` holds a tensor of shape {arr.shape}, not a scalar.")
    return float(arr.reshape(()))


def event_files(folder: Path) -> list[Path]:
    return [p for p in folder.glob(TB_PREFIX + "*") if p.is_file()]

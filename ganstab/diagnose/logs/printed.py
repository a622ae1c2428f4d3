"""Progress lines a training script prints to stdout, saved as a text log (`python gan.py >
train.log`), as Keras-GAN and PyTorch-GAN (and the code copied from them) print them:

    0 [D loss: 0.693147, acc.: 50.00%] [G loss: 0.693147]                 (Keras-GAN's gan.py)
    [Epoch 0/200] [Batch 10/938] [D loss: 0.693147] [G loss: 0.693147]    (PyTorch-GAN)

A line is a progress line when it holds a bracketed group of `NAME: NUMBER` items (`,` or `|`
between them; `NAME NUMBER/TOTAL` for counters); the file's other lines (`model.summary()`
tables, warnings) are skipped. An item is named as printed, with its group's subject in front
when it has none of its own (`acc.` in `[D loss: ..., acc.: ...]` is `D acc.`), so `D loss` and
`G loss` are found among d_loss's and g_loss's aliases and `--tag` can name any item. The step is
the line's leading number (Keras-GAN's iteration counter), else `epoch * batches + batch` from
`[Epoch e/E] [Batch b/B]` (PyTorch-GAN's batches_done), else the batch counter (numbered on across
epochs by `finish`), else the epoch.
"""

from __future__ import annotations

import re
from pathlib import Path

from ganstab.diagnose.logs.columns import COLUMNS, REQUIRED, resolve
from ganstab.diagnose.logs.results import LogError, Parsed
from ganstab.diagnose.logs.rows import finish, number

_GROUP = re.compile(r"\[([^\[\]]*)\]")
_LEADING = re.compile(r"\s*(\d+)\s*\[")
_VALUE = re.compile(
    r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?))\s*%?\s*(?:/\s*(\d+))?\s*",
    re.IGNORECASE,
)
STEP_KEY = "step"  # the name a derived step goes by (for `--tag` and the error messages)


def _item(text: str) -> tuple[str, str, str | None] | None:
    """(name, value, total) of `NAME: VALUE`, `NAME=VALUE` or `NAME VALUE[/TOTAL]`; None if not one."""
    name, sep, value = text.partition(":")
    if not sep:
        name, sep, value = text.partition("=")
    if not sep:
        name, _, value = text.strip().rpartition(" ")
    name = name.strip()
    m = _VALUE.fullmatch(value)
    if not name or not name[0].isalpha() or m is None:
        return None
    return name, m.group(1), m.group(2)


def _group(text: str) -> list[tuple[str, str, str | None]] | None:
    """A bracketed group's items, the group's subject put before a one-word name; None unless
    every item parses."""
    items = []
    for part in re.split(r"[,|]", text):
        item = _item(part)
        if item is None:
            return None
        items.append(item)
    subject = items[0][0].rsplit(" ", 1)[0] if " " in items[0][0] else ""
    named = [f"{subject} {n}" if i and subject and " " not in n else n for i, (n, _, _) in enumerate(items)]
    return [(name, v, t) for name, (_, v, t) in zip(named, items)]


def progress_items(line: str) -> dict[str, tuple[str, str | None]] | None:
    """{name: (value text, total text)} of a progress line; None if the line is not one."""
    items: dict[str, tuple[str, str | None]] = {}
    for g in _GROUP.findall(line):
        parsed = _group(g)
        if parsed:
            for name, value, total in parsed:
                items.setdefault(name, (value, total))
    if not items:
        return None
    lead = _LEADING.match(line)
    if lead:
        items[STEP_KEY] = (lead.group(1), None)
    return items


def is_progress_line(line: str) -> bool:
    return progress_items(line) is not None


def _derived_step(items: dict[str, tuple[str, str | None]]) -> None:
    """The step from the epoch and batch counters where the line has no step of its own."""
    if STEP_KEY in items:
        return
    lower = {k.lower(): v for k, v in items.items()}
    epoch, batch = lower.get("epoch"), lower.get("batch")
    if batch is not None and batch[1] is not None and epoch is not None:
        items[STEP_KEY] = (repr(float(epoch[0]) * float(batch[1]) + float(batch[0])), None)
    elif batch is not None:
        items[STEP_KEY] = (batch[0], None)
    elif epoch is not None:
        items[STEP_KEY] = (epoch[0], None)


def read_printed(path: Path, text: str, tags: dict[str, str], min_rows: int) -> Parsed:
    records: list[tuple[int, dict[str, tuple[str, str | None]]]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        items = progress_items(line)
        if items is not None:
            _derived_step(items)
            records.append((n, items))
    if not records:
        raise LogError(f"`{path}` has no progress lines such as `0 [D loss: 0.69] [G loss: 0.71]`.")
    keys = list(dict.fromkeys(k for _, items in records for k in items))
    # Keras-GAN's `acc.` (D's accuracy on the batch, in %) is found as `D acc.` and read as
    # nothing: it is not D's output on real or fake samples, so it is kept out of d_real/d_fake.
    found = resolve(keys, tags, COLUMNS, path, "item")
    values: dict[str, list[float]] = {col: [] for col in found}
    gaps: dict[str, list[bool]] = {col: [] for col in found}  # an item a line lacks: not measured
    where: list[str] = []
    skipped: list[int] = []
    lacks: list[str] = []
    for n, items in records:
        missing = [found[col] for col in REQUIRED if found[col] not in items]
        if missing:
            skipped.append(n)  # e.g. `[Epoch 3/200] saving samples`: no losses on it
            lacks = lacks or missing
            continue
        where.append(f"line {n}")
        for col, name in found.items():
            value = items.get(name)
            values[col].append(number(value[0], col, name, path, where[-1]) if value else float("nan"))
            gaps[col].append(value is None)
    if not where:
        raise LogError(
            f"`{path}`: no progress line holds all of {', '.join(found[c] for c in REQUIRED)}; "
            "name the items with tags, e.g. d_loss=NAME."
        )
    parsed = finish(values, path, min_rows, gaps=gaps, where=where)
    if skipped:
        parsed.notes.append(
            f"`{path}`: {len(skipped)} progress line(s) without all of {', '.join(found[c] for c in REQUIRED)} "
            f"were skipped (the first, line {skipped[0]}, lacks {', '.join(lacks)})."
        )
    return parsed

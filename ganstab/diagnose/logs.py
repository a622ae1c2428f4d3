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
  run re-logs steps; its later row is the one that counts; the log's `notes` say so);
- a step counter that restarts from the log's first step (a per-epoch counter: 0-49, 0-49, ...)
  is not a resume: its rows are numbered on as one run, and the log's `notes` say so;
- a run diverged (`diverged_at`, `diverged_why`) at the first row with a NaN/Inf loss, an Inf in
  any column, or a NaN written as a number (not an empty cell or a JSON null) in a column that is
  measured on every step (`EVERY_STEP`); for a ganstab member, also when the run's
  `summary.json` says so (a member that diverged between logged steps has no bad row, or none at
  all). Such rows are kept; text that is not a number is an error;
- an empty CSV cell, or a JSON `null` (strict JSON writers write NaN as null), is NaN in a value
  column; an empty `step`, or an empty required loss cell in a CSV, is an error (not logged is
  not the same as diverged);
- a log needs `min_rows` rows, except a diverged one: divergence is a rule, decided however short
  the log (even with no rows, from `summary.json`);
- with `keep_going`, a log of a folder of several that cannot be read comes back with `error`
  set and no rows, so that one bad member does not cost the others their labels.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.diagnose.features import OPTIONAL_COLUMNS
from ganstab.diagnose.result import DIVERGED, Diagnosis

REQUIRED = ("step", "d_loss", "g_loss")
OPTIONAL = OPTIONAL_COLUMNS
COLUMNS = REQUIRED + OPTIONAL
VALUE_COLUMNS = COLUMNS[1:]  # every column but `step` (TensorBoard takes the step from the event)
# Columns a logger measures on every step: a NaN written there is a non-finite value, not a gap
# (g_move comes on evaluation rows only and data_spread is a constant, so NaN means "not measured").
EVERY_STEP = ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "g_spread", "g_drift")

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


def diagnose_log(log: LoadedLog, *, model: str = "auto", context: dict | None = None) -> Diagnosis:
    """The diagnosis of one read log: `diverged` by rule when the reader saw a sign of it (in any
    column, or in the run's summary.json), else the classifier's label (model.diagnose_trace).
    The advice reads `log.context` (a ganstab run's config), overridden key by key by `context`
    (what the user said: `ganstab diagnose --data/--arch/--loss`); the result carries the merge."""
    from ganstab.diagnose.advice import advice_for, check_context
    from ganstab.diagnose.model import MODELS, choose_model, diagnose_trace

    if log.error is not None:
        raise LogError(log.error)
    context = {**log.context, **check_context(context)}
    if log.diverged_at is None:
        return diagnose_trace(log.trace, model=model, context=context)
    if model != "auto" and model not in MODELS:
        raise ValueError(f"Unknown diagnosis model {model!r}; choose one of auto, {', '.join(MODELS)}.")
    kind = choose_model(log.trace) if model == "auto" else model
    at = log.diverged_at if math.isfinite(log.diverged_at) else None
    ev = {"diverged_at": log.diverged_at}
    rows = len(log.trace.get("step", ()))
    return Diagnosis(
        DIVERGED, {}, ev, advice_for(DIVERGED, ev, context), kind, rows, at, log.diverged_why, context=context
    )


class LogError(ValueError):
    """A log cannot be read as a trace; the message names the file and the problem."""


@dataclass
class Parsed:
    """What a reader makes of one log."""

    trace: dict[str, np.ndarray]  # {column: float array}, sorted by step
    diverged_at: float | None = None  # step of the first sign of divergence (None: none seen)
    diverged_why: str = ""  # that sign in words, e.g. "grad_norm_d is inf at step 2"
    notes: list[str] = field(default_factory=list)  # what reading changed, for the user


@dataclass
class LoadedLog:
    name: str  # what a report calls it: "RUN/member 000" for ganstab runs, else the path given
    path: Path  # the file (or TensorBoard folder) read
    trace: dict[str, np.ndarray]  # {column: float array}, sorted by step
    diverged_at: float | None = None  # step of the first sign of divergence (None: none seen)
    diverged_why: str = ""  # that sign in words (a column's NaN/Inf, or the run's summary.json)
    notes: list[str] = field(default_factory=list)  # e.g. a restarting step counter renumbered
    error: str | None = None  # why this log cannot be diagnosed (`keep_going` only; trace is empty)
    # What is known of the run for the advice (advice.advice_for's `context`): read from a ganstab
    # member's config.yaml (run_context); empty for other programs' logs
    context: dict = field(default_factory=dict)


def read_logs(
    path: str | Path,
    *,
    tags: dict[str, str] | None = None,
    min_rows: int = 20,
    keep_going: bool = False,
) -> list[LoadedLog]:
    """Every log at `path` in the trace schema (a run folder gives one per member).

    `tags` maps a schema column to its name in the log (a TensorBoard tag, a CSV column or a
    JSON key), e.g. {"d_loss": "train/lossD"}, overriding the aliases. With `keep_going`, a log
    in a folder of several that cannot be read comes back with `error` set instead of raising.
    """
    path = Path(path)
    tags = _check_tags(tags or {})
    if not path.exists():
        raise LogError(f"`{path}` does not exist; expected {_FORMATS}.")
    if path.is_dir():
        return _read_folder(path, tags, min_rows, keep_going)
    if path.name == "trace.csv":
        return [_loaded(_file_name(path), path, _read_member(path, tags, min_rows))]
    return [_loaded(_file_name(path), path, _read_file(path, tags, min_rows))]


def _loaded(name: str, path: Path, parsed: Parsed) -> LoadedLog:
    context = run_context(path) if path.name == "trace.csv" else {}
    return LoadedLog(name, path, parsed.trace, parsed.diverged_at, parsed.diverged_why, parsed.notes, context=context)


def run_context(trace_csv: Path) -> dict:
    """What a ganstab run's config says of the run, for the advice: the kind of data ("2-D
    mixtures" for the mixture data sets, "images"; a points file says nothing of its shape), G's
    architecture (ganstab's G is an MLP without BatchNorm on points, a conv net with BatchNorm on
    images: engine/networks.py) and the loss. Read from the member's config.yaml, else the run's;
    {} when there is none (a trace.csv outside a run folder) or it cannot be read."""
    import yaml

    member = trace_csv.resolve().parent
    for cfg_path in (member / "config.yaml", member.parent.parent / "config.yaml"):
        if cfg_path.is_file():
            break
    else:
        return {}
    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
        name = str(cfg["data"]["name"])
        loss = (cfg.get("train") or {}).get("loss")
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    return context_for(name, loss)


def context_for(name: str, loss: str | None) -> dict:
    """The advice context of a ganstab run on data set `name` with `loss` (see `run_context`)."""
    from ganstab.diagnose.advice import LOSS_KINDS
    from ganstab.engine.dataset_registry import DATASETS

    if name not in DATASETS.names():  # a data set this ganstab does not know: say nothing of it
        return {"loss": loss} if loss in LOSS_KINDS else {}
    kind = DATASETS.get(name).kind
    context: dict = {"g": "conv" if kind == "images" else "mlp"}
    if kind == "images":
        context["data"] = "images"
    elif name != "points":  # ring8, grid25, mixture: ganstab's 2-D mixtures
        context["data"] = "2-D mixtures"
    if loss in LOSS_KINDS:
        context["loss"] = loss
    return context


def _read_each(items: list[tuple[str, Path]], read, keep_going: bool) -> list[LoadedLog]:
    """One LoadedLog per (name, path); with `keep_going` a log that fails carries its error."""
    out = []
    for name, p in items:
        try:
            out.append(_loaded(name, p, read(p)))
        except LogError as e:
            if not keep_going or len(items) == 1:
                raise
            out.append(LoadedLog(name, p, {}, error=str(e)))
    return out


# ---------------------------------------------------------------------------------------- formats


def _read_folder(path: Path, tags: dict[str, str], min_rows: int, keep_going: bool) -> list[LoadedLog]:
    def member(p: Path) -> Parsed:
        return _read_member(p, tags, min_rows)

    members = path / "members"
    if members.is_dir():
        traces = sorted(
            (p for p in members.glob("*/trace.csv") if p.parent.name.isdigit()),
            key=lambda p: int(p.parent.name),
        )
        if not traces:
            raise LogError(f"`{path}` has a `members` folder but no members/NNN/trace.csv in it.")
        return _read_each([(_member_name(p), p) for p in traces], member, keep_going)
    if (path / "trace.csv").is_file():
        p = path / "trace.csv"
        return [_loaded(_member_name(p), p, member(p))]
    if _event_files(path):
        return [_loaded(str(path), path, _read_tensorboard(path, tags, min_rows))]
    folders = sorted({p.parent for p in path.rglob(TB_PREFIX + "*") if p.is_file()})
    if folders:
        return _read_each(
            [(str(f), f) for f in folders], lambda f: _read_tensorboard(f, tags, min_rows), keep_going
        )
    raise LogError(
        f"`{path}` is a folder without trace.csv, members/NNN/trace.csv or TensorBoard event files; "
        f"expected {_FORMATS}."
    )


def _read_file(path: Path, tags: dict[str, str], min_rows: int, known: tuple | None = None) -> Parsed:
    if path.name.startswith(TB_PREFIX):
        return _read_tensorboard(path, tags, min_rows)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, tags, min_rows, known)
    if suffix in _JSON_SUFFIXES:
        return _read_jsonl(path, tags, min_rows)
    first = _first_line(path)  # an unknown suffix: look at the content
    if first.startswith(("{", "[")):
        return _read_jsonl(path, tags, min_rows)
    if "," in first and any(n.strip().lower() == "step" for n in first.split(",")):
        return _read_csv(path, tags, min_rows, known)
    raise LogError(f"`{path}` is of an unknown format; expected {_FORMATS}.")


def _read_csv(path: Path, tags: dict[str, str], min_rows: int, known: tuple | None = None) -> Parsed:
    with _open_text(path) as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise LogError(f"`{path}` is empty; a CSV log needs a header naming {', '.join(REQUIRED)}.")
        header = [h.strip() for h in header]
        found = _resolve(header, tags, COLUMNS, path, "column")
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
                    raise LogError(f"`{path}` {where}: `{found[col]}` is empty; {col} must be a number.")
                values[col].append(_number(cell, col, found[col], path, where))
                gaps[col].append(cell == "")
    return _finish(values, path, min_rows, gaps=gaps, where=[f"line {n}" for n in lines], known=known)


def _read_jsonl(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
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
    gaps: dict[str, list[bool]] = {col: [] for col in found}  # a missing key or a null: not measured
    for where, rec in records:
        for col, key in found.items():
            if key not in rec:
                if col in REQUIRED:
                    raise LogError(f"`{path}` {where}: the object has no `{key}` key; every line needs one.")
                values[col].append(math.nan)
                gaps[col].append(True)
                continue
            v = rec[key]
            if v is None and col != "step":
                values[col].append(math.nan)  # strict JSON writers (JSON.stringify) write NaN as null
                gaps[col].append(col not in REQUIRED)  # a null loss still means a non-finite loss
            else:
                values[col].append(_number(v, col, key, path, where))
                gaps[col].append(False)
    return _finish(values, path, min_rows, gaps=gaps, where=[w for w, _ in records])


def _read_tensorboard(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
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
    found = _resolve(all_tags, tags, VALUE_COLUMNS, path, "tag")

    series: dict[str, dict[float, float]] = {}
    notes: list[str] = []
    for col, tag in found.items():
        if tag in scalar_tags:
            events = [(e.step, e.value) for e in acc.Scalars(tag)]
        else:  # TF2 writes scalars as tensors (plugin "scalars")
            events = [(e.step, _tensor_value(e.tensor_proto, tag, path)) for e in acc.Tensors(tag)]
        steps_in_order = np.asarray([float(s) for s, _ in events])
        where = [f"event {i + 1} of `{tag}`" for i in range(len(events))]
        renumbered, note = _renumber_epochs(steps_in_order, path, where)
        if note and col in ("d_loss", "g_loss"):
            notes.append(note)
        # a later event of a step wins (a resumed run)
        series[col] = {float(s): float(v) for s, (_, v) in zip(renumbered, events)}
    d, g = series["d_loss"], series["g_loss"]
    steps = sorted(set(d) & set(g))
    if d and g and not steps:
        raise LogError(
            f"`{path}`: the tags `{found['d_loss']}` ({len(d)} steps) and `{found['g_loss']}` "
            f"({len(g)} steps) share no step; scalars are aligned by step."
        )
    values = {"step": steps} | {col: [s.get(st, math.nan) for st in steps] for col, s in series.items()}
    gaps = {col: [st not in s for st in steps] for col, s in series.items()}
    parsed = _finish(values, path, min_rows, gaps=gaps)
    parsed.notes[:0] = notes[:1]  # d_loss's and g_loss's notes say the same
    return parsed


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


def _finish(
    values: dict[str, list[float]],
    path: Path,
    min_rows: int,
    *,
    gaps: dict[str, list[bool]] | None = None,
    where: list[str] | None = None,
    known: tuple[float, str] | None = None,
) -> Parsed:
    """Arrays in schema order, sorted by step with the last row of a repeated step kept, a
    restarting step counter numbered on, and the first sign of divergence found.

    `gaps[col]` marks cells that were not measured (an empty CSV cell, a missing key or a JSON
    null): their NaN is no sign of divergence. `where` names each row for notes ("line 7").
    `known`: (step, why) of a divergence the run's summary.json reports."""
    arrays = {c: np.asarray(values[c], dtype=float) for c in COLUMNS if c in values}
    step, note = _renumber_epochs(arrays["step"], path, where)
    notes = [note] if note else []
    order = np.argsort(step, kind="stable")  # equal steps keep file order, so the last comes last
    s = step[order]
    keep = order[np.r_[s[1:] != s[:-1], True]] if len(s) else order
    if len(keep) < len(step):
        notes.append(
            f"`{path}`: {len(step) - len(keep)} rows log a step again (a resumed run); "
            "the later row of each step is kept."
        )
    trace = {c: a[keep] for c, a in arrays.items()}
    trace["step"] = step[keep]
    n = len(trace["step"])
    diverged_at, why = _first_bad_row(trace, {c: np.asarray(g, bool)[keep] for c, g in (gaps or {}).items()})
    if known is not None and (diverged_at is None or known[0] < diverged_at):
        diverged_at, why = known
    if diverged_at is None and n < min_rows:
        raise LogError(
            f"`{path}` has {n} rows (distinct steps); diagnosis needs at least {min_rows}. "
            "Log more often or train longer."
        )
    return Parsed(trace, diverged_at, why, notes)


def _first_bad_row(trace: dict[str, np.ndarray], gaps: dict[str, np.ndarray]) -> tuple[float | None, str]:
    """Step and words of the first row with a sign of divergence: a NaN/Inf loss, an Inf in any
    column, or a measured NaN in an EVERY_STEP column."""
    n = len(trace["step"])
    signs: dict[str, np.ndarray] = {}
    for c in VALUE_COLUMNS:
        if c not in trace:
            continue
        x = trace[c]
        sign = np.isinf(x)
        if c in EVERY_STEP:
            sign |= np.isnan(x) & ~gaps.get(c, np.zeros(n, bool))
        if sign.any():
            signs[c] = sign
    if not signs:
        return None, ""
    row = min(int(np.argmax(sign)) for sign in signs.values())
    what = ", ".join(f"{c} is {trace[c][row]}" for c, sign in signs.items() if sign[row])
    at = float(trace["step"][row])
    return at, f"{what} at step {_step_text(at)}"


def _renumber_epochs(step: np.ndarray, path: Path, where: list[str] | None = None) -> tuple[np.ndarray, str]:
    """Rows numbered on where the step counter starts again from the log's first step (a per-epoch
    counter: 0..49, 0..49, ...), with a note; unchanged otherwise. That is the case when every
    place the step goes back starts a run of at least two rows from the first step or below. A
    step that goes back to a later step than the first is a resumed run, and rows in no order are
    just sorted: `_finish` resolves both."""
    if len(step) < 2:
        return step, ""
    restarts = [int(i) for i in np.flatnonzero(np.diff(step) < 0) + 1]
    bounds = [0, *restarts, len(step)]
    if not restarts or any(step[i] > step[0] for i in restarts) or min(np.diff(bounds)) < 2:
        return step, ""
    diffs = np.diff(step)
    dt = float(np.median(diffs[diffs > 0])) if (diffs > 0).any() else 1.0  # the logging interval
    out = step.copy()
    bounds = [*restarts, len(step)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        out[a:b] = step[a:b] - step[a] + out[a - 1] + dt
    first = where[restarts[0]] if where else f"row {restarts[0] + 1}"
    note = (
        f"`{path}`: the step counter starts again {len(restarts)} time(s) (first at {first}, "
        f"back to {_step_text(step[restarts[0]])}), as a per-epoch counter does; its {len(step)} rows "
        f"are read as one run, steps numbered on ({_step_text(out[0])} to {_step_text(out[-1])}). "
        "If they are separate runs, give each its own file."
    )
    return out, note


def _step_text(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and x == int(x) else f"{x:g}"


def _read_member(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
    """A trace.csv, with what its ganstab run's summary.json says of the member: a divergence the
    rows may not show, or (in an error for too few rows) that the run stopped the member early."""
    entry = _summary_entry(path)
    try:
        return _read_file(path, tags, min_rows, _summary_divergence(entry))
    except LogError as e:
        if entry is None or entry.get("status") != "stopped" or "rows (distinct steps)" not in str(e):
            raise
        at = entry.get("steps_trained", "?")
        raise LogError(f"{e} (summary.json: the run stopped this member at step {at}, e.g. pruned)") from e


def _summary_entry(trace_csv: Path) -> dict[str, Any] | None:
    """This member's object in its ganstab run's summary.json (None: not a member, or no summary,
    as for a run still going or killed)."""
    member = trace_csv.resolve().parent
    if member.parent.name != "members" or not member.name.isdigit():
        return None
    try:
        items = json.loads((member.parent.parent / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("member") == int(member.name):
            return item
    return None


def _summary_divergence(entry: dict[str, Any] | None) -> tuple[float, str] | None:
    """(step, words) when summary.json says the member diverged: the engine stops a member at the
    step its loss or gradient turned non-finite, which is often between logged steps (a member
    that diverged at step 2 with log_every 10 has no rows at all)."""
    if entry is None or entry.get("status") != "diverged":
        return None
    at = entry.get("diverged_at")
    at = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else math.nan
    return at, f"summary.json says it diverged at step {_step_text(at)}"


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

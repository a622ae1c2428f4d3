"""A corpus folder on disk: its runs, their traces and evaluations (`load`, `append_runs`).
Labels are derived from the evaluations by `ganstab.diagnose.labels` when the corpus is read, so
the rules can change without retraining; `corpus_runs` trains the runs.

Layout of a corpus folder:

    runs.jsonl.gz one object per run: id, dataset, cohort, overrides, evals, diverged_at and
                  (since corpus v5) draw
                  (gzip since corpus v4: the evaluations' histograms compress about 5x; older
                  corpora have a plain runs.jsonl, which is read and written as it is)
    traces.npz    one float32 array [T, len(columns)] per run id
    columns.json  the names of those columns, in order (TRACE_COLUMNS when it was written)
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganstab.engine.trace import EVAL_PROBE_COLUMNS, STEP_COLUMNS, json_safe

# The corpus the shipped models learn from (docs/labels.md says how it was made).
SHIPPED_CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "v6"

TRACE_COLUMNS = STEP_COLUMNS + EVAL_PROBE_COLUMNS  # what a corpus keeps of each trace (no metric)
# The columns of a corpus written before columns.json existed (v1 and v2 as first generated).
LEGACY_COLUMNS = STEP_COLUMNS[: STEP_COLUMNS.index("g_drift") + 1]


@dataclass
class CorpusRun:
    id: str
    dataset: str
    cohort: int
    overrides: list[str]
    evals: list[dict[str, Any]]
    diverged_at: int | None
    trace: np.ndarray  # [T, len(names)]
    names: tuple[str, ...] = TRACE_COLUMNS  # the corpus's columns.json
    draw: str = "plain"  # DRAWS: how its configuration was sampled (runs before it: plain)

    def columns(self) -> dict[str, np.ndarray]:
        return {c: self.trace[:, i].astype(float) for i, c in enumerate(self.names)}


RUNS_FILES = ("runs.jsonl.gz", "runs.jsonl")


def runs_file(path: Path) -> Path:
    """A corpus folder's runs file: the one there, else runs.jsonl.gz for a new corpus."""
    return next((path / n for n in RUNS_FILES if (path / n).exists()), path / RUNS_FILES[0])


def read_records(file: Path) -> list[dict[str, Any]]:
    if not file.exists():
        return []
    data = file.read_bytes()
    text = (gzip.decompress(data) if file.suffix == ".gz" else data).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_columns(path: Path) -> tuple[str, ...]:
    """The trace columns of the corpus in `path` (LEGACY_COLUMNS for one without columns.json)."""
    file = Path(path) / "columns.json"
    return tuple(json.loads(file.read_text())) if file.exists() else LEGACY_COLUMNS


def append_runs(out: Path, runs: list[CorpusRun]) -> None:
    """Add runs to the corpus folder `out` (created by the first call); columns must match."""
    names = {r.names for r in runs}
    if len(names) > 1:
        raise ValueError(f"Runs to append to {str(out)!r} have different trace columns: {sorted(names)}.")
    new = names.pop() if names else TRACE_COLUMNS
    have = read_columns(out) if runs_file(out).exists() else new
    if have != new:
        raise ValueError(
            f"Corpus {str(out)!r} holds traces with columns {list(have)}, but the new runs have "
            f"{list(new)}; write them to a new corpus folder."
        )
    (out / "columns.json").write_text(json.dumps(list(new)))
    arrays = dict(np.load(out / "traces.npz")) if (out / "traces.npz").exists() else {}
    arrays.update({r.id: r.trace for r in runs})
    tmp = out / "traces.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / "traces.npz")
    # The runs file is rewritten whole and swapped in, like traces.npz: a process killed mid-write
    # leaves the previous file (an append would leave a truncated gzip member, unreadable).
    file = runs_file(out)
    lines = [json.dumps(meta) for meta in read_records(file)]
    lines += [
        json.dumps(json_safe({k: v for k, v in r.__dict__.items() if k not in ("trace", "names")}))
        for r in runs
    ]
    text = "".join(line + "\n" for line in lines).encode()
    tmp = file.with_name("runs.tmp")
    tmp.write_bytes(gzip.compress(text, mtime=0) if file.suffix == ".gz" else text)  # mtime=0: same bytes
    tmp.replace(file)


def load(path: str | Path) -> list[CorpusRun]:
    """Read a corpus folder written by `generate`."""
    path = Path(path)
    if not runs_file(path).exists():
        raise FileNotFoundError(
            f"No corpus at {str(path)!r} (expected runs.jsonl.gz or runs.jsonl, and traces.npz)."
        )
    arrays, names = np.load(path / "traces.npz"), read_columns(path)
    runs = [CorpusRun(**meta, trace=arrays[meta["id"]], names=names) for meta in read_records(runs_file(path))]
    for run in runs:
        if run.trace.shape[1] != len(names):
            raise ValueError(
                f"Corpus {str(path)!r}: run {run.id} has {run.trace.shape[1]} trace columns, but "
                f"columns.json names {len(names)}."
            )
    return runs

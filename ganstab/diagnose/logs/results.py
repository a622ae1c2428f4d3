"""What reading a log gives (`Parsed` from a reader, `LoadedLog` per log) and the error a log
that cannot be read raises (`LogError`, its message naming the file and the problem)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMATS = (
    "a ganstab run folder (members/NNN/trace.csv), a CSV file with a header, a JSONL file, "
    "a TensorBoard event file (events.out.tfevents.*) or a folder holding one, "
    "or printed progress lines such as `0 [D loss: 0.69, acc.: 50.00%] [G loss: 0.71]`"
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

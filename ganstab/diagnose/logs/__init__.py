"""Read any supported GAN log into the trace schema (docs/traces.md), for `ganstab diagnose`.

Diagnosis must work on anybody's logs, not only ganstab's, so every format is mapped onto the
columns the classifier reads: `step`, `d_loss`, `g_loss` (required) and `d_real`, `d_fake`,
`grad_norm_d`, `grad_norm_g`, `g_spread`, `g_drift`, `data_spread`, `g_move` (optional, kept only
when the log has them). Other columns are dropped. Supported inputs:

- a ganstab run folder (`members/NNN/trace.csv`: one log per member) or one member folder;
- a CSV file whose header names the columns (any order; extra columns ignored);
- a JSONL file, one object per line (extra keys ignored; blank lines skipped);
- a TensorBoard event file (`events.out.tfevents.*`) or a folder holding event files (one log per
  folder that holds them), scalars aligned by step;
- progress lines printed to stdout and saved to a file, as Keras-GAN prints them
  (`0 [D loss: 0.69, acc.: 50.00%] [G loss: 0.71]`) or PyTorch-GAN (`[Epoch 0/200] [Batch 10/938]
  [D loss: ...] [G loss: ...]`); the file's other lines are skipped (printed.py).

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

from ganstab.diagnose.logs.columns import (
    COLUMN_ALIASES,
    COLUMNS,
    EVERY_STEP,
    OPTIONAL,
    REQUIRED,
    VALUE_COLUMNS,
)
from ganstab.diagnose.logs.diagnosis import diagnose_log
from ganstab.diagnose.logs.ganstab_runs import context_for, run_context
from ganstab.diagnose.logs.reading import read_logs
from ganstab.diagnose.logs.results import LoadedLog, LogError, Parsed
from ganstab.diagnose.logs.tensorboard import TB_PREFIX

__all__ = [
    "COLUMNS",
    "COLUMN_ALIASES",
    "EVERY_STEP",
    "OPTIONAL",
    "REQUIRED",
    "TB_PREFIX",
    "VALUE_COLUMNS",
    "LoadedLog",
    "LogError",
    "Parsed",
    "context_for",
    "diagnose_log",
    "read_logs",
    "run_context",
]

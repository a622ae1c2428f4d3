"""What a cohort writes to disk, and the checkpoint it resumes from.

A run folder (README, "Run folders"):

    config.yaml                  resolved config of member 0
    members/NNN/config.yaml      each member's resolved config
    members/NNN/trace.csv        the trace (docs/traces.md), appended at every evaluation
    members/NNN/evals.jsonl      every evaluation, with the mode histograms (docs/labels.md)
    members/NNN/samples/*.png    samples at each evaluation; `samples="last"` keeps only the newest
    checkpoint.pt                networks, optimizer state, random streams (`checkpoints=True`)
    summary.json                 final status and metrics per member

`ganstab train` keeps everything. A search keeps a trial's folder small (`samples="last"`, no
checkpoint: a search resumes by re-running lost trials, never from a checkpoint), so a 1,024-trial
search writes tens of kilobytes per trial, not megabytes.

Sample pictures are drawn on a background thread: the training thread only copies the samples to
the host. `flush()` waits for them (the search uploads the newest as an artifact).

Checkpoints hold tensors and plain containers only and load with `torch.load(weights_only=True)`:
a crafted file cannot run code. Every way a checkpoint can be unusable (missing, empty,
truncated, not a checkpoint, from another shape of network) is a `CheckpointError` that names the
file and the problem, raised before anything in the folder is rewritten.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganstab.engine import config as C
from ganstab.engine.samples import save_grid, save_scatter
from ganstab.engine.trace import TraceWriter, json_safe

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 2  # 2: weights_only-safe (evaluation logs as JSON text, not pickled objects)
SAMPLE_POLICIES = ("all", "last")


class CheckpointError(C.ConfigError):
    """A checkpoint cannot be resumed from; the message names the file and the problem."""


def _plain(o: Any) -> Any:
    """Evaluation results as JSON-able Python values (NaN kept: json writes it as NaN)."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, torch.Tensor):
        return _plain(o.detach().cpu().tolist())
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    return o


class RunFolder:
    """The files of one cohort run under `root` (see the module doc)."""

    def __init__(self, root: str | Path, *, samples: str = "all", checkpoints: bool = True) -> None:
        if samples not in SAMPLE_POLICIES:
            raise ValueError(f"`samples` must be one of {', '.join(SAMPLE_POLICIES)}, but got {samples!r}.")
        self.root = Path(root)
        self.samples = samples
        self.checkpoints = checkpoints
        self.writers: list[TraceWriter] = []
        self.ids: list[int] = []  # the member (members/NNN) each cohort slot holds now
        self._painter: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    def member_dir(self, i: int) -> Path:
        """The folder of the member in cohort slot i (slot i itself until a refill)."""
        return self.root / "members" / f"{self.ids[i] if i < len(self.ids) else i:03d}"

    # ------------------------------------------------------------------ configs and traces

    def open(self, configs: Sequence[C.Config], columns: list[str]) -> None:
        """A new run: the resolved configs and empty traces."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "config.yaml").write_text(C.dump_yaml(configs[0]))
        self.ids = list(range(len(configs)))
        for i, c in enumerate(configs):
            d = self.member_dir(i)
            d.mkdir(parents=True, exist_ok=True)
            (d / "config.yaml").write_text(C.dump_yaml(c))
        self.writers = [TraceWriter(self.member_dir(i) / "trace.csv", columns) for i in range(len(configs))]

    def reopen(self, k: int, columns: list[str], step: int) -> None:
        """A resumed run: traces continue after `step` (rows logged after the checkpoint, before a
        crash, are dropped)."""
        self.ids = list(range(k))
        self.writers = [TraceWriter(self.member_dir(i) / "trace.csv", columns) for i in range(k)]
        for w in self.writers:
            w.truncate_after(step)

    def add_member(self, slot: int, config: C.Config, columns: list[str]) -> int:
        """A new member takes cohort slot `slot` (a refill): its own folder and trace. Returns its
        number (members/NNN)."""
        number = max(self.ids) + 1
        self.ids[slot] = number
        d = self.member_dir(slot)
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.yaml").write_text(C.dump_yaml(config))
        self.writers[slot] = TraceWriter(d / "trace.csv", columns)
        return number

    def member_configs(self) -> list[C.Config]:
        return [C.load_yaml(d / "config.yaml") for d in sorted((self.root / "members").glob("[0-9][0-9][0-9]"))]

    def write_rows(self, i: int, rows: list[dict[str, object]]) -> None:
        self.writers[i].write(rows)

    def write_evals(self, i: int, evals: list[dict[str, Any]]) -> None:
        with (self.member_dir(i) / "evals.jsonl").open("w") as f:
            for item in evals:
                f.write(json.dumps(json_safe(_plain(item))) + "\n")

    def write_summary(self, summary: list[dict[str, Any]]) -> None:
        (self.root / "summary.json").write_text(json.dumps(json_safe(summary), indent=2, default=str))

    # ------------------------------------------------------------------ samples

    def save_samples(
        self,
        step: int,
        samples: torch.Tensor,
        members: Sequence[int],
        kind: str,
        centres: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
    ) -> None:
        """Pictures of `members`' samples `[K, N, ...]` at `step`, drawn off the training thread."""
        if not members:
            return
        keep = 1000 if kind == "points" else 64  # what a picture shows
        host = samples[list(members), :keep].detach().float().cpu()
        centres = centres.cpu() if centres is not None else None
        reference = reference.cpu() if reference is not None else None
        if self._painter is None:
            self._painter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganstab-samples")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(
            self._painter.submit(self._paint, step, host, list(members), kind, centres, reference)
        )

    def _paint(self, step, host, members, kind, centres, reference) -> None:
        for row, i in enumerate(members):
            folder = self.member_dir(i) / "samples"
            path = folder / f"step_{step:06d}.png"
            path.unlink(missing_ok=True)  # a new file, never rewritten in place: a search's artifact may be a hard link to it
            if kind == "points":
                save_scatter(host[row], path, centres=centres, reference=reference, title=f"member {i} step {step}")
            else:
                save_grid(host[row], path)
            if self.samples == "last":
                for old in folder.glob("step_*.png"):
                    if old != path:
                        old.unlink(missing_ok=True)

    def flush(self) -> None:
        """Wait for the pictures in flight; re-raise a drawing error here, not silently."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()

    def close(self) -> None:
        self.flush()
        if self._painter is not None:
            self._painter.shutdown(wait=True)
            self._painter = None

    # ------------------------------------------------------------------ checkpoint

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write the checkpoint atomically: a kill during the save leaves the previous one."""
        if not self.checkpoints:
            return
        state = dict(state)
        state["format"] = CHECKPOINT_FORMAT
        for key in ("status", "ended_at", "last_eval", "eval_log"):  # plain values as JSON text
            state[key] = json.dumps(_plain(state[key]))
        tmp = self.root / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.root / CHECKPOINT)

    def has_checkpoint(self) -> bool:
        return (self.root / CHECKPOINT).exists()

    def load_checkpoint(self, device: torch.device) -> dict[str, Any]:
        """The checkpoint's state, or CheckpointError naming the file and what is wrong with it."""
        path = self.root / CHECKPOINT
        where = f"Cannot resume from {str(path)!r}"
        if not path.exists():
            raise CheckpointError(f"Cannot resume {str(self.root)!r}: it holds no {CHECKPOINT}.")
        if path.stat().st_size == 0:
            raise CheckpointError(f"{where}: the file is empty (a save was cut short); start a new run.")
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
            raise CheckpointError(f"{where}: the file is truncated or not a checkpoint (not a torch zip archive).")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except pickle.UnpicklingError as e:
            # torch's text suggests weights_only=False, which is exactly what must not happen here
            found = [line.strip() for line in str(e).splitlines() if "Unsupported" in line]
            detail = f" ({found[0][:200]})" if found else ""
            raise CheckpointError(
                f"{where}: it holds objects other than tensors and plain values, which ganstab never "
                f"writes, so it was not loaded{detail}."
            ) from e
        except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"{where}: the file is truncated or not a checkpoint ({first[:200]}).") from e
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            found = state.get("format", "none") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(
                f"{where}: it is not a checkpoint of this ganstab version (format {found}, this version "
                f"reads {CHECKPOINT_FORMAT}); start a new run."
            )
        try:
            for key in ("status", "ended_at", "last_eval", "eval_log"):
                state[key] = json.loads(state[key])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: its run state is damaged ({e}).") from e
        return state

"""Checkpoint and resume of a cohort run: what a checkpoint holds, and how a run continues from
one. The file itself is the run folder's (engine/run_folder.py: written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganstab.engine import config as C
from ganstab.engine.device import pick_device
from ganstab.engine.run_folder import CheckpointError, RunFolder
from ganstab.engine.trace import read_header

if TYPE_CHECKING:
    from ganstab.engine.trainer import CohortTrainer


def save_checkpoint(trainer: CohortTrainer) -> None:
    """Write the trainer's state to its run folder (when it keeps checkpoints)."""
    t = trainer
    if t.folder is None or not t.folder.checkpoints:
        return
    # Mid-chunk, the streams are saved at the chunk's start: resume redraws the chunk from there.
    states = [g.get_state() for g in t.streams] if t.step % t.chunk == 0 else t._chunk_states
    state = {
        "step": t.step,
        "G": t.G.state_dict(),
        "G_avg": t.G_avg.state_dict() if t.G_avg is not None else None,
        "D": t.D.state_dict(),
        "optG": t.optG.state_dict(),
        "optD": t.optD.state_dict(),
        "alive": t.alive,
        "diverged_at": t.diverged_at,
        "status": t.status,
        "ended_at": t.ended_at,
        "last_eval": t.last_eval,
        "eval_log": t.eval_log,
        "stream_states": states,
        "prev_mean": t._prev_mean,
        "prev_samples": t.moves.prev,
        "wall_time": t.wall_time,
        # a user network's per-member generators (its loop's dropout draws), where it has them
        "user_rng": {name: net.rng_states() for name, net in (("G", t.G), ("D", t.D)) if hasattr(net, "rng_states")},
    }
    t.folder.save_checkpoint(state)  # atomic: a kill never leaves half a file


def _resumable_configs(folder: RunFolder, steps: int | None) -> list[C.Config]:
    if not folder.has_checkpoint():
        raise CheckpointError(f"Cannot resume {str(folder.root)!r}: it holds no checkpoint.pt.")
    if steps is not None and steps < 1:
        raise C.ConfigError(f"`train.steps` must be >= 1, but got {steps}.")
    configs = folder.member_configs()
    if not configs:
        raise CheckpointError(f"Cannot resume {str(folder.root)!r}: it has no members/NNN/config.yaml.")
    for c in configs:
        c.train.steps = steps if steps is not None else c.train.steps
    return configs


def _load_networks(t: CohortTrainer, state: dict[str, Any], folder: RunFolder) -> None:
    try:
        t.G.load_state_dict(state["G"])
        if t.G_avg is not None and state.get("G_avg") is not None:
            t.G_avg.load_state_dict(state["G_avg"])
        elif t.G_avg is not None:  # a checkpoint from before the average: start it here
            t.G_avg.restart()
        t.D.load_state_dict(state["D"])
        t.optG.load_state_dict(state["optG"])
        t.optD.load_state_dict(state["optD"])
        for name, net in (("G", t.G), ("D", t.D)):
            if hasattr(net, "load_rng_states"):
                net.load_rng_states(state.get("user_rng", {}).get(name))
    except (RuntimeError, KeyError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"Cannot resume from {str(folder.root / 'checkpoint.pt')!r}: its networks do not fit the "
            f"configs in {str(folder.root / 'members')!r} (edited to another shape?): {first[:200]}"
        ) from e


def _load_progress(t: CohortTrainer, state: dict[str, Any]) -> None:
    t.step = state["step"]
    t.alive = state["alive"].to(t.device)
    t.diverged_at = state["diverged_at"].to(t.device)
    t.status, t.ended_at = state["status"], state["ended_at"]
    t.last_eval = state["last_eval"]
    t.eval_log = state["eval_log"]
    t.wall_time = state["wall_time"]
    for g, s in zip(t.streams, state["stream_states"]):
        g.set_state(s)
    t._plan = None  # regenerated from the chunk's start state on the next step
    t._prev_mean = state["prev_mean"]
    t.moves.prev = state.get("prev_samples")  # absent in checkpoints older than g_move


def _check_trace_columns(t: CohortTrainer, run_dir: str | Path) -> None:
    for i in range(t.k):
        header = read_header(t.member_dir(i) / "trace.csv")
        if header is not None and header != t.columns:
            missing = [c for c in t.columns if c not in header]
            extra = [c for c in header if c not in t.columns]
            raise C.ConfigError(
                f"Cannot resume {str(run_dir)!r}: it was started by another ganstab version, whose "
                f"traces lack {missing} and have {extra} (columns of this version); start a new run."
            )


def resume_run(cls: type[CohortTrainer], run_dir: str | Path, steps: int | None = None) -> CohortTrainer:
    """See CohortTrainer.resume."""
    folder = RunFolder(run_dir)
    configs = _resumable_configs(folder, steps)
    state = folder.load_checkpoint(pick_device(C.resolve(configs[0]).train.device))
    t = cls(configs, run_dir)
    _load_networks(t, state, folder)
    _load_progress(t, state)
    _check_trace_columns(t, run_dir)
    assert t.folder is not None
    t.folder.reopen(t.k, t.columns, t.step)  # rows after the checkpoint are dropped
    if t.step >= t.steps:
        t.status = ["finished" if s == "running" else s for s in t.status]
    else:  # more steps: finished members train on
        t.ended_at = [None if s == "finished" else e for s, e in zip(t.status, t.ended_at)]
        t.status = ["running" if s == "finished" else s for s in t.status]
        t.alive = torch.tensor([s == "running" for s in t.status], device=t.device)
    t._opened = True  # the folder exists: train() continues it
    return t

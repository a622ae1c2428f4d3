"""Evaluation of a cohort: when each member evaluates, its samples of fixed latents, their metrics
and `g_move`, and the search's say on which members go on (`report`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ganstab.engine.data import Mixture

if TYPE_CHECKING:
    from ganstab.engine.trainer import CohortTrainer, ReportFn

EVAL_SEED = 2**33  # evaluation latents are seeded apart from initialisation and the streams
# Evaluation samples whose displacement between evaluations `g_move` measures (the first ones of
# the fixed evaluation latents; fewer for images, whose samples are large).
MOVE_SAMPLES = {"points": 256, "images": 64}


def eval_due(local: np.ndarray, *, steps: int, eval_every: int) -> np.ndarray:
    """Which members (by their own steps) evaluate now: every `eval_every`, and at their end."""
    due = local >= steps
    if eval_every > 0:
        due |= local % eval_every == 0
    return due


class SampleMoves:
    """`g_move`: the mean distance each fixed-latent sample moved since the member's previous
    evaluation, over the data's scale (per-coordinate std x sqrt(dim), from real samples): ~0 for a
    still generator, about a mode's distance for one whose samples hop between modes. NaN at a
    member's first evaluation."""

    def __init__(self, n_samples: int, scale: float) -> None:
        self.n_samples = n_samples
        self.scale = scale
        self.prev: torch.Tensor | None = None  # the last evaluation's samples
        self.fresh: set[int] = set()  # refilled members whose next g_move has no reference

    def restart(self, i: int) -> None:
        """Slot i holds a new member: its next evaluation has nothing to compare with."""
        self.fresh.add(i)

    def measure(self, samples: torch.Tensor, due: list[int]) -> list[float]:
        """Each member's g_move; members not `due` keep their reference."""
        x = samples[:, : self.n_samples].flatten(2).float()  # [K, M, dim]
        if self.prev is None:
            self.prev = x.clone()
            return [float("nan")] * x.shape[0]
        move = ((x - self.prev).norm(dim=2).mean(dim=1) / self.scale).tolist()
        index = torch.tensor(due, dtype=torch.long, device=x.device)
        self.prev[index] = x[index]
        for i in self.fresh & set(due):
            move[i] = float("nan")
        self.fresh -= set(due)
        return move


@torch.no_grad()
def fixed_samples(trainer: CohortTrainer, n: int) -> torch.Tensor:
    """n samples per member `[K, n, ...]` from fixed latent draws (the same at every evaluation),
    in batches of the training batch size (BatchNorm uses batch statistics), from G's weight
    average where there is one (`train.g_ema`)."""
    t = trainer
    gens = [torch.Generator(t.device).manual_seed(c.train.seed + EVAL_SEED) for c in t.configs]
    latent = t.cfg.model.latent_dim
    z = torch.stack([torch.randn(n, latent, generator=g, device=t.device) for g in gens])
    G = t.G_avg.synced() if t.G_avg is not None else t.G
    G.eval()  # freezes spectral-norm power iterations: evaluation leaves training untouched
    try:
        with t.autocast():
            parts = [G(z[:, a : a + t.batch])[-1].float() for a in range(0, n, t.batch)]
    finally:
        G.train()
    return torch.cat(parts, dim=1)


def evaluate(trainer: CohortTrainer, due: list[int]) -> list[dict[str, float]]:
    """Metrics of every member's samples; `due` are the members whose evaluation this is (their
    g_move reference and sample pictures advance)."""
    t = trainer
    samples = t.sample(t.cfg.data.n_eval)
    t._move = t.moves.measure(samples, due)
    results = t.evaluator(samples)
    for res in results:
        res["score"] = t.evaluator.score(res)
        if "hist" not in res and t.evaluator.family in ("mixture", "digits"):
            res["hist"] = res["near"] = None  # a member whose samples were not finite
    if t.folder is not None:
        centres = t.dataset.centres if isinstance(t.dataset, Mixture) else None
        points = t.dataset.kind == "points"
        reference = t.evaluator.real(1000) if centres is None and points else None
        running = [i for i in due if t.status[i] == "running"]
        t.folder.save_samples(t.step, samples, running, t.dataset.kind, centres, reference)
    return results


def _record(trainer: CohortTrainer, results: list[dict[str, Any]], due: list[int]) -> None:
    """The due members' results into their evaluation logs and the newest trace row."""
    t = trainer
    row, col = t.traces.rows[-1], t.traces.col
    for i in due:
        res = results[i]
        if t.status[i] == "running":
            hists = {h: res.pop(h) for h in ("hist", "near") if h in res}
            t.last_eval[i] = res
            t.eval_log[i].append({"step": t.step - t.start[i], **res, **hists})
            for name, value in res.items():
                if f"eval_{name}" in col:  # not every result is a trace column ("graded")
                    row[i, col[f"eval_{name}"]] = value
            row[i, col["g_move"]] = t._move[i]


def _ask(trainer: CohortTrainer, report: ReportFn) -> None:
    """Call `report` and stop the members it turns down."""
    t = trainer
    decision = report(t.step, [t.member_view(i) for i in range(t.k)])
    if decision is False:
        decision = [False] * t.k
    if isinstance(decision, list):
        if len(decision) != t.k:
            raise ValueError(f"report must return one bool per member ({t.k}), but got {len(decision)}.")
        for i, keep in enumerate(decision):
            if not keep:
                t.stop_member(i)


def evaluation_round(trainer: CohortTrainer, report: ReportFn | None, due: list[int]) -> None:
    """Evaluate the due members, let `report` decide, finish those at their last step, and write
    the traces and the checkpoint."""
    t = trainer
    t._due = set(due)
    _record(t, t.evaluate(due), due)
    if report is not None:
        _ask(t, report)
    for i in due:  # a member that reached its own last step has finished
        if t.status[i] == "running" and t.step - t.start[i] >= t.steps:
            t.status[i] = "finished"
            t.alive[i] = False
            t.ended_at[i] = t.steps
    t.write_traces()
    t.checkpoint()

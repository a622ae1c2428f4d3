"""The training loop of a cohort: K GANs of one shape trained in lockstep as one batched network.

K = 1 is an ordinary run. Members may differ in every hyperparameter that leaves tensor shapes
alone (config.MEMBER_KEYS); each member evolves exactly as it would alone with the same seed:

- its weights are drawn from its own generator (seeded by `train.seed`), layer by layer;
- its data, latent noise, instance noise and WGAN-GP interpolation weights come from its own
  *stream* generator, drawn `STREAM_CHUNK` steps at a time in a fixed order that depends only on
  the member's own config;
- its optimizer has its own learning rates, betas and step count, and steps only when the
  member is active (its own `n_dis` cycle, not diverged, not stopped).

A member whose loss or gradient turns NaN/Inf is marked diverged at that step and frozen; nothing
it computes reaches another member. The engine knows nothing of Optuna or Ray: a search talks to
it through `report(step, members) -> keep_going`, called at every evaluation.
"""


from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganstab.engine import config as C
from ganstab.engine.average import WeightAverage
from ganstab.engine.checkpoint import resume_run, save_checkpoint
from ganstab.engine.config import Config
from ganstab.engine.data import build_dataset, data_spread
from ganstab.engine.device import pick_device
from ganstab.engine.evaluation import (
    MOVE_SAMPLES,
    SampleMoves,
    eval_due,
    evaluate,
    evaluation_round,
    fixed_samples,
)
from ganstab.engine.member_layers import (
    set_power_iteration,
)
from ganstab.engine.member_settings import MemberSettings
from ganstab.engine.member_view import member_view, summary
from ganstab.engine.metrics import Evaluator
from ganstab.engine.networks import build_member_networks, real_scales
from ganstab.engine.optim import CohortAdam
from ganstab.engine.refill import SlotRefill
from ganstab.engine.run_folder import RunFolder
from ganstab.engine.streams import STREAM_CHUNK, draw_chunk, member_stream
from ganstab.engine.trace import columns_for
from ganstab.engine.trace_log import TraceLog
from ganstab.engine.user_networks import set_buffer_advance, set_gp_members, user_cohorts

log = logging.getLogger(__name__)

__all__ = ["CohortTrainer", "ReportFn", "train"]


ReportFn = Callable[[int, list[dict[str, Any]]], "bool | list[bool] | None"]


class CohortTrainer:
    """Train K member configs (shape-compatible, see `config.check_cohort`) as one network.

    `run_dir` (optional) receives the run folder (`RunFolder`); without it nothing is written.
    `samples` ("all" or "last") and `checkpoints` say how much of it to keep (a search keeps
    little). `reserve` lists configs that may refill a slot later (engine/refill.py), so that the
    networks are built to take them (spectral-norm layers where any of them uses SN).
    """

    def __init__(
        self,
        configs: list[Config],
        run_dir: str | Path | None = None,
        *,
        samples: str = "all",
        checkpoints: bool = True,
        reserve: list[Config] = (),  # type: ignore[assignment]
    ) -> None:
        self.configs = [C.resolve(c) for c in configs]
        C.check_cohort(self.configs)
        self.cfg = self.configs[0]
        self.k = len(self.configs)
        self.device = pick_device(self.cfg.train.device)
        self.batch = self.cfg.train.batch_size
        self.steps = self.cfg.train.steps
        self.bf16 = self.cfg.train.precision == "bf16"
        self._load_data()
        self._build_networks([C.resolve(c).train for c in reserve])
        self.set_member_settings()
        self._start_progress()
        self._start_evaluation()
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.folder = RunFolder(run_dir, samples=samples, checkpoints=checkpoints) if run_dir is not None else None

    def _load_data(self) -> None:
        cpu_data = build_dataset(self.cfg.data)
        self.data_spread = data_spread(cpu_data)
        self.dataset = cpu_data.to(self.device)
        self.chunk = STREAM_CHUNK[self.dataset.kind]
        self._data_spread_column = torch.full((self.k,), self.data_spread, device=self.device)

    def _build_networks(self, later: list[C.TrainConfig]) -> None:
        """G and D with every member's initial weights, their weight average and optimizers."""
        tr = [c.train for c in self.configs]
        self.G, self.D, self.n_scales = build_member_networks(self.configs, self.dataset.shape, self.device, later)
        # Evaluation and samples read an average of G's weights where a member asks for one.
        averaged = any(t.g_ema > 0 for t in tr) or any(t.g_ema > 0 for t in later)
        self.G_avg = WeightAverage(self.G, [t.g_ema for t in tr]) if averaged else None
        betas = [t.beta1 for t in tr], [t.beta2 for t in tr]
        trained = lambda net: [p for p in net.parameters() if p.requires_grad]  # noqa: E731 - a user's frozen layers stay
        self.optG = CohortAdam(trained(self.G), [t.lr_g for t in tr], *betas)
        self.optD = CohortAdam(trained(self.D), [t.lr_d for t in tr], *betas)
        users = user_cohorts(self.G, self.D)
        self._user_buffers = any(u.buffer_names for u in users)
        # how the user's networks run as a cohort (vmap or a loop), for the run's log
        self.networks_note = "; ".join(u.describe() for u in users)
        if self.networks_note:
            log.info("user networks, cohort of %d: %s", self.k, self.networks_note)

    def set_member_settings(self) -> None:
        """Each member's hyperparameters as per-member tensors (again after a refill)."""
        self.hp = MemberSettings.of(self.configs, self.device, self.steps)
        set_gp_members(self.D, self.hp.gp_members)  # the user's D: whose third batch is real

    def _start_progress(self) -> None:
        """Step counts, random streams and each slot's status at the start of a run."""
        k, dev = self.k, self.device
        self.streams = [member_stream(c.train.seed, dev) for c in self.configs]
        self._chunk_states: list[torch.Tensor] | None = None
        self._plan: dict[str, torch.Tensor] | None = None
        self._prev_mean: torch.Tensor | None = None  # G's last batch mean, for g_drift
        self.step = 0  # G updates done by the cohort (a member's own count: step - start[i])
        self.start = [0] * k  # the cohort step at which each slot's member started
        self.start_t = torch.zeros(k, dtype=torch.long, device=dev)
        self.member_ids = list(range(k))  # which member (members/NNN) each slot holds
        self.refills = SlotRefill(self)
        self._fresh = torch.zeros(k, dtype=torch.bool, device=dev)  # first step of a refilled member
        self._opened = False
        self.alive = torch.ones(k, dtype=torch.bool, device=dev)  # still training
        self.diverged_at = torch.full((k,), -1, dtype=torch.long, device=dev)
        self.status = ["running"] * k  # running | diverged | stopped | finished
        self.ended_at: list[int | None] = [None] * k  # last step a member trained
        self.wall_time = 0.0

    def _start_evaluation(self) -> None:
        """The evaluator, g_move's reference, the evaluation logs and the trace rows."""
        k = self.k
        self.last_eval: list[dict[str, float]] = [{} for _ in range(k)]
        # every evaluation of every member, with the mode histogram (mixtures, digits)
        self.eval_log: list[list[dict[str, Any]]] = [[] for _ in range(k)]
        self.evaluator = Evaluator(self.dataset, self.cfg.inception_weights, metric=self.cfg.metric)
        self.columns = columns_for(self.evaluator.columns())
        t = self.cfg.train
        self.traces = TraceLog(self.columns, steps=self.steps, log_every=t.log_every, eval_every=t.eval_every)
        scale = self.data_spread * math.prod(self.dataset.shape) ** 0.5  # g_move's unit
        self.moves = SampleMoves(MOVE_SAMPLES[self.dataset.kind], scale)
        self._move: list[float] = [float("nan")] * k
        self._due: set[int] = set()  # the members evaluated at the current evaluation

    # ------------------------------------------------------------------ run folder and trace

    @property
    def trace(self) -> list[np.ndarray]:
        """Rows [K, len(columns)], one per logged step."""
        return self.traces.rows

    @property
    def trace_steps(self) -> list[int]:
        """The cohort step of each trace row."""
        return self.traces.steps

    def member_dir(self, i: int) -> Path:
        assert self.folder is not None
        return self.folder.member_dir(i)

    def member_trace(self, i: int) -> np.ndarray:
        """Member i's trace rows `[T, len(columns)]` (up to the step it stopped training)."""
        return self.traces.member_trace(i, self.start[i], self.ended_at[i])

    def write_traces(self) -> None:
        if self.folder is not None:
            self.traces.write(self.folder, self.start, self.ended_at, self.eval_log)

    # ------------------------------------------------------------------ one step

    def _new_chunk(self) -> None:
        """Draw the next STREAM_CHUNK steps of every member's randomness, in a fixed order."""
        self._chunk_states = [g.get_state() for g in self.streams]
        self._plan = draw_chunk(
            self.streams,
            self.dataset,
            self.hp,
            device=self.device,
            steps=self.chunk,
            batch=self.batch,
            latent=self.cfg.model.latent_dim,
        )

    def autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _mark_diverged(self, bad: torch.Tensor) -> None:
        self.diverged_at = torch.where(bad & (self.diverged_at < 0), self.step + 1, self.diverged_at)
        self.alive = self.alive & ~bad

    def _set_advance(self, members: torch.Tensor) -> None:
        """Which members' SN vectors and user-module buffers advance on the next forwards."""
        for net in (self.G, self.D):
            set_power_iteration(net, members)
            set_buffer_advance(net, members)

    def _noise(self, x: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + sigma.view(-1, *([1] * (x.dim() - 1))) * noise

    def _d_step(self, i: int, j: int, sigma: torch.Tensor):
        plan, b = self._plan, self.batch
        assert plan is not None
        active = self.alive & self.hp.dis_mask[j]
        if self.hp.nd_max > 1 and (self.hp.has_sn or self._user_buffers):
            self._set_advance(self.hp.dis_mask[j])
        real = self.dataset.take(plan["real"][:, i, j])
        with torch.no_grad(), self.autocast():
            fake = [x.float() for x in self.G(plan["z_d"][:, i, j])]
        reals = real_scales(real, self.n_scales) if self.n_scales > 1 else [real]
        if "noise_real" in plan:  # instance noise on D's full-resolution inputs (lesson 6)
            reals[-1] = self._noise(reals[-1], sigma, plan["noise_real"][:, i, j])
            fake[-1] = self._noise(fake[-1], sigma, plan["noise_fake"][:, i, j])
        inputs = [torch.cat([r, f], dim=1) for r, f in zip(reals, fake)]
        interp = None
        if "eps" in plan:
            eps = plan["eps"][:, i, j]
            interp = [
                (e * r + (1 - e) * f).requires_grad_(True)
                for r, f in zip(reals, fake)
                for e in [eps.view(*eps.shape, *([1] * (r.dim() - 2)))]
            ]
            inputs = [torch.cat([x, h], dim=1) for x, h in zip(inputs, interp)]
        with self.autocast():
            out = self.D(inputs).float()
        r, f = out[:, :b], out[:, b : 2 * b]
        loss = self.hp.loss("d", r, f, self.hp.smooth)
        if interp is not None:
            grads = torch.autograd.grad(out[:, 2 * b :].sum(), interp, create_graph=True)
            gnorm = torch.stack([g.flatten(2).pow(2).sum(2) for g in grads]).sum(0).sqrt()  # [K, B]
            penalty = ((gnorm - 1) ** 2).mean(dim=1)
            loss = loss + torch.where(self.hp.gp_weight > 0, self.hp.gp_weight * penalty, 0.0)
        ok = torch.isfinite(loss)
        self.optD.zero_grad()
        torch.where(active & ok, loss, 0.0).sum().backward()
        grad_norm = self.optD.grad_norm()
        ok = ok & torch.isfinite(grad_norm)
        self._mark_diverged(active & ~ok)
        self.optD.step(active & ok)
        return loss.detach(), r.detach().mean(1), f.detach().mean(1), grad_norm

    def _g_step(self, i: int, sigma: torch.Tensor):
        plan = self._plan
        assert plan is not None
        active = self.alive
        if self.hp.nd_max > 1 and (self.hp.has_sn or self._user_buffers):
            self._set_advance(self.hp.all_members)
        with self.autocast():
            fake = [x.float() for x in self.G(plan["z_g"][:, i])]
        out = fake[-1].detach().flatten(2)  # [K, B, D]
        spread = out.std(dim=1).mean(dim=1)
        # How far G's batch mean moved since the last step, in units of its spread: a label-free
        # signal of a generator whose mass jumps around (mode hopping).
        mean = out.mean(dim=1)
        prev = self._prev_mean if self._prev_mean is not None else mean
        prev = torch.where(self._fresh.view(-1, 1), mean, prev)  # a refilled member's first step
        self._fresh.zero_()
        drift = (mean - prev).norm(dim=1) / (spread * mean.shape[1] ** 0.5 + 1e-12)
        self._prev_mean = mean
        if "noise_g" in plan:
            fake[-1] = self._noise(fake[-1], sigma, plan["noise_g"][:, i])
        with self.autocast():
            f = self.D(fake).float()
        loss = self.hp.loss("g", f)
        ok = torch.isfinite(loss)
        self.optG.zero_grad()
        torch.autograd.backward(torch.where(active & ok, loss, 0.0).sum(), inputs=self.optG.params)
        grad_norm = self.optG.grad_norm()
        ok = ok & torch.isfinite(grad_norm)
        self._mark_diverged(active & ~ok)
        self.optG.step(active & ok)
        if self.G_avg is not None:
            self.G_avg.update(active & ok, self.step + 1 - self.start_t)
        return loss.detach(), grad_norm, spread, drift

    def train_step(self) -> torch.Tensor:
        """One G update (after `n_dis` D updates) for every member; returns the step's scalars
        `[K, len(STEP_COLUMNS)]` on the device (no host synchronisation)."""
        i = self.step % self.chunk
        if i == 0 or self._plan is None:
            self._new_chunk()
        local = (self.step - self.start_t).float()  # each member's own step (noise annealing)
        sigma = self.hp.noise_std * (1 - local / self.hp.noise_end).clamp_min(0)
        first = None
        for j in range(self.hp.nd_max):
            res = self._d_step(i, j, sigma)
            first = first or res
        d_loss, d_real, d_fake, gn_d = first
        g_loss, gn_g, spread, drift = self._g_step(i, sigma)
        step = (self.step + 1 - self.start_t).to(d_loss.dtype)  # each member's own step
        columns = [
            step,
            d_loss,
            g_loss,
            d_real,
            d_fake,
            gn_d,
            gn_g,
            self.hp.lr_d,
            self.hp.lr_g,
            sigma,
            spread,
            drift,
            self._data_spread_column,
        ]
        return torch.stack(columns, 1)

    # ------------------------------------------------------------------ evaluation

    def sample(self, n: int) -> torch.Tensor:
        """n samples per member `[K, n, ...]` from fixed latents (engine/evaluation.py)."""
        return fixed_samples(self, n)

    def _g_move(self, samples: torch.Tensor, due: list[int] | None = None) -> list[float]:
        return self.moves.measure(samples, list(range(self.k)) if due is None else due)

    def evaluate(self, due: list[int] | None = None) -> list[dict[str, float]]:
        """Metrics of every member's samples; `due` (default: all) are the members whose
        evaluation this is (their g_move reference and sample pictures advance)."""
        return evaluate(self, list(range(self.k)) if due is None else due)

    # ------------------------------------------------------------------ members

    def member_view(self, i: int) -> dict[str, Any]:
        return member_view(self, i)

    def stop_member(self, i: int) -> None:
        """Stop member i (a search pruned it): it trains no more and frees its place."""
        self.refills.stop(i)

    def refill(self, i: int, config: Config) -> None:
        """Give slot i, whose member stopped, to a new member `config` (shape-compatible). It
        starts at the next stream chunk (at most `STREAM_CHUNK` steps later; at once on a chunk
        boundary) and trains its own `train.steps`, as it would alone."""
        self.refills.request(i, config)

    def _sync_status(self) -> None:
        """Read divergence from the device (one synchronisation) into the host-side status."""
        div = self.diverged_at.tolist()
        for i, s in enumerate(div):
            if s >= 0 and self.status[i] == "running":
                self.status[i] = "diverged"
                self.ended_at[i] = s - self.start[i]

    # ------------------------------------------------------------------ checkpoint

    def checkpoint(self) -> None:
        save_checkpoint(self)

    @classmethod
    def resume(cls, run_dir: str | Path, steps: int | None = None) -> CohortTrainer:
        """Continue the run in `run_dir` from its last checkpoint (optionally to more steps).
        Nothing in the folder is rewritten until the checkpoint has loaded into the networks: an
        unusable one is a CheckpointError that names the file and the problem."""
        return resume_run(cls, run_dir, steps)

    # ------------------------------------------------------------------ the loop

    def train(
        self,
        report: ReportFn | None = None,
        on_log: Callable[[CohortTrainer], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Train to `train.steps`; returns one summary dict per member.

        `report(step, members)` is called at every evaluation with each member's latest scalars
        and metrics; it returns True/None (go on), False (stop all) or one bool per member
        (False stops that member). `on_log(trainer)` is called at every logged step (display).
        """
        if self.folder is not None and not self._opened:
            self.folder.open(self.configs, self.columns)
            if self.networks_note and self.run_dir is not None:
                (self.run_dir / "networks.txt").write_text(f"user networks, cohort of {self.k}: {self.networks_note}\n")
        self._opened = True  # train() again (after refills) continues the same folder
        started = time.perf_counter() - self.wall_time
        t = self.cfg.train
        while any(s == "running" for s in self.status) or self.refills.pending:
            if self.refills.pending and self.step % self.chunk == 0:  # refills start on a chunk boundary
                self.refills.apply()
            scalars = self.train_step()
            self.step += 1
            running = [i for i in range(self.k) if self.status[i] == "running"]
            local = np.array([self.step - self.start[i] for i in running])
            due = [i for i, d in zip(running, eval_due(local, steps=self.steps, eval_every=t.eval_every)) if d]
            if due or self.traces.logged(local).any():
                self.traces.append(self.step, scalars.float().cpu().numpy(), self.k)
                self._sync_status()
                self.wall_time = time.perf_counter() - started
                if on_log is not None:
                    on_log(self)
            if due:
                evaluation_round(self, report, due)
        self.wall_time = time.perf_counter() - started
        self._sync_status()
        self.status = ["finished" if s == "running" else s for s in self.status]
        self.write_traces()
        self.checkpoint()
        summary = self.summary()
        if self.folder is not None:
            self.folder.write_summary(summary)
            self.folder.close()  # the last pictures are on disk when train() returns
        return summary

    def summary(self) -> list[dict[str, Any]]:
        return summary(self)


def train(
    config: Config, cohort_size: int = 1, run_dir: str | Path | None = None, **kw
) -> list[dict[str, Any]]:
    """Convenience: train `cohort_size` seeds of one config (seed, seed+1, ...)."""
    return CohortTrainer(C.member_configs(config, cohort_size), run_dir).train(**kw)

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
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganstab.engine import config as C
from ganstab.engine.average import WeightAverage
from ganstab.engine.cohort_nn import (
    CohortModule,
    SpectralNorm,
    init_members,
    set_channels_last,
    set_power_iteration,
    set_spectral_norm,
)
from ganstab.engine.config import Config
from ganstab.engine.data import Dataset, Mixture, build_dataset
from ganstab.engine.losses import LOSSES, member_losses
from ganstab.engine.metrics import Evaluator, score
from ganstab.engine.networks import build_networks, real_scales
from ganstab.engine.optim import CohortAdam
from ganstab.engine.run_folder import CheckpointError, RunFolder
from ganstab.engine.trace import STEP_COLUMNS, columns_for, read_header

# Steps of random draws made at once per member (amortizes per-member generator calls; part of
# the definition of a member's stream, so it depends only on the data kind, never on K).
STREAM_CHUNK = {"points": 16, "images": 4}
_STREAM_SEED = 2**32  # stream and evaluation generators are seeded apart from initialisation
_EVAL_SEED = 2**33
_SPREAD_SEED = 12345
# Evaluation samples whose displacement between evaluations `g_move` measures (the first ones of
# the fixed evaluation latents; fewer for images, whose samples are large).
MOVE_SAMPLES = {"points": 256, "images": 64}

ReportFn = Callable[[int, list[dict[str, Any]]], "bool | list[bool] | None"]


def data_spread(dataset: Dataset) -> float:
    """The data's mean per-coordinate std (what `g_spread` is for a generator that spreads like the
    data), from 512 samples drawn with a fixed CPU generator: the same on every device, and no
    training randomness is drawn. NaN when it is not positive (a data set of one point)."""
    draws = dataset.take(dataset.draw(512, torch.Generator().manual_seed(_SPREAD_SEED)))
    spread = float(draws.flatten(1).float().std(dim=0).mean())
    return spread if spread > 0 else float("nan")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise C.ConfigError("`train.device` is 'cuda', but no CUDA device is available.")
    return torch.device(name)


def _member_tensor(values: list, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


class CohortTrainer:
    """Train K member configs (shape-compatible, see `config.check_cohort`) as one network.

    `run_dir` (optional) receives the run folder (`RunFolder`): resolved configs, traces,
    samples, checkpoint and summary; without it nothing is written (benchmarks, tests). `samples`
    ("all" or "last") and `checkpoints` say how much of it to keep (a search keeps little).

    Slot refill (`refill`): a member that stopped (pruned, diverged, finished) can hand its slot
    to a new member config, which starts from scratch there: its own initial weights, fresh Adam
    state and spectral-norm vectors, its own random streams, and its own step count, evaluations
    and trace, exactly as a solo run of it. `reserve` lists configs that may come later, so that
    the networks are built to take them (spectral-norm layers where any of them uses SN).
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
        cfg = self.cfg = self.configs[0]
        tr = [c.train for c in self.configs]
        self.k = k = len(self.configs)
        self.device = dev = pick_device(cfg.train.device)
        self.batch = cfg.train.batch_size
        self.steps = cfg.train.steps
        cpu_data = build_dataset(cfg.data)
        self.data_spread = data_spread(cpu_data)
        self.dataset = cpu_data.to(dev)
        self.chunk = STREAM_CHUNK[self.dataset.kind]
        self.bf16 = cfg.train.precision == "bf16"

        sn_d, sn_g = [t.sn_d for t in tr], [t.sn_g for t in tr]
        later = [C.resolve(c).train for c in reserve]
        self.G, self.D, self.n_scales = build_networks(
            cfg, k, self.dataset.shape, any(sn_d) or any(t.sn_d for t in later), any(sn_g) or any(t.sn_g for t in later)
        )
        init_gens = [torch.Generator().manual_seed(t.seed) for t in tr]
        init_members(self.G, init_gens)  # G first, then D, from each member's own generator
        init_members(self.D, init_gens)
        set_spectral_norm(self.G, sn_g)
        set_spectral_norm(self.D, sn_d)
        self.G.to(dev)
        self.D.to(dev)
        if dev.type == "cuda" and self.dataset.kind == "images":
            set_channels_last(self.G, True)
            set_channels_last(self.D, True)
        # Evaluation and samples read an average of G's weights where a member asks for one.
        averaged = any(t.g_ema > 0 for t in tr) or any(t.g_ema > 0 for t in later)
        self.G_avg = WeightAverage(self.G, [t.g_ema for t in tr]) if averaged else None
        self.optG = CohortAdam(
            self.G.parameters(), [t.lr_g for t in tr], [t.beta1 for t in tr], [t.beta2 for t in tr]
        )
        self.optD = CohortAdam(
            self.D.parameters(), [t.lr_d for t in tr], [t.beta1 for t in tr], [t.beta2 for t in tr]
        )

        self.loss_names = [t.loss for t in tr]
        self.loss_masks = {n: m.to(dev) for n, m in member_losses(self.loss_names).items()}
        self.smooth = _member_tensor([t.label_smoothing for t in tr], dev).view(k, 1)
        self.gp_members = [LOSSES.get(t.loss).gradient_penalty for t in tr]
        self.gp_weight = _member_tensor([t.gp_weight if g else 0.0 for t, g in zip(tr, self.gp_members)], dev)
        self.n_dis = [t.n_dis for t in tr]
        self.nd_max = max(self.n_dis)
        self.dis_mask = torch.tensor([[j < n for n in self.n_dis] for j in range(self.nd_max)], device=dev)
        self.all_members = torch.ones(k, dtype=torch.bool, device=dev)
        self.has_sn = any(sn_d) or any(sn_g)
        self.noise_members = [t.noise_std > 0 for t in tr]
        self.noise_std = _member_tensor([t.noise_std for t in tr], dev)
        self.noise_end = _member_tensor([t.noise_anneal * self.steps for t in tr], dev)
        self.lr_d = _member_tensor([t.lr_d for t in tr], dev)
        self.lr_g = _member_tensor([t.lr_g for t in tr], dev)
        self.streams = [torch.Generator(dev).manual_seed(t.seed + _STREAM_SEED) for t in tr]
        self._chunk_states: list[torch.Tensor] | None = None
        self._plan: dict[str, torch.Tensor] | None = None
        self._prev_mean: torch.Tensor | None = None  # G's last batch mean, for g_drift
        self._prev_samples: torch.Tensor | None = None  # the last evaluation's samples, for g_move
        self._data_scale = self.data_spread * math.prod(self.dataset.shape) ** 0.5  # g_move's unit
        self._data_spread_column = torch.full((k,), self.data_spread, device=dev)
        self._move: list[float] = [float("nan")] * k

        self.step = 0  # G updates done by the cohort (a member's own count: step - start[i])
        self.start = [0] * k  # the cohort step at which each slot's member started
        self.start_t = torch.zeros(k, dtype=torch.long, device=dev)
        self.member_ids = list(range(k))  # which member (members/NNN) each slot holds
        self._pending: dict[int, Config] = {}  # refills waiting for the next stream chunk
        self._fresh = torch.zeros(k, dtype=torch.bool, device=dev)  # first step of a refilled member
        self._move_fresh: set[int] = set()  # refilled members whose next g_move has no reference
        self._due: set[int] = set()  # the members evaluated at the current evaluation
        self._opened = False
        self.alive = torch.ones(k, dtype=torch.bool, device=dev)  # still training
        self.diverged_at = torch.full((k,), -1, dtype=torch.long, device=dev)
        self.status = ["running"] * k  # running | diverged | stopped | finished
        self.ended_at: list[int | None] = [None] * k  # last step a member trained
        self.last_eval: list[dict[str, float]] = [{} for _ in range(k)]
        # every evaluation of every member, with the mode histogram (mixtures, digits)
        self.eval_log: list[list[dict[str, Any]]] = [[] for _ in range(k)]
        self.evaluator = Evaluator(self.dataset, cfg.inception_weights)
        self.columns = columns_for(self.evaluator.columns())
        self._col = {c: i for i, c in enumerate(self.columns)}
        self.trace: list[np.ndarray] = []  # rows [K, len(columns)], one per logged step
        self.trace_steps: list[int] = []  # the cohort step of each row
        self._written = 0  # trace rows already written to disk
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.folder = RunFolder(run_dir, samples=samples, checkpoints=checkpoints) if run_dir is not None else None
        self.wall_time = 0.0

    # ------------------------------------------------------------------ run folder

    def member_dir(self, i: int) -> Path:
        assert self.folder is not None
        return self.folder.member_dir(i)

    # ------------------------------------------------------------------ random streams

    def _new_chunk(self) -> None:
        """Draw the next STREAM_CHUNK steps of every member's randomness, in a fixed order."""
        self._chunk_states = [g.get_state() for g in self.streams]
        n, b, dev = self.chunk, self.batch, self.device
        latent = self.cfg.model.latent_dim
        shape = self.dataset.shape
        parts: dict[str, list[torch.Tensor]] = {"real": [], "z_d": [], "z_g": []}
        any_noise, any_gp = any(self.noise_members), any(self.gp_members)
        for key in ("noise_real", "noise_fake", "noise_g") if any_noise else ():
            parts[key] = []
        if any_gp:
            parts["eps"] = []

        def pad(x: torch.Tensor) -> torch.Tensor:  # [n, nd, ...] -> [n, nd_max, ...]
            if x.shape[1] == self.nd_max:
                return x
            fill = x.new_zeros(x.shape[0], self.nd_max - x.shape[1], *x.shape[2:])
            return torch.cat([x, fill], dim=1)

        for i, g in enumerate(self.streams):
            nd = self.n_dis[i]
            draws = self.dataset.draw(n * nd * b, g)
            parts["real"].append(pad(draws.view(n, nd, b, *draws.shape[1:])))
            parts["z_d"].append(pad(torch.randn(n, nd, b, latent, generator=g, device=dev)))
            parts["z_g"].append(torch.randn(n, b, latent, generator=g, device=dev))
            if any_noise:
                if self.noise_members[i]:
                    nr = torch.randn(n, nd, b, *shape, generator=g, device=dev)
                    nf = torch.randn(n, nd, b, *shape, generator=g, device=dev)
                    ng = torch.randn(n, b, *shape, generator=g, device=dev)
                else:
                    nr = nf = torch.zeros(n, nd, b, *shape, device=dev)
                    ng = torch.zeros(n, b, *shape, device=dev)
                parts["noise_real"].append(pad(nr))
                parts["noise_fake"].append(pad(nf))
                parts["noise_g"].append(ng)
            if any_gp:
                eps = (
                    torch.rand(n, nd, b, generator=g, device=dev)
                    if self.gp_members[i]
                    else torch.zeros(n, nd, b, device=dev)
                )
                parts["eps"].append(pad(eps))
        self._plan = {key: torch.stack(v) for key, v in parts.items()}

    # ------------------------------------------------------------------ one step

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _per_member(self, fn_name: str, *args: torch.Tensor) -> torch.Tensor:
        """Each member's loss `[K]`, using its own loss function (members may differ)."""
        out = None
        for name, mask in self.loss_masks.items():
            per = getattr(LOSSES.get(name), fn_name)(*args).mean(dim=1)
            out = per if out is None else torch.where(mask, per, out)
        assert out is not None
        return out

    @staticmethod
    def _grad_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
        sq = [p.grad.flatten(1).float().pow(2).sum(1) for p in params if p.grad is not None]
        return torch.stack(sq).sum(0).sqrt()

    def _mark_diverged(self, bad: torch.Tensor) -> None:
        self.diverged_at = torch.where(bad & (self.diverged_at < 0), self.step + 1, self.diverged_at)
        self.alive = self.alive & ~bad

    def _noise(self, x: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + sigma.view(-1, *([1] * (x.dim() - 1))) * noise

    def _d_step(self, i: int, j: int, sigma: torch.Tensor):
        plan, b = self._plan, self.batch
        assert plan is not None
        active = self.alive & self.dis_mask[j]
        if self.nd_max > 1 and self.has_sn:
            set_power_iteration(self.G, self.dis_mask[j])
            set_power_iteration(self.D, self.dis_mask[j])
        real = self.dataset.take(plan["real"][:, i, j])
        with torch.no_grad(), self._autocast():
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
        with self._autocast():
            out = self.D(inputs).float()
        r, f = out[:, :b], out[:, b : 2 * b]
        loss = self._per_member("d", r, f, self.smooth)
        if interp is not None:
            grads = torch.autograd.grad(out[:, 2 * b :].sum(), interp, create_graph=True)
            gnorm = torch.stack([g.flatten(2).pow(2).sum(2) for g in grads]).sum(0).sqrt()  # [K, B]
            penalty = ((gnorm - 1) ** 2).mean(dim=1)
            loss = loss + torch.where(self.gp_weight > 0, self.gp_weight * penalty, 0.0)
        ok = torch.isfinite(loss)
        self.optD.zero_grad()
        torch.where(active & ok, loss, 0.0).sum().backward()
        grad_norm = self._grad_norm(self.optD.params)
        ok = ok & torch.isfinite(grad_norm)
        self._mark_diverged(active & ~ok)
        self.optD.step(active & ok)
        return loss.detach(), r.detach().mean(1), f.detach().mean(1), grad_norm

    def _g_step(self, i: int, sigma: torch.Tensor):
        plan = self._plan
        assert plan is not None
        active = self.alive
        if self.nd_max > 1 and self.has_sn:
            set_power_iteration(self.G, self.all_members)
            set_power_iteration(self.D, self.all_members)
        with self._autocast():
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
        with self._autocast():
            f = self.D(fake).float()
        loss = self._per_member("g", f)
        ok = torch.isfinite(loss)
        self.optG.zero_grad()
        torch.autograd.backward(torch.where(active & ok, loss, 0.0).sum(), inputs=self.optG.params)
        grad_norm = self._grad_norm(self.optG.params)
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
        sigma = self.noise_std * (1 - local / self.noise_end).clamp_min(0)
        first = None
        for j in range(self.nd_max):
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
            self.lr_d,
            self.lr_g,
            sigma,
            spread,
            drift,
            self._data_spread_column,
        ]
        return torch.stack(columns, 1)

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n samples per member `[K, n, ...]` from fixed latent draws (the same at every
        evaluation), in batches of the training batch size (BatchNorm uses batch statistics), from
        G's weight average where there is one (`train.g_ema`)."""
        gens = [torch.Generator(self.device).manual_seed(c.train.seed + _EVAL_SEED) for c in self.configs]
        latent = self.cfg.model.latent_dim
        z = torch.stack([torch.randn(n, latent, generator=g, device=self.device) for g in gens])
        G = self.G_avg.synced() if self.G_avg is not None else self.G
        G.eval()  # freezes spectral-norm power iterations: evaluation leaves training untouched
        try:
            with self._autocast():
                parts = [G(z[:, a : a + self.batch])[-1].float() for a in range(0, n, self.batch)]
        finally:
            G.train()
        return torch.cat(parts, dim=1)

    def _g_move(self, samples: torch.Tensor, due: list[int] | None = None) -> list[float]:
        """Mean distance each fixed-latent sample moved since the member's previous evaluation,
        over the data's scale (per-coordinate std x sqrt(dim), from real samples): ~0 for a still
        generator, about a mode's distance for one whose samples hop between modes. NaN at a
        member's first evaluation. Members not `due` keep their reference."""
        x = samples[:, : MOVE_SAMPLES[self.dataset.kind]].flatten(2).float()  # [K, M, dim]
        due = list(range(self.k)) if due is None else due
        prev = self._prev_samples
        if prev is None:
            self._prev_samples = x.clone()
            return [float("nan")] * self.k
        move = ((x - prev).norm(dim=2).mean(dim=1) / self._data_scale).tolist()
        index = torch.tensor(due, dtype=torch.long, device=x.device)
        self._prev_samples[index] = x[index]
        for i in self._move_fresh & set(due):
            move[i] = float("nan")
        self._move_fresh -= set(due)
        return move

    def evaluate(self, due: list[int] | None = None) -> list[dict[str, float]]:
        """Metrics of every member's samples; `due` (default: all) are the members whose
        evaluation this is (their g_move reference and sample pictures advance)."""
        due = list(range(self.k)) if due is None else due
        samples = self.sample(self.cfg.data.n_eval)
        self._move = self._g_move(samples, due)
        results = self.evaluator(samples)
        for res in results:
            res["score"] = score(self.evaluator.family, res, self.evaluator.n_modes)
            if "hist" not in res and self.evaluator.family in ("mixture", "digits"):
                res["hist"] = res["near"] = None  # a member whose samples were not finite
        if self.folder is not None:
            centres = self.dataset.centres if isinstance(self.dataset, Mixture) else None
            points = self.dataset.kind == "points"
            reference = self.evaluator.real(1000) if centres is None and points else None
            running = [i for i in due if self.status[i] == "running"]
            self.folder.save_samples(self.step, samples, running, self.dataset.kind, centres, reference)
        return results

    # ------------------------------------------------------------------ bookkeeping

    def _sync_status(self) -> None:
        """Read divergence from the device (one synchronisation) into the host-side status."""
        div = self.diverged_at.tolist()
        for i, s in enumerate(div):
            if s >= 0 and self.status[i] == "running":
                self.status[i] = "diverged"
                self.ended_at[i] = s - self.start[i]

    def _logged(self, local: np.ndarray) -> np.ndarray:
        """Which of a member's own steps its trace logs: every `log_every`, and its evaluations."""
        t = self.cfg.train
        due = (local % t.log_every == 0) | (local == self.steps)
        if t.eval_every > 0:
            due |= local % t.eval_every == 0
        return due & (local >= 1) & (local <= self.steps)

    def _member_rows(self, i: int, first: int = 0) -> list[np.ndarray]:
        """Slot i's current member's rows among trace rows `first`.. (its own steps, as logged)."""
        start, end = self.start[i], self.ended_at[i]
        rows = [t[i] for t, g in zip(self.trace[first:], self.trace_steps[first:]) if g > start]
        if not rows:
            return []
        local = np.array([r[0] for r in rows])
        keep = self._logged(local) & (local <= end if end is not None else True)
        return [r for r, k in zip(rows, keep) if k]

    def member_trace(self, i: int) -> np.ndarray:
        """Member i's trace rows `[T, len(columns)]` (up to the step it stopped training)."""
        rows = self._member_rows(i)
        return np.stack(rows) if rows else np.zeros((0, len(self.columns)))

    def _write_traces(self) -> None:
        if self.folder is None:
            return
        for i in range(self.k):
            self.folder.write_evals(i, self.eval_log[i])
            rows = [dict(zip(self.columns, r.tolist())) for r in self._member_rows(i, self._written)]
            self.folder.write_rows(i, rows)
        self._written = len(self.trace)

    def member_view(self, i: int) -> dict[str, Any]:
        row = self.trace[-1][i] if self.trace else None
        view: dict[str, Any] = {
            "member": i,
            "status": self.status[i],
            "step": self.step - self.start[i],  # the member's own steps
            "evaluated": i in self._due,  # whether this evaluation is the member's
        }
        if row is not None:
            view.update({c: float(row[self._col[c]]) for c in STEP_COLUMNS[1:]})
        view.update({f"eval_{k}": v for k, v in self.last_eval[i].items()})
        if self.status[i] == "diverged":
            view["diverged_at"] = self.ended_at[i]
        return view

    def stop_member(self, i: int) -> None:
        """Stop member i (a search pruned it): it trains no more and frees its place."""
        if self.status[i] == "running":
            self.alive[i] = False
            self.status[i] = "stopped"
            self.ended_at[i] = self.step - self.start[i]

    # ------------------------------------------------------------------ slot refill

    def refill(self, i: int, config: Config) -> None:
        """Give slot i, whose member stopped, to a new member `config` (shape-compatible). It
        starts at the next stream chunk (at most `STREAM_CHUNK` steps later; at once on a chunk
        boundary) and trains its own `train.steps`, as it would alone."""
        if self.status[i] == "running" or i in self._pending:
            raise ValueError(f"slot {i} still holds a running member; stop it before refilling it.")
        if self.folder is not None and self.folder.checkpoints:
            raise ValueError("a cohort that refills slots keeps no checkpoint (RunFolder(checkpoints=False)).")
        cfg = C.resolve(config)
        C.check_cohort([self.cfg, cfg])
        has = {"sn_d": _has_sn(self.D), "sn_g": _has_sn(self.G), "g_ema": self.G_avg is not None}
        for key, present in has.items():
            if getattr(cfg.train, key) and not present:
                what = "G's weight average" if key == "g_ema" else "spectral norm there"
                raise ValueError(
                    f"slot {i}: the new member uses `train.{key}`, but the cohort was built without "
                    f"{what}; list such configs in `reserve` when making the cohort."
                )
        self._pending[i] = cfg
        self.status[i] = "pending"

    def _apply_refills(self) -> None:
        for i, cfg in sorted(self._pending.items()):
            self._install(i, cfg)
        self._pending.clear()
        tr = [c.train for c in self.configs]
        self.loss_names = [t.loss for t in tr]
        self.loss_masks = {n: m.to(self.device) for n, m in member_losses(self.loss_names).items()}
        self.n_dis = [t.n_dis for t in tr]
        self.nd_max = max(self.n_dis)
        self.dis_mask = torch.tensor(
            [[j < n for n in self.n_dis] for j in range(self.nd_max)], device=self.device
        )
        self.has_sn = any(t.sn_d or t.sn_g for t in tr)

    @torch.no_grad()
    def _install(self, i: int, cfg: Config) -> None:
        """Slot i starts member `cfg` from scratch (see `refill`)."""
        t, dev = cfg.train, self.device
        self.configs[i] = cfg
        gen = torch.Generator().manual_seed(t.seed)  # G's layers, then D's, as at construction
        for net in (self.G, self.D):
            for layer in (m for m in net.modules() if isinstance(m, CohortModule)):
                layer.init_member(i, gen)
        for net, on in ((self.G, t.sn_g), (self.D, t.sn_d)):
            for m in net.modules():
                if isinstance(m, SpectralNorm):
                    m.enabled[i] = on
        for opt, lr in ((self.optG, t.lr_g), (self.optD, t.lr_d)):
            opt.reset_member(i, lr, t.beta1, t.beta2)
        if self.G_avg is not None:
            self.G_avg.reset_member(i, t.g_ema)
        self.smooth[i] = t.label_smoothing
        self.gp_members[i] = LOSSES.get(t.loss).gradient_penalty
        self.gp_weight[i] = t.gp_weight if self.gp_members[i] else 0.0
        self.noise_members[i] = t.noise_std > 0
        self.noise_std[i] = t.noise_std
        self.noise_end[i] = t.noise_anneal * self.steps
        self.lr_d[i], self.lr_g[i] = t.lr_d, t.lr_g
        self.streams[i] = torch.Generator(dev).manual_seed(t.seed + _STREAM_SEED)
        self.start[i] = self.step
        self.start_t[i] = self.step
        self.alive[i] = True
        self.diverged_at[i] = -1
        self.status[i] = "running"
        self.ended_at[i] = None
        self.last_eval[i] = {}
        self.eval_log[i] = []
        self._fresh[i] = True
        self._move_fresh.add(i)
        if self.folder is not None:
            self.member_ids[i] = self.folder.add_member(i, cfg, self.columns)

    # ------------------------------------------------------------------ checkpoint

    def checkpoint(self) -> None:
        if self.folder is None or not self.folder.checkpoints:
            return
        states = [g.get_state() for g in self.streams] if self.step % self.chunk == 0 else self._chunk_states
        state = {
            "step": self.step,
            "G": self.G.state_dict(),
            "G_avg": self.G_avg.state_dict() if self.G_avg is not None else None,
            "D": self.D.state_dict(),
            "optG": self.optG.state_dict(),
            "optD": self.optD.state_dict(),
            "alive": self.alive,
            "diverged_at": self.diverged_at,
            "status": self.status,
            "ended_at": self.ended_at,
            "last_eval": self.last_eval,
            "eval_log": self.eval_log,
            "stream_states": states,
            "prev_mean": self._prev_mean,
            "prev_samples": self._prev_samples,
            "wall_time": self.wall_time,
        }
        self.folder.save_checkpoint(state)  # atomic: a kill never leaves half a file

    @classmethod
    def resume(cls, run_dir: str | Path, steps: int | None = None) -> CohortTrainer:
        """Continue the run in `run_dir` from its last checkpoint (optionally to more steps).
        Nothing in the folder is rewritten until the checkpoint has loaded into the networks: an
        unusable one is a CheckpointError that names the file and the problem."""
        folder = RunFolder(run_dir)
        if not folder.has_checkpoint():
            raise CheckpointError(f"Cannot resume {str(folder.root)!r}: it holds no checkpoint.pt.")
        if steps is not None and steps < 1:
            raise C.ConfigError(f"`train.steps` must be >= 1, but got {steps}.")
        configs = folder.member_configs()
        if not configs:
            raise CheckpointError(f"Cannot resume {str(folder.root)!r}: it has no members/NNN/config.yaml.")
        for c in configs:
            c.train.steps = steps if steps is not None else c.train.steps
        state = folder.load_checkpoint(pick_device(C.resolve(configs[0]).train.device))
        self = cls(configs, run_dir)
        try:
            self.G.load_state_dict(state["G"])
            if self.G_avg is not None and state.get("G_avg") is not None:
                self.G_avg.load_state_dict(state["G_avg"])
            elif self.G_avg is not None:  # a checkpoint from before the average: start it here
                self.G_avg.restart()
            self.D.load_state_dict(state["D"])
            self.optG.load_state_dict(state["optG"])
            self.optD.load_state_dict(state["optD"])
        except (RuntimeError, KeyError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(
                f"Cannot resume from {str(folder.root / 'checkpoint.pt')!r}: its networks do not fit the "
                f"configs in {str(folder.root / 'members')!r} (edited to another shape?): {first[:200]}"
            ) from e
        self.step = state["step"]
        self.alive = state["alive"].to(self.device)
        self.diverged_at = state["diverged_at"].to(self.device)
        self.status, self.ended_at = state["status"], state["ended_at"]
        self.last_eval = state["last_eval"]
        self.eval_log = state["eval_log"]
        self.wall_time = state["wall_time"]
        for g, s in zip(self.streams, state["stream_states"]):
            g.set_state(s)
        self._plan = None  # regenerated from the chunk's start state on the next step
        self._prev_mean = state["prev_mean"]
        self._prev_samples = state.get("prev_samples")  # absent in checkpoints older than g_move
        for i in range(self.k):
            header = read_header(self.member_dir(i) / "trace.csv")
            if header is not None and header != self.columns:
                missing = [c for c in self.columns if c not in header]
                extra = [c for c in header if c not in self.columns]
                raise C.ConfigError(
                    f"Cannot resume {str(run_dir)!r}: it was started by another ganstab version, whose "
                    f"traces lack {missing} and have {extra} (columns of this version); start a new run."
                )
        self.folder.reopen(self.k, self.columns, self.step)  # rows after the checkpoint are dropped
        if self.step >= self.steps:
            self.status = ["finished" if s == "running" else s for s in self.status]
        else:  # more steps: finished members train on
            self.ended_at = [None if s == "finished" else e for s, e in zip(self.status, self.ended_at)]
            self.status = ["running" if s == "finished" else s for s in self.status]
            self.alive = torch.tensor([s == "running" for s in self.status], device=self.device)
        self._opened = True  # the folder exists: train() continues it
        return self

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
        self._opened = True  # train() again (after refills) continues the same folder
        started = time.perf_counter() - self.wall_time
        while any(s == "running" for s in self.status) or self._pending:
            if self._pending and self.step % self.chunk == 0:  # refills start on a chunk boundary
                self._apply_refills()
            scalars = self.train_step()
            self.step += 1
            running = [i for i in range(self.k) if self.status[i] == "running"]
            local = np.array([self.step - self.start[i] for i in running])
            due = [i for i, d in zip(running, self._eval_due(local)) if d]
            if due or self._logged(local).any():
                row = np.full((self.k, len(self.columns)), np.nan)
                row[:, : len(STEP_COLUMNS)] = scalars.float().cpu().numpy()
                self.trace.append(row)
                self.trace_steps.append(self.step)
                self._sync_status()
                self.wall_time = time.perf_counter() - started
                if on_log is not None:
                    on_log(self)
            if due:
                self._evaluation(report, due)
        self.wall_time = time.perf_counter() - started
        self._sync_status()
        self.status = ["finished" if s == "running" else s for s in self.status]
        self._write_traces()
        self.checkpoint()
        summary = self.summary()
        if self.folder is not None:
            self.folder.write_summary(summary)
            self.folder.close()  # the last pictures are on disk when train() returns
        return summary

    def _eval_due(self, local: np.ndarray) -> np.ndarray:
        """Which members (by their own steps) evaluate now: every `eval_every`, and at their end."""
        t = self.cfg.train
        due = local >= self.steps
        if t.eval_every > 0:
            due |= local % t.eval_every == 0
        return due

    def _evaluation(self, report: ReportFn | None, due: list[int]) -> None:
        self._due = set(due)
        results = self.evaluate(due)
        row = self.trace[-1]
        for i in due:
            res = results[i]
            if self.status[i] == "running":
                hists = {h: res.pop(h) for h in ("hist", "near") if h in res}
                self.last_eval[i] = res
                self.eval_log[i].append({"step": self.step - self.start[i], **res, **hists})
                for name, value in res.items():
                    if f"eval_{name}" in self._col:  # not every result is a trace column ("graded")
                        row[i, self._col[f"eval_{name}"]] = value
                row[i, self._col["g_move"]] = self._move[i]
        if report is not None:
            decision = report(self.step, [self.member_view(i) for i in range(self.k)])
            if decision is False:
                decision = [False] * self.k
            if isinstance(decision, list):
                if len(decision) != self.k:
                    raise ValueError(
                        f"report must return one bool per member ({self.k}), but got {len(decision)}."
                    )
                for i, keep in enumerate(decision):
                    if not keep:
                        self.stop_member(i)
        for i in due:  # a member that reached its own last step has finished
            if self.status[i] == "running" and self.step - self.start[i] >= self.steps:
                self.status[i] = "finished"
                self.alive[i] = False
                self.ended_at[i] = self.steps
        self._write_traces()
        self.checkpoint()

    def summary(self) -> list[dict[str, Any]]:
        out = []
        for i, c in enumerate(self.configs):
            item = self.member_view(i)
            item.update(
                seed=c.train.seed,
                loss=c.train.loss,
                lr_d=c.train.lr_d,
                lr_g=c.train.lr_g,
                steps_trained=self.ended_at[i] if self.ended_at[i] is not None else self.step - self.start[i],
                wall_time_s=round(self.wall_time, 3),
            )
            if self.run_dir is not None:
                item["run_dir"] = str(self.member_dir(i))
            out.append(item)
        return out


def train(
    config: Config, cohort_size: int = 1, run_dir: str | Path | None = None, **kw
) -> list[dict[str, Any]]:
    """Convenience: train `cohort_size` seeds of one config (seed, seed+1, ...)."""
    return CohortTrainer(C.member_configs(config, cohort_size), run_dir).train(**kw)


def _has_sn(net: torch.nn.Module) -> bool:
    return any(isinstance(m, SpectralNorm) for m in net.modules())

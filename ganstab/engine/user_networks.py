"""A cohort of the user's own G or D: K copies of one nn.Module trained as one network.

`UserCohort` keeps every parameter and buffer of the user's module stacked as one `[K, ...]`
tensor (its own parameters and buffers, in the module's order), exactly as ganstab's cohort layers
do, so Adam with per-member settings (optim.py), G's weight average (average.py), checkpoints
and slot refills work unchanged. A forward calls the user's module once per member with that
member's slices through `torch.func.functional_call`:

- *batched*: `torch.func.vmap` over the member dimension, one computation for the K members;
- *loop*: a Python loop over the members in this process, the fallback where vmap cannot run
  the module (data-dependent control flow, randomness such as dropout, an op without a batching
  rule) or gives other numbers than the loop. `mode="auto"` tries vmap on a small batch
  (forward, backward, and D's input gradient with create_graph as WGAN-GP needs) and compares
  it with the loop; `mode` and `why` say what was chosen and why.

BatchNorm's running statistics are stacked buffers like any other and are updated in place
by both paths (under vmap the batched buffer is the member's slice). A member that idles in
another member's extra `n_dis` step keeps its buffers (`advance`, as the spectral-norm vectors).

Spectral normalization (`train.sn_g` / `train.sn_d`) wraps the weight of every Linear, Conv and
ConvTranspose of the user's module, per member, with ganstab's `SpectralNorm` (one power iteration
per training forward, torch's orientation); a member with SN off gets its weight unchanged.

Each member's initial weights come from a fresh instance of the user's class made under the
global seed drawn from that member's own generator (`init_member`), so they depend only on the
member's seed: a member of a cohort starts as its solo run does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from ganstab.engine import user_code as U
from ganstab.engine.config import Config
from ganstab.engine.data import build_dataset
from ganstab.engine.member_layers import CohortModule, SpectralNorm

MODES = ("auto", "vmap", "loop")
SN_LAYERS = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
PROBE_BATCH = 4


def _key(name: str) -> str:
    """A parameter's dotted name as a registrable one (`net.0.weight` -> `net__0__weight`)."""
    return name.replace(".", "__")


@dataclass(frozen=True)
class _SNTarget:
    name: str  # the weight's name in the user's module
    rows: int  # rows of the matrix SN normalizes (output features / channels)
    transposed: bool  # ConvTranspose: torch normalizes along dim 1 (out channels)

    def matrix(self, w: torch.Tensor) -> torch.Tensor:
        """`[K, *weight]` -> `[K, rows, cols]`."""
        if self.transposed:
            w = w.transpose(1, 2)
        return w.reshape(w.shape[0], self.rows, -1)


class _Holder(nn.Module):
    """A plain container for the stacked tensors (their names are the user's, dots replaced)."""


class UserCohort(CohortModule):
    """K members of the user's module made by `build()`; see the module doc.

    `role` "G": forward(z `[K, B, latent]`) -> `[x [K, B, *shape]]` (ganstab's `Scales`), the
    noise laid out as `latent_shape` per sample; "D": forward(scales) -> scores `[K, B]`.
    `sn`: whether any member (or a later refill) uses spectral norm (the layers then carry it).
    `chunk` (D): the training batch size; D's input (real, fake and WGAN-GP's interpolates, one
    after another) runs as separate batches of it, as PyTorch's DCGAN example calls its D.
    """

    def __init__(
        self,
        build: Callable[[], nn.Module],
        k: int,
        *,
        role: str,
        sn: bool = False,
        latent_shape: tuple[int, ...] = (),
        sample_shape: tuple[int, ...] = (),
        chunk: int = 0,
        mode: str = "auto",
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, but got {mode!r}.")
        self.build, self.k, self.role = build, k, role
        self.latent_shape, self.sample_shape = tuple(latent_shape), tuple(sample_shape)
        self.chunk = chunk  # D: the training batch size; its input is split into batches of it
        base = build()
        self._base = [base]  # in a list: its own parameters must not count as the cohort's
        self.param_names = [n for n, _ in base.named_parameters()]
        self.buffer_names = [n for n, _ in base.named_buffers()]
        self.params = _Holder()
        for n, p in base.named_parameters():
            self.params.register_parameter(
                _key(n), nn.Parameter(p.detach().unsqueeze(0).repeat(k, *[1] * p.dim()), p.requires_grad)
            )  # a parameter the user froze stays frozen (no gradient, so Adam leaves it)
        self.state = _Holder()
        for n, b in base.named_buffers():
            self.state.register_buffer(_key(n), b.detach().unsqueeze(0).repeat(k, *[1] * b.dim()).clone())
        self.register_buffer("advance", torch.ones(k, dtype=torch.bool))
        # D: members whose D step has a third batch (WGAN-GP's interpolates); for the others that
        # batch is filler, and their buffers must not see it
        self.register_buffer("gp_members", torch.ones(k, dtype=torch.bool))
        self.sn_targets = [
            _SNTarget(
                f"{m_name}.weight" if m_name else "weight",
                self._rows(m),
                isinstance(m, nn.modules.conv._ConvTransposeNd),
            )
            for m_name, m in base.named_modules()
            if isinstance(m, SN_LAYERS) and isinstance(getattr(m, "weight", None), nn.Parameter)
        ]
        self.sn = (
            nn.ModuleDict({_key(t.name): SpectralNorm(k, t.rows) for t in self.sn_targets}) if sn else None
        )
        self.mode, self.why = mode, "asked for" if mode != "auto" else ""
        # The loop's randomness (dropout): each member draws from its own generator, seeded with
        # the member (init_member), as in its solo run, and the global generator is left alone.
        # vmap refuses randomness (randomness="error"), so it needs none.
        self._rng_seeds = [0] * k
        self._rng_states: list[tuple[str, torch.Tensor] | None] = [None] * k  # (device type, state)

    @staticmethod
    def _rows(m: nn.Module) -> int:
        w = m.weight
        return w.shape[1] if isinstance(m, nn.modules.conv._ConvTransposeNd) else w.shape[0]

    @property
    def base(self) -> nn.Module:
        return self._base[0]

    def _apply(self, fn, recurse=True):  # .to(device) moves the template module too
        self._base[0] = self.base._apply(fn)
        return super()._apply(fn, recurse)

    def train(self, mode: bool = True) -> UserCohort:
        super().train(mode)
        self.base.train(mode)
        return self

    # ------------------------------------------------------------------ initialisation

    @torch.no_grad()
    def init_member(self, member: int, gen: torch.Generator) -> None:
        """Member `member` starts as a fresh instance of the user's class made under a global seed
        drawn from `gen` (the member's own generator), then its SN vectors from `gen`."""
        seed = int(torch.randint(0, 2**62, (1,), generator=gen))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self.build()
        self._rng_seeds[member], self._rng_states[member] = seed + 1, None  # its own draws start fresh
        for n, p in net.named_parameters():
            getattr(self.params, _key(n))[member].copy_(p)
        for n, b in net.named_buffers():
            getattr(self.state, _key(n))[member].copy_(b)
        for t in self.sn_targets:
            SpectralNorm.init(self.sn[_key(t.name)] if self.sn is not None else None, t.rows, member, gen)

    # ------------------------------------------------------------------ forward

    def _weights(self) -> dict[str, torch.Tensor]:
        params = {n: getattr(self.params, _key(n)) for n in self.param_names}
        if self.sn is not None:
            for t in self.sn_targets:
                w = params[t.name]
                scale = self.sn[_key(t.name)].scale(t.matrix(w)).to(w.dtype)
                params[t.name] = w * scale.view(-1, *[1] * (w.dim() - 1))
        return params

    def _stacked_buffers(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self.state, _key(n)) for n in self.buffer_names}

    def _call(
        self,
        x: torch.Tensor,
        mode: str,
        buffers: dict[str, torch.Tensor] | None = None,
        params: dict[str, torch.Tensor] | None = None,
        advance: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The user's module on each member's slice of `x` `[K, B, ...]`: `[K, B, ...]` out. On
        the loop, members that do not `advance` on this forward keep their generator's state."""
        params = self._weights() if params is None else params
        buffers = self._stacked_buffers() if buffers is None else buffers
        base = self.base
        if mode == "vmap":

            def one(p, b, xi):
                return functional_call(base, (p, b), (xi,), strict=True)

            return vmap(one, randomness="error")(params, buffers, x)
        outs = []
        moves = [True] * x.shape[0] if advance is None else advance.tolist()
        for i in range(x.shape[0]):
            p = {n: v[i] for n, v in params.items()}
            b = {n: v[i] for n, v in buffers.items()}
            with self._own_randomness(i, x.device, keep=moves[i]):
                outs.append(functional_call(base, (p, b), (x[i],), strict=True))
        return torch.stack(outs)

    @contextlib.contextmanager
    def _own_randomness(self, i: int, device: torch.device, keep: bool = True) -> Iterator[None]:
        """Member i's module call draws its random numbers from the member's own generator state
        (the global generator is restored after), which then moves on if `keep` (a member that does
        not advance on this forward, as its solo run would not make it, draws nothing). Other
        devices than CPU and CUDA: the global generator."""
        if device.type not in ("cpu", "cuda"):
            yield
            return
        cuda = device.type == "cuda"
        with torch.random.fork_rng(devices=[device] if cuda else []):
            kept = self._rng_states[i]
            state = kept[1] if kept is not None and kept[0] == device.type else None
            if state is None:  # first call, or resumed on another kind of device
                state = torch.Generator(device=device).manual_seed(self._rng_seeds[i]).get_state()
            torch.cuda.set_rng_state(state, device) if cuda else torch.set_rng_state(state)
            yield
            if keep:
                self._rng_states[i] = (device.type, torch.cuda.get_rng_state(device) if cuda else torch.get_rng_state())

    def rng_states(self) -> dict[str, Any]:
        """The members' own generator states (the loop's randomness), for a checkpoint."""
        return {"seeds": list(self._rng_seeds), "states": list(self._rng_states)}

    def load_rng_states(self, saved: dict[str, Any] | None) -> None:
        """Restore `rng_states()`; None (a checkpoint from before they were kept): leave them."""
        if saved is not None:
            self._rng_seeds, self._rng_states = list(saved["seeds"]), list(saved["states"])

    def _guarded(
        self, x: torch.Tensor, mode: str, params: dict[str, torch.Tensor], advance: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`_call`, keeping the buffers of members that do not advance on this forward: the
        module updates copies, and only the advancing members' rows are copied back. The copies,
        not the buffers, are what autograd saves (BatchNorm keeps its running statistics for its
        backward), so a later forward of the same step may update the buffers in place."""
        advance = self.advance if advance is None else advance
        if not (self.training and self.buffer_names):
            return self._call(x, mode, params=params, advance=advance if self.training else None)
        work = {n: b.clone() for n, b in self._stacked_buffers().items()}
        out = self._call(x, mode, work, params, advance)
        with torch.no_grad():
            for n, b in self._stacked_buffers().items():
                keep = advance.view(-1, *[1] * (b.dim() - 1))
                b.copy_(torch.where(keep, work[n], b))
        return out

    def forward(self, x):
        mode = self.mode if self.mode != "auto" else "loop"
        params = self._weights()  # one spectral-norm power iteration per forward, as ganstab's layers
        if self.role == "G":
            k, b = x.shape[:2]
            return [self._guarded(x.reshape(k, b, *self.latent_shape), mode, params)]
        h = x[-1]
        k = h.shape[0]
        # real, fake and WGAN-GP's interpolates arrive as one batch: D sees each on its own, so
        # BatchNorm in D normalizes each alone and a member's D never depends on another's loss
        parts = h.split(self.chunk, dim=1) if self.chunk else (h,)
        outs = []
        for i, p in enumerate(parts):
            advance = self.advance & self.gp_members if i >= 2 else self.advance
            outs.append(self._guarded(p, mode, params, advance).reshape(k, p.shape[1]))
        return torch.cat(outs, dim=1)

    # ------------------------------------------------------------------ choosing the path

    def choose_mode(self) -> str:
        """Under mode "auto": vmap where it runs the module and agrees with the loop, else the loop.
        The probe leaves every parameter, buffer and gradient as it was."""
        if self.mode != "auto":
            return self.mode
        dev = next(iter(self.parameters()), torch.empty(0)).device
        gen = torch.Generator(device="cpu").manual_seed(0)
        shape = self.latent_shape if self.role == "G" else self.sample_shape
        x = torch.randn(self.k, PROBE_BATCH, *shape, generator=gen).to(dev)
        saved = {n: b.clone() for n, b in self.named_buffers()}
        draws = self.rng_states()  # the probe's dropout masks are no member's
        try:
            outs = {m: self._probe(x, m) for m in ("loop", "vmap")}
            same = all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(outs["loop"], outs["vmap"]))
            self.mode, self.why = (
                ("vmap", "vmap runs it") if same else ("loop", "vmap gave other numbers than the loop")
            )
        except Exception as e:  # any failure under vmap: the loop is the fallback
            text = " ".join(str(e).split())[:160]
            self.mode, self.why = "loop", f"vmap failed: {type(e).__name__}: {text}"
        finally:
            with torch.no_grad():
                for n, b in self.named_buffers():
                    b.copy_(saved[n])
            for p in self.parameters():
                p.grad = None
            self.load_rng_states(draws)
        return self.mode

    def _probe(self, x: torch.Tensor, mode: str) -> list[torch.Tensor]:
        """Output, parameter gradients and (D) the input gradient's gradients, from fixed buffers."""
        saved = {n: b.clone() for n, b in self.named_buffers()}
        try:
            x = x.clone().requires_grad_(self.role == "D")
            out = self._call(x, mode)
            params = list(self.parameters())
            if self.role == "D":
                (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
                loss = out.square().mean() + gx.square().sum()
            else:
                loss = out.square().mean()
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            return [out.detach()] + [g for g in grads if g is not None]
        finally:
            with torch.no_grad():
                for n, b in self.named_buffers():
                    b.copy_(saved[n])

    def describe(self) -> str:
        what = "batched (torch.func.vmap)" if self.mode == "vmap" else "per-member loop"
        return f"{self.role}: {what} ({self.why})"


def set_buffer_advance(module: nn.Module, advance: torch.Tensor) -> None:
    """Say which members' user-module buffers (BatchNorm statistics) advance on the next forwards."""
    for m in module.modules():
        if isinstance(m, UserCohort):
            m.advance.copy_(advance)


def set_gp_members(module: nn.Module, members: list[bool]) -> None:
    """Say which members' D steps carry WGAN-GP's interpolates (a third batch)."""
    for m in module.modules():
        if isinstance(m, UserCohort):
            m.gp_members.copy_(torch.tensor(members, dtype=torch.bool))


def user_cohorts(*nets: nn.Module) -> list[UserCohort]:
    return [m for net in nets for m in net.modules() if isinstance(m, UserCohort)]


def check_user_code(cfg: Config) -> None:
    """Every user-code check of a *resolved* config, before training: the names import, the data
    set builds, G's output fits the data and D gives one score per sample."""
    if cfg.data.name != "factory" and cfg.model.generator is None and cfg.model.discriminator is None:
        return
    shape = tuple(build_dataset(cfg.data).shape)
    U.check_builtin_networks(cfg, shape)
    build_g = U.network_builder(cfg, "generator")
    build_d = U.network_builder(cfg, "discriminator")
    if build_g is not None:
        U.latent_shape(build_g, cfg.model.latent_dim, shape, str(cfg.model.generator))
    if build_d is not None:
        U.check_discriminator(build_d, shape, str(cfg.model.discriminator))

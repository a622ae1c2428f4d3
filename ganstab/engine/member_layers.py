"""Layers for a *cohort*: K independent networks of one shape, stacked along a member dimension.

Every parameter has the member index first (`[K, ...]`), so per-member optimizer settings broadcast
and member k's slice evolves exactly as a solo network would. Linear layers are batched matmuls;
convolutions are grouped convolutions with one group per member on a `[B, K*C, H, W]` layout.
Spectral normalization (one power iteration per training forward, as `torch.nn.utils.spectral_norm`)
is computed per member and switched on per member, so members may differ in it.

Parameters are initialised per member from that member's own `torch.Generator`, in construction
order, so a member's initial weights do not depend on K or on the other members.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def set_channels_last(module: nn.Module, on: bool) -> None:
    """Run every cohort convolution in `module` on NHWC tensors. The parameters keep their
    `[K, ...]` layout (rank 5, which `Module.to(memory_format=...)` refuses); each forward lays
    out the flattened rank-4 weight and its input as NHWC instead."""
    for m in module.modules():
        if isinstance(m, (CohortConv2d, CohortConvTranspose2d)):
            m.channels_last = on


def _normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


class SpectralNorm(nn.Module):
    """Per-member spectral norm of a stack of matrices `[K, rows, cols]`.

    Keeps the left singular vector estimate `u` (`[K, rows]`) and the `[K]` switch `enabled` as
    buffers (see `set_spectral_norm`); a member with SN off gets its weight unchanged.
    """

    def __init__(self, k: int, rows: int) -> None:
        super().__init__()
        self.register_buffer("u", torch.zeros(k, rows))
        self.register_buffer("enabled", torch.zeros(k, dtype=torch.bool))
        # Which members advance `u` on a training forward: only those whose update this forward
        # serves, so a member idle in another member's extra n_dis step keeps its solo state.
        self.register_buffer("advance", torch.ones(k, dtype=torch.bool))

    @staticmethod
    def init(sn: SpectralNorm | None, rows: int, member: int, gen: torch.Generator) -> None:
        # Draw u even where the layer has no SN, so the generator's stream (and every later
        # parameter) is the same whether or not other cohort members use SN.
        u = _normalize(torch.randn(rows, generator=gen))
        if sn is not None:
            sn.u[member] = u

    def sigma(self, mat: torch.Tensor) -> torch.Tensor:
        """Largest singular value per member `[K]`, differentiable in `mat`."""
        mat = mat.float()
        if self.training:
            with torch.no_grad():
                v = _normalize(torch.bmm(self.u.unsqueeze(1), mat).squeeze(1))  # [K, cols]
                u = _normalize(torch.bmm(mat, v.unsqueeze(2)).squeeze(2))
                self.u.copy_(torch.where(self.advance.unsqueeze(1), u, self.u))
        else:
            with torch.no_grad():
                v = _normalize(torch.bmm(self.u.unsqueeze(1), mat).squeeze(1))
        return torch.einsum("kr,krc,kc->k", self.u, mat, v)

    def scale(self, mat: torch.Tensor) -> torch.Tensor:
        """1/sigma for members with SN on, 1 for the others: `[K]`."""
        one = torch.ones((), device=mat.device)
        return torch.where(self.enabled, 1.0 / self.sigma(mat), one)


class CohortModule(nn.Module):
    """Base of cohort layers: `init_member` draws member k's parameters from its generator."""

    def init_member(self, member: int, gen: torch.Generator) -> None:
        raise NotImplementedError


def _uniform_(t: torch.Tensor, bound: float, gen: torch.Generator) -> None:
    t.copy_((torch.rand(t.shape, generator=gen) * 2 - 1) * bound)


class CohortLinear(CohortModule):
    """y[k] = x[k] @ W[k] + b[k] for x of shape `[K, B, fin]`."""

    def __init__(self, k: int, fin: int, fout: int, sn: bool = False, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, fin, fout))
        # No bias before BatchNorm: BN cancels it, its true gradient is 0, and Adam would turn
        # the rounding noise in that gradient into a random walk.
        self.bias = nn.Parameter(torch.empty(k, 1, fout)) if bias else None
        # SN on W^T (fout x fin), the orientation torch uses for nn.Linear.
        self.rows = fout
        self.sn = SpectralNorm(k, fout) if sn else None

    def init_member(self, member: int, gen: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1])  # nn.Linear's default initialisation
        with torch.no_grad():
            _uniform_(self.weight[member], bound, gen)
            if self.bias is not None:
                _uniform_(self.bias[member], bound, gen)
        SpectralNorm.init(self.sn, self.rows, member, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if self.sn is not None:
            w = w * self.sn.scale(w.transpose(1, 2)).to(w.dtype).view(-1, 1, 1)
        return torch.baddbmm(self.bias, x, w) if self.bias is not None else torch.bmm(x, w)


class CohortConv2d(CohortModule):
    """Grouped conv, one group per member, on `[B, K*cin, H, W]`."""

    channels_last = False  # NHWC activations and weights (cuDNN's fast grouped conv on GPUs)

    def __init__(self, k, cin, cout, kernel, stride=1, padding=0, sn=False) -> None:
        super().__init__()
        self.k, self.stride, self.padding = k, stride, padding
        self.weight = nn.Parameter(torch.empty(k, cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.empty(k, cout))
        self.rows = cout
        self.sn = SpectralNorm(k, cout) if sn else None

    def init_member(self, member: int, gen: torch.Generator) -> None:
        fan_in = self.weight[0, 0].numel()
        with torch.no_grad():
            _uniform_(self.weight[member], 1.0 / math.sqrt(fan_in), gen)
            _uniform_(self.bias[member], 1.0 / math.sqrt(fan_in), gen)
        SpectralNorm.init(self.sn, self.rows, member, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, cout = self.weight.shape[:2]
        w = self.weight
        if self.sn is not None:
            w = w * self.sn.scale(w.reshape(k, cout, -1)).to(w.dtype).view(-1, 1, 1, 1, 1)
        w = w.flatten(0, 1)
        if self.channels_last:
            x, w = _nhwc(x), _nhwc(w)
        return F.conv2d(x, w, self.bias.flatten(), self.stride, self.padding, groups=k)


class CohortConvTranspose2d(CohortModule):
    """Grouped transposed conv, one group per member, on `[B, K*cin, H, W]`; no bias (it is
    always followed by BatchNorm here, see CohortLinear)."""

    channels_last = False  # see CohortConv2d

    def __init__(self, k, cin, cout, kernel, stride=1, padding=0, sn=False) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(k, cin, cout, kernel, kernel))
        self.rows = cout
        self.sn = SpectralNorm(k, cout) if sn else None

    def init_member(self, member: int, gen: torch.Generator) -> None:
        fan_in = self.weight.shape[2] * self.weight.shape[3] * self.weight.shape[4]
        with torch.no_grad():
            _uniform_(self.weight[member], 1.0 / math.sqrt(fan_in), gen)
        SpectralNorm.init(self.sn, self.rows, member, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, cin, cout = self.weight.shape[:3]
        w = self.weight
        if self.sn is not None:
            mat = w.transpose(1, 2).reshape(k, cout, -1)  # torch's dim=1 convention for ConvTranspose
            w = w * self.sn.scale(mat).to(w.dtype).view(-1, 1, 1, 1, 1)
        w = w.flatten(0, 1)
        if self.channels_last:
            x, w = _nhwc(x), _nhwc(w)
        return F.conv_transpose2d(x, w, None, self.stride, self.padding, groups=k)


class CohortBatchNorm2d(CohortModule):
    """BatchNorm over `[B, K*C, H, W]` with batch statistics only (no running averages), so
    sampling for evaluation neither depends on nor disturbs training state."""

    def __init__(self, k: int, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(k, c))
        self.bias = nn.Parameter(torch.zeros(k, c))

    def init_member(self, member: int, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.weight[member] = 1.0
            self.bias[member] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, None, None, self.weight.flatten(), self.bias.flatten(), training=True)


def set_spectral_norm(module: nn.Module, enabled: list[bool]) -> None:
    """Switch SN on or off per member for every SN-capable layer of `module`."""
    for m in module.modules():
        if isinstance(m, SpectralNorm):
            m.enabled.copy_(torch.tensor(enabled, dtype=torch.bool))


def set_power_iteration(module: nn.Module, advance: torch.Tensor) -> None:
    """Say which members' spectral-norm estimates advance on the next training forwards."""
    for m in module.modules():
        if isinstance(m, SpectralNorm):
            m.advance.copy_(advance)


def init_members(module: nn.Module, gens: list[torch.Generator]) -> None:
    """Initialise every cohort layer of `module`, member by member, in construction order."""
    layers = [m for m in module.modules() if isinstance(m, CohortModule)]
    for member, gen in enumerate(gens):
        for layer in layers:
            layer.init_member(member, gen)


def to_grouped(x: torch.Tensor) -> torch.Tensor:
    """`[K, B, C, H, W]` -> `[B, K*C, H, W]` (the grouped-convolution layout)."""
    k, b, c, h, w = x.shape
    return x.transpose(0, 1).reshape(b, k * c, h, w)


def from_grouped(x: torch.Tensor, k: int) -> torch.Tensor:
    """`[B, K*C, H, W]` -> `[K, B, C, H, W]`."""
    b, kc, h, w = x.shape
    return x.view(b, k, kc // k, h, w).transpose(0, 1)

"""A plain-PyTorch WGAN-GP on 2-D Gaussian mixtures, as the paper's algorithm 1 writes it and
not as ganstab's engine does: 5 critic steps per generator step, the critic loss written as
E[D(fake)] - E[D(real)] + lambda * GP, Adam(lr, betas=(0, 0.9)) or RMSprop, and TensorBoard
scalars under its own tags (`Critic/loss`, `Generator/loss`, `Critic/wasserstein`, `Critic/gp`)
every N generator iterations.

    python bench/foreign/wgan_gp.py --out /tmp/run --data hex7 --lr 1e-4

`snapshot(iteration, samples)` (optional) receives G's samples of a fixed latent batch every
`eval_every` generator iterations (bench/foreign/generate.py labels the run from them).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from mixtures_mlp import DATASETS, centres, sample_data  # noqa: E402  (the same data sets)


def net(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out),
    )


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, gen) -> torch.Tensor:
    eps = torch.rand(real.size(0), 1, generator=gen)
    x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad = torch.autograd.grad(D(x).sum(), x, create_graph=True)[0]
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def train(cfg: dict, out: Path, snapshot=None) -> str | None:
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    c, std = centres(cfg["data"])
    G, D = net(cfg["z_dim"], cfg["hidden"], 2), net(2, cfg["hidden"], 1)
    if cfg["opt"] == "adam":
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr"], betas=(0.0, 0.9))
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr"], betas=(0.0, 0.9))
    else:
        opt_d = torch.optim.RMSprop(D.parameters(), lr=cfg["lr"])
        opt_g = torch.optim.RMSprop(G.parameters(), lr=cfg["lr"])
    fixed_z = torch.randn(2500, cfg["z_dim"], generator=gen)
    writer = SummaryWriter(log_dir=str(out))
    status = None
    for it in range(1, cfg["iters"] + 1):
        for _ in range(cfg["n_critic"]):
            real = sample_data(c, std, cfg["batch"], gen)
            fake = G(torch.randn(cfg["batch"], cfg["z_dim"], generator=gen)).detach()
            gp = gradient_penalty(D, real, fake, gen)
            w_dist = D(real).mean() - D(fake).mean()
            d_loss = D(fake).mean() - D(real).mean() + cfg["lam"] * gp
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = -D(G(torch.randn(cfg["batch"], cfg["z_dim"], generator=gen))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        dl, gl = d_loss.item(), g_loss.item()
        if it % cfg["log_every"] == 0:
            writer.add_scalar("Critic/loss", dl, it)
            writer.add_scalar("Generator/loss", gl, it)
            writer.add_scalar("Critic/wasserstein", w_dist.item(), it)
            writer.add_scalar("Critic/gp", gp.item(), it)
        if not (math.isfinite(dl) and math.isfinite(gl)):
            status = "nan"
            break
        if snapshot is not None and it % cfg["eval_every"] == 0:
            with torch.no_grad():
                snapshot(it, G(fixed_z))
    writer.close()
    return status


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", choices=DATASETS, default="hex7")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--opt", choices=("adam", "rmsprop"), default="adam")
    p.add_argument("--iters", type=int, default=2000)
    a = p.parse_args()
    cfg = dict(data=a.data, lr=a.lr, opt=a.opt, lam=10.0, n_critic=5, batch=256, z_dim=2, hidden=128,
               iters=a.iters, log_every=10, eval_every=25, seed=0)
    torch.set_num_threads(1)
    train(cfg, a.out)


if __name__ == "__main__":
    main()

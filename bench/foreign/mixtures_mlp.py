"""A plain-PyTorch LSGAN / hinge GAN with MLPs on 2-D Gaussian mixtures, written the way a
tutorial would write it (not ganstab's engine): its own networks, its own data sets (not ring8,
grid25, mixture6 or the corpus' siblings of them), its own loop and a CSV log with its own column
names (`Iteration,Loss_D,Loss_G` or `iter,disc,gen`), written every N iterations, either the value
at that iteration or the mean since the last row, D's loss as the sum or the mean of its real and
fake terms.

    python bench/foreign/mixtures_mlp.py --out /tmp/run --data spiral9 --loss lsgan --lr 2e-4

`snapshot(iteration, samples)` (optional) receives G's samples of a fixed latent batch every
`eval_every` iterations: the benchmark labels the run from them (bench/foreign/generate.py).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import torch
from torch import nn


def centres(name: str) -> tuple[torch.Tensor, float]:
    """Mode centres and std of this script's data sets."""
    if name == "spiral9":  # 9 modes on an Archimedean spiral
        k = torch.arange(9, dtype=torch.float32)
        r, a = 0.4 + 0.22 * k, 0.85 * k
        return torch.stack([r * torch.cos(a), r * torch.sin(a)], 1), 0.05
    if name == "hex7":  # a hexagon and its centre
        a = torch.arange(6, dtype=torch.float32) * math.pi / 3
        pts = torch.cat([torch.zeros(1, 2), 1.5 * torch.stack([torch.cos(a), torch.sin(a)], 1)])
        return pts, 0.07
    if name == "circles10":  # two rings of five, the outer one turned half a step
        a = torch.arange(5, dtype=torch.float32) * 2 * math.pi / 5
        inner = 0.8 * torch.stack([torch.cos(a), torch.sin(a)], 1)
        outer = 1.8 * torch.stack([torch.cos(a + math.pi / 5), torch.sin(a + math.pi / 5)], 1)
        return torch.cat([inner, outer]), 0.05
    if name == "arc5":  # five modes along a half-circle, unevenly spaced
        a = torch.tensor([0.0, 0.5, 1.3, 2.2, 3.1])
        return 1.6 * torch.stack([torch.cos(a), torch.sin(a)], 1) - torch.tensor([0.0, 0.6]), 0.06
    raise ValueError(f"unknown data set {name!r}")


DATASETS = ("spiral9", "hex7", "circles10", "arc5")


def sample_data(c: torch.Tensor, std: float, n: int, gen: torch.Generator) -> torch.Tensor:
    idx = torch.randint(len(c), (n,), generator=gen)
    return c[idx] + std * torch.randn(n, 2, generator=gen)


def mlp(inp: int, hidden: int, out: int, depth: int, act: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = inp
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act]
        d = hidden
    layers.append(nn.Linear(d, out))
    return nn.Sequential(*layers)


def train(cfg: dict, out: Path, snapshot=None) -> str | None:
    """Train one run; writes out/log.csv. Returns None, or 'nan' if the losses blew up."""
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    c, std = centres(cfg["data"])
    z_dim = cfg["z_dim"]
    G = mlp(z_dim, cfg["hidden"], 2, cfg["depth"], nn.ReLU())
    D = mlp(2, cfg["hidden"], 1, cfg["depth"], nn.LeakyReLU(0.2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=(cfg["beta1"], 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr_g"], betas=(cfg["beta1"], 0.999))
    fixed_z = torch.randn(2500, z_dim, generator=gen)
    cols = ("Iteration", "Loss_D", "Loss_G") if cfg["names"] == "caps" else ("iter", "disc", "gen")
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / "log.csv", "w", newline="")
    w = csv.writer(f)
    w.writerow(cols)
    acc_d, acc_g, k = 0.0, 0.0, 0
    status = None
    for it in range(1, cfg["iters"] + 1):
        for _ in range(cfg["n_dis"]):
            x = sample_data(c, std, cfg["batch"], gen)
            z = torch.randn(cfg["batch"], z_dim, generator=gen)
            dr, df = D(x), D(G(z).detach())
            if cfg["loss"] == "lsgan":
                real, fake = 0.5 * ((dr - 1) ** 2).mean(), 0.5 * (df**2).mean()
            else:  # hinge
                real, fake = torch.relu(1 - dr).mean(), torch.relu(1 + df).mean()
            d_loss = real + fake if cfg["d_reduce"] == "sum" else (real + fake) / 2
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        z = torch.randn(cfg["batch"], z_dim, generator=gen)
        df = D(G(z))
        g_loss = 0.5 * ((df - 1) ** 2).mean() if cfg["loss"] == "lsgan" else -df.mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        dl, gl = d_loss.item(), g_loss.item()
        if cfg["log"] == "mean":
            acc_d, acc_g, k = acc_d + dl, acc_g + gl, k + 1
        if it % cfg["log_every"] == 0:
            row = (acc_d / k, acc_g / k) if cfg["log"] == "mean" else (dl, gl)
            w.writerow([it, f"{row[0]:.6g}", f"{row[1]:.6g}"])
            acc_d, acc_g, k = 0.0, 0.0, 0
        if not (math.isfinite(dl) and math.isfinite(gl)):
            status = "nan"
            break
        if snapshot is not None and it % cfg["eval_every"] == 0:
            with torch.no_grad():
                snapshot(it, G(fixed_z))
    f.close()
    return status


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", choices=DATASETS, default="spiral9")
    p.add_argument("--loss", choices=("lsgan", "hinge"), default="lsgan")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--iters", type=int, default=3000)
    a = p.parse_args()
    cfg = dict(
        data=a.data, loss=a.loss, lr_d=a.lr, lr_g=a.lr, beta1=0.5, n_dis=1, batch=256, z_dim=4,
        hidden=128, depth=2, iters=a.iters, log_every=10, log="last", d_reduce="sum", names="caps",
        eval_every=50, seed=0,
    )
    torch.set_num_threads(1)
    train(cfg, a.out)


if __name__ == "__main__":
    main()

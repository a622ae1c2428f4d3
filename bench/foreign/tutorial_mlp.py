"""The PyTorch DCGAN tutorial's training loop and logging, adapted to 2-D Gaussian mixtures with
MLPs, the way code copied from that tutorial usually is (issue 30): D ends in a Sigmoid and both
networks train with nn.BCELoss, Adam(lr, betas=(beta1, 0.999)), D's loss is errD_real + errD_fake
(two backward passes), G's loss is BCE against the real label, and the log has the tutorial's
numbers: Loss_D, Loss_G, D(x) (D's mean output on the real batch) and D(G(z)) (on the fake batch,
before D's step: the tutorial's D_G_z1), as probabilities. A "dataloader" of a fixed data set
(10,000 points, shuffled each epoch) and a per-epoch batch counter, as in the tutorial; the CSV
(`epoch,iter,Loss_D,Loss_G,D(x),D(G(z))`) gets a row every `log_every` batches. Not ganstab's
engine, and not bench/foreign/mixtures_mlp.py (no BCE there, no D outputs).

    python bench/foreign/tutorial_mlp.py --out /tmp/run --data hex7 --lr 2e-4

`snapshot(iteration, samples)` (optional) receives G's samples of a fixed latent batch every
`eval_every` iterations: the benchmark labels the run from them (bench/foreign/generate.py).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import torch
from mixtures_mlp import DATASETS, centres, sample_data
from torch import nn

DATA_POINTS = 10_000


def networks(cfg: dict) -> tuple[nn.Module, nn.Module]:
    """The tutorial's G (ReLU, no output squashing for points) and D (LeakyReLU 0.2, Sigmoid)."""
    h, nz = cfg["hidden"], cfg["nz"]
    g = nn.Sequential(nn.Linear(nz, h), nn.ReLU(True), nn.Linear(h, h), nn.ReLU(True), nn.Linear(h, 2))
    d = nn.Sequential(
        nn.Linear(2, h), nn.LeakyReLU(0.2, inplace=True), nn.Linear(h, h), nn.LeakyReLU(0.2, inplace=True),
        nn.Linear(h, 1), nn.Sigmoid(),
    )
    return g, d


def train(cfg: dict, out: Path, snapshot=None) -> str | None:
    """Train one run; writes out/log.csv. Returns None, or 'nan' if the losses blew up."""
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    c, std = centres(cfg["data"])
    dataset = sample_data(c, std, DATA_POINTS, gen)
    netG, netD = networks(cfg)
    criterion = nn.BCELoss()
    real_label, fake_label = cfg["real_label"], 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=cfg["lr_d"], betas=(cfg["beta1"], 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=cfg["lr_g"], betas=(cfg["beta1"], 0.999))
    fixed_noise = torch.randn(2500, cfg["nz"], generator=gen)
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / "log.csv", "w", newline="")
    w = csv.writer(f)
    w.writerow(["epoch", "iter", "Loss_D", "Loss_G", "D(x)", "D(G(z))"])
    b = cfg["batch"]
    iters, status = 0, None
    for epoch in range(cfg["epochs"]):
        order = torch.randperm(DATA_POINTS, generator=gen)
        for i in range(DATA_POINTS // b):
            real = dataset[order[i * b : (i + 1) * b]]
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            label = torch.full((b,), real_label)
            output = netD(real).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(b, cfg["nz"], generator=gen)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()
            # (2) Update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(1.0)  # fake labels are real for generator cost
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            optimizerG.step()
            iters += 1
            if i % cfg["log_every"] == 0:
                w.writerow([epoch, i, f"{errD.item():.6g}", f"{errG.item():.6g}", f"{D_x:.4f}", f"{D_G_z1:.4f}"])
            if not (math.isfinite(errD.item()) and math.isfinite(errG.item())):
                f.close()
                return "nan"
            if snapshot is not None and iters % cfg["eval_every"] == 0:
                with torch.no_grad():
                    snapshot(iters, netG(fixed_noise))
    f.close()
    return status


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", choices=DATASETS, default="hex7")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--epochs", type=int, default=10)
    a = p.parse_args()
    cfg = dict(data=a.data, lr_d=a.lr, lr_g=a.lr, beta1=0.5, nz=4, hidden=128, batch=128, epochs=a.epochs,
               log_every=5, eval_every=40, real_label=1.0, seed=0)
    torch.set_num_threads(1)
    train(cfg, a.out)


if __name__ == "__main__":
    main()

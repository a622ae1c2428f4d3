"""A plain-PyTorch DCGAN on scikit-learn's 8x8 digits, in the style of PyTorch's DCGAN example
and not ganstab's engine: transposed convolutions with BatchNorm in G, a conv D, BCEWithLogits,
errD = errD_real + errD_fake (a sum), Adam(lr, (beta1, 0.999)), epochs over a shuffled data
loader, and a log of per-epoch means (`epoch,Loss_D,Loss_G,D(x),D(G(z))`, JSONL) or of every
N-th iteration (CSV `it,errD,errG`).

    python bench/foreign/dcgan_digits.py --out /tmp/run --lr 2e-4 --epochs 60

`snapshot(iteration, images)` (optional) receives G's images of a fixed latent batch every
`eval_every` iterations (bench/foreign/generate.py labels the run from them).

With `stacked` in the configuration (`--stacked`), the same DCGAN learns *stacked digits*: three
digits drawn independently into three channels, 1,000 modes, the offline analogue of Stacked MNIST
(VEEGAN, PacGAN); an epoch is then as many batches as the plain script's, each channel shuffled on
its own, and the fixed latent batch holds 2,500 vectors (1,000 modes need more samples to count).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import torch
from torch import nn


def load_digits_tensor() -> torch.Tensor:
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images, dtype=torch.float32) / 16.0
    return (x * 2 - 1).unsqueeze(1)  # [1797, 1, 8, 8] in [-1, 1]


class Generator(nn.Module):
    def __init__(self, z_dim: int, ngf: int, channels: int = 1) -> None:
        super().__init__()
        self.ngf = ngf
        self.fc = nn.Sequential(nn.Linear(z_dim, ngf * 2 * 2 * 2), nn.BatchNorm1d(ngf * 2 * 2 * 2), nn.ReLU(True))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # 4x4
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False),  # 8x8
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, self.ngf * 2, 2, 2))


class Discriminator(nn.Module):
    def __init__(self, ndf: int, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, ndf, 4, 2, 1, bias=False),  # 4x4
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # 2x2
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
            nn.Linear(ndf * 2 * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def train(cfg: dict, out: Path, snapshot=None) -> str | None:
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    data = load_digits_tensor()
    stacked = bool(cfg.get("stacked"))
    ch = 3 if stacked else 1
    G, D = Generator(cfg["z_dim"], cfg["ngf"], ch), Discriminator(cfg["ndf"], ch)
    crit = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=(cfg["beta1"], 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr_g"], betas=(cfg["beta1"], 0.999))
    fixed_z = torch.randn(2500 if stacked else 1000, cfg["z_dim"], generator=gen)
    out.mkdir(parents=True, exist_ok=True)
    per_epoch = cfg["log"] == "epoch"
    f = open(out / ("log.jsonl" if per_epoch else "log.csv"), "w", newline="")
    w = None if per_epoch else csv.writer(f)
    if w is not None:
        w.writerow(("it", "errD", "errG"))
    it, status, bs = 0, None, cfg["batch"]
    real_label = cfg["real_label"]  # 1.0, or 0.9: one-sided label smoothing
    for epoch in range(1, cfg["epochs"] + 1):
        if stacked:  # [N, 3]: each channel a shuffle of its own
            perm = torch.stack([torch.randperm(len(data), generator=gen) for _ in range(3)], dim=1)
        else:
            perm = torch.randperm(len(data), generator=gen)
        sums = [0.0, 0.0, 0.0, 0.0]
        n = 0
        for b in range(len(data) // bs):  # drop_last
            x = data[perm[b * bs : (b + 1) * bs]]
            if stacked:
                x = x.flatten(1, 2)  # [bs, 3, 1, 8, 8] -> [bs, 3, 8, 8]
            z = torch.randn(bs, cfg["z_dim"], generator=gen)
            fake = G(z)
            out_r = D(x)
            err_real = crit(out_r, torch.full_like(out_r, real_label))
            out_f = D(fake.detach())
            err_fake = crit(out_f, torch.zeros_like(out_f))
            err_d = err_real + err_fake
            opt_d.zero_grad()
            err_d.backward()
            opt_d.step()
            out_g = D(fake)
            err_g = crit(out_g, torch.ones_like(out_g))
            opt_g.zero_grad()
            err_g.backward()
            opt_g.step()
            it += 1
            vals = (err_d.item(), err_g.item(), torch.sigmoid(out_r).mean().item(), torch.sigmoid(out_f).mean().item())
            sums = [s + v for s, v in zip(sums, vals)]
            n += 1
            if w is not None and it % cfg["log_every"] == 0:
                w.writerow([it, f"{vals[0]:.6g}", f"{vals[1]:.6g}"])
            if not (math.isfinite(vals[0]) and math.isfinite(vals[1])):
                status = "nan"
                break
            if snapshot is not None and it % cfg["eval_every"] == 0:
                G.eval()
                with torch.no_grad():
                    snapshot(it, G(fixed_z))
                G.train()
        if per_epoch:
            keys = ("Loss_D", "Loss_G", "D(x)", "D(G(z))")
            f.write(json.dumps({"epoch": epoch, **{k: s / n for k, s in zip(keys, sums)}}) + "\n")
        if status:
            break
    f.close()
    return status


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--stacked", action="store_true", help="stacked digits: three digits in three channels")
    a = p.parse_args()
    cfg = dict(lr_d=a.lr, lr_g=a.lr, beta1=0.5, z_dim=16, ngf=32, ndf=32, batch=64, epochs=a.epochs,
               log="epoch", log_every=10, eval_every=50, real_label=1.0, seed=0, stacked=a.stacked)
    torch.set_num_threads(1)
    train(cfg, a.out)


if __name__ == "__main__":
    main()

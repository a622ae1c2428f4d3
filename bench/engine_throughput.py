"""Engine throughput: a plain single-trial PyTorch GAN loop against ganstab K=1 and cohorts.

Workloads: the ring8 MLP GAN (2x128 hidden, batch 256, NS loss, Adam) and a 32x32 DCGAN-style
CNN (digits upsampled to 32x32, batch 64). The plain loop is written here, with nn.Linear /
nn.Conv2d and torch.optim.Adam, and the same layer shapes as ganstab's networks. Figures are
member-steps/s (one step = one D update and one G update of one GAN).

    python bench/engine_throughput.py                  # CPU: K = 1, 4, 16, 64
    python bench/engine_throughput.py --device cuda --cohorts 1,64,256,1024 --cnn-cohorts 1,16,64 --bf16

Targets (issue 2): ganstab K=1 within 10% of the plain loop; on a 2-core CPU a K=16 ring8 cohort
at least 2x the member-steps/s of K=1 (issue 29: also for the user's own MLPs, "ring8 user MLP",
whose "vs ganstab K=1" column compares with the user MLP's K=1 under vmap); on a GPU >= 100x for K=1024 ring8, >= 5x for K=64 CNN bf16.
Results are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn

from ganstab.engine import apply_overrides, preset
from ganstab.engine.config import member_configs
from ganstab.engine.trainer import CohortTrainer


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------- plain loops


def plain_mlp_gan(device: str, hidden: int, latent: int, batch: int):
    g = nn.Sequential(
        nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2)
    )
    d = nn.Sequential(
        nn.Linear(2, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )
    g, d = g.to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    angles = torch.arange(8, device=device) * (2 * torch.pi / 8)
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], 1)

    def step():
        real = centres[torch.randint(8, (batch,), device=device)] + 0.02 * torch.randn(
            batch, 2, device=device
        )
        fake = g(torch.randn(batch, latent, device=device)).detach()
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-d(g(torch.randn(batch, latent, device=device)))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return step


def plain_cnn_gan(device: str, channels: int, latent: int, batch: int, bf16: bool):
    w = [channels * 8, channels * 4, channels * 2, channels]  # ganstab's widths at 4, 8, 16, 32

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(latent, w[0] * 16, bias=False)
            self.bn0 = nn.BatchNorm2d(w[0], track_running_stats=False)
            self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(w, w[1:]))
            self.bns = nn.ModuleList(nn.BatchNorm2d(b, track_running_stats=False) for b in w[1:])
            self.out = nn.Conv2d(w[-1], 1, 3, 1, 1)

        def forward(self, z):
            h = F.relu(self.bn0(self.fc(z).view(-1, w[0], 4, 4)))
            for up, bn in zip(self.ups, self.bns):
                h = F.relu(bn(up(h)))
            return torch.tanh(self.out(h))

    d = nn.Sequential(
        nn.Conv2d(1, w[2], 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(w[2], w[1], 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(w[1], w[0], 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(w[0] * 16, 1),
    )  # fmt: skip
    g, d = G().to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    data = torch.rand(1797, 1, 32, 32, device=device) * 2 - 1
    ctx = (lambda: torch.autocast(device, dtype=torch.bfloat16)) if bf16 else torch.enable_grad

    def step():
        real = data[torch.randint(len(data), (batch,), device=device)]
        with ctx():
            fake = g(torch.randn(batch, latent, device=device)).detach()
            out = d(torch.cat([real, fake])).float()
        loss_d = F.softplus(-out[:batch]).mean() + F.softplus(out[batch:]).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        with ctx():
            out = d(g(torch.randn(batch, latent, device=device))).float()
        loss_g = F.softplus(-out).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return step


# ------------------------------------------------------------------------------- ganstab


def ganstab_step(overrides: list[str], k: int):
    cfg = apply_overrides(preset("vanilla"), overrides)
    trainer = CohortTrainer(member_configs(cfg, k))

    def step():
        trainer.train_step()
        trainer.step += 1

    return step


def measure(step, device: str, seconds: float, warmup: int = 10) -> float:
    """Steps per second over at least `seconds` (after `warmup` steps)."""
    for _ in range(warmup):
        step()
    _sync(device)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(5):
            step()
        n += 5
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--cohorts", default="1,4,16,64", help="ring8 cohort sizes")
    p.add_argument("--cnn-cohorts", default="1,4,16", help="CNN cohort sizes ('' to skip)")
    p.add_argument("--user-cohorts", default="1,16", help="cohort sizes of user nn.Module MLPs ('' to skip)")
    p.add_argument("--cnn-channels", type=int, default=16, help="CNN width at 32x32 (ganstab model.channels)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for the CNN runs")
    p.add_argument("--seconds", type=float, default=5.0, help="measuring time per row")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave as is)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    torch.manual_seed(0)
    print(f"# engine throughput, {time.strftime('%Y-%m-%d')}, device {dev}"
          + (f" ({torch.cuda.get_device_name()})" if dev == "cuda" else f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
          + f", torch {torch.__version__}")  # fmt: skip
    print("| workload | runner | K | steps/s | member-steps/s | vs plain | vs ganstab K=1 |")
    print("|---|---|---|---|---|---|---|")

    def row(workload, runner, k, rate, plain, k1):
        ms = rate * k
        print(
            f"| {workload} | {runner} | {k} | {rate:.1f} | {ms:.0f} | {ms / plain:.2f}x | {ms / k1:.2f}x |",
            flush=True,
        )

    base = [
        f"train.device={dev}",
        "data.name=ring8",
        "train.batch_size=256",
        "model.hidden=128",
        "model.latent_dim=16",
    ]
    plain = measure(plain_mlp_gan(dev, 128, 16, 256), dev, args.seconds)
    print(f"| ring8 MLP | plain PyTorch | 1 | {plain:.1f} | {plain:.0f} | 1.00x | - |", flush=True)
    k1 = None
    for k in [int(x) for x in args.cohorts.split(",") if x]:
        rate = measure(ganstab_step(base, k), dev, args.seconds)
        k1 = k1 or rate
        row("ring8 MLP", "ganstab", k, rate, plain, k1)

    if args.user_cohorts:  # issue 29: the user's own nn.Module MLPs (tests/user_nets), same workload
        user = base + [
            "model.generator=tests.user_nets.nets:MLPGenerator", "model.discriminator=tests.user_nets.nets:MLPDiscriminator",
            "model.generator_kwargs={latent: 16, hidden: 128}", "model.discriminator_kwargs={hidden: 128}",
        ]  # fmt: skip
        user = [o for o in user if not o.startswith("model.hidden")]
        k1 = None
        for mode in ("vmap", "loop"):
            for k in [int(x) for x in args.user_cohorts.split(",") if x]:
                rate = measure(ganstab_step(user + [f"model.user_cohort={mode}"], k), dev, args.seconds)
                k1 = k1 or rate
                row("ring8 user MLP", f"ganstab, {mode}", k, rate, plain, k1)

    if args.cnn_cohorts:
        c = args.cnn_channels
        base = [f"train.device={dev}", "data.name=digits", "data.resolution=32", f"model.channels={c}",
                "model.latent_dim=64", "train.batch_size=64"] + (["train.precision=bf16"] if args.bf16 else [])  # fmt: skip
        label = f"32x32 CNN ch{c}" + (" bf16" if args.bf16 else "")
        plain = measure(plain_cnn_gan(dev, c, 64, 64, args.bf16), dev, args.seconds)
        print(f"| {label} | plain PyTorch | 1 | {plain:.1f} | {plain:.0f} | 1.00x | - |", flush=True)
        k1 = None
        for k in [int(x) for x in args.cnn_cohorts.split(",") if x]:
            rate = measure(ganstab_step(base, k), dev, args.seconds, warmup=3)
            k1 = k1 or rate
            row(label, "ganstab", k, rate, plain, k1)


if __name__ == "__main__":
    main()

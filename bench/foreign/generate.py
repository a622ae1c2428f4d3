"""Generate the foreign benchmark: runs of the independent scripts in this folder, each
labelled from its own samples by ganstab's ground-truth rules (docs/labels.md), never from its
losses. One run at a time in one process (one torch thread), resumable, stopped by a deadline.

    python bench/foreign/generate.py --work /tmp/foreign --n 420 --minutes 70
    python bench/foreign/generate.py --work /tmp/foreign1 --seed 1 --draw collapse --n 400 --minutes 80
    python bench/foreign/generate.py --work /tmp/foreign5 --seed 5 --draw stacked --n 60 --minutes 20
    python bench/foreign/generate.py --work /tmp/keras --seed 11 --draw keras --n 200 --minutes 15
    python bench/foreign/generate.py --work /tmp/foreign --pack bench/foreign/data
    python bench/foreign/generate.py --work /tmp/foreign0 --unpack bench/foreign/data   # to merge:
    python bench/foreign/generate.py --work /tmp/foreign0 /tmp/foreign1 --pack bench/foreign/data

Each run's log is written the script's own way (CSV, JSONL, TensorBoard or printed lines) into WORK/logs/ID/;
WORK/runs.jsonl gets one line per run: id, script, config, label, signals, seconds. `--pack`
writes DATA/logs.tar.gz (the logs as they are) and DATA/runs.jsonl.gz (the labels), which
bench/diagnosis_foreign.py reads. The shipped models never see these runs (test_foreign.py).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import sys
import tarfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import dcgan_digits  # noqa: E402
import keras_style  # noqa: E402
import mixtures_mlp  # noqa: E402
import tutorial_mlp  # noqa: E402
import wgan_gp  # noqa: E402

SCRIPTS = ("mixtures_mlp", "wgan_gp", "dcgan_digits", "dcgan_stacked", "tutorial_mlp", "keras_style")
# tutorial_mlp: the PyTorch DCGAN tutorial's loop and log on the 2-D mixtures (issue 30); --draw
# tutorial draws it alone.
# keras_style: Keras-GAN's gan.py loop (train_on_batch, a frozen D in a combined model) and its
# printed log on the 2-D mixtures (issue 30); --draw keras draws it alone.
# dcgan_stacked: dcgan_digits.py on stacked digits (three digits in three channels, 1,000 modes);
# --draw stacked draws it alone.
# The order runs are drawn in: the cheap MLP script twice as often as the other two.
ORDER = ("mixtures_mlp", "wgan_gp", "mixtures_mlp", "dcgan_digits")
# --draw collapse: the scripts drawn in this order instead, the costly DCGAN (which made no
# collapsing run in the plain draw) one time in six.
ORDER_COLLAPSE = ("mixtures_mlp", "wgan_gp", "mixtures_mlp", "mixtures_mlp", "wgan_gp", "dcgan_digits")
# The log column (CSV/JSON key or TensorBoard tag) a user names for each schema column (`--tag`).
TAGS = {
    ("mixtures_mlp", "caps"): {"step": "Iteration", "d_loss": "Loss_D", "g_loss": "Loss_G"},
    ("mixtures_mlp", "short"): {"step": "iter", "d_loss": "disc", "g_loss": "gen"},
    ("wgan_gp", None): {"d_loss": "Critic/loss", "g_loss": "Generator/loss"},
    ("dcgan_digits", "epoch"): {"step": "epoch", "d_loss": "Loss_D", "g_loss": "Loss_G"},
    ("dcgan_digits", "iter"): {"step": "it", "d_loss": "errD", "g_loss": "errG"},
    ("tutorial_mlp", None): {},  # read without tags: the tutorial's names are known (issue 30)
    ("keras_style", None): {},  # read without tags: Keras-GAN's printed line is known (issue 30)
}


def tags_for(script: str, cfg: dict) -> dict[str, str]:
    if script == "dcgan_stacked":  # the same script, so the same log
        script = "dcgan_digits"
    key = cfg.get("names") if script == "mixtures_mlp" else cfg.get("log") if script == "dcgan_digits" else None
    if script in ("tutorial_mlp", "keras_style"):
        key = None
    return TAGS[(script, key)]


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return float(f"{10 ** rng.uniform(lo, hi):.3g}")


def sample_config(script: str, rng: random.Random) -> dict:
    """One configuration of `script`: wide ranges (high learning rates, beta1 0.9, small or large
    D:G ratios) so that every class occurs; runs kept short for a shared 2-core CPU. (The ranges
    were widened and shifted twice while the committed runs were made, towards the settings that
    collapsed; each run's own configuration is in runs.jsonl.gz.)"""
    seed = rng.randrange(10**6)
    if script == "mixtures_mlp":
        lr_d = log_uniform(rng, -4, -1.7)
        return dict(
            data=rng.choice(mixtures_mlp.DATASETS), loss=rng.choice(["lsgan", "lsgan", "lsgan", "hinge"]),
            lr_d=lr_d, lr_g=lr_d if rng.random() < 0.5 else log_uniform(rng, -4, -1.7),
            beta1=rng.choice([0.0, 0.5, 0.9, 0.9]), n_dis=rng.choice([1, 2, 2]),
            batch=rng.choice([64, 128]), z_dim=rng.choice([2, 4, 8]), hidden=rng.choice([64, 128]),
            depth=rng.choice([2, 3, 3]), iters=rng.choice([800, 1000]), log_every=rng.choice([10, 20]),
            log=rng.choice(["last", "mean"]), d_reduce=rng.choice(["sum", "mean"]),
            names=rng.choice(["caps", "short"]), eval_every=32, seed=seed,
        )
    if script == "tutorial_mlp":  # the tutorial's defaults (2e-4, beta1 0.5) among wider ones
        lr_d = log_uniform(rng, -4, -2)
        return dict(
            data=rng.choice(mixtures_mlp.DATASETS), lr_d=lr_d,
            lr_g=lr_d if rng.random() < 0.5 else log_uniform(rng, -4, -2),
            beta1=rng.choice([0.5, 0.5, 0.9, 0.0]), nz=rng.choice([2, 4, 8]), hidden=rng.choice([64, 128]),
            batch=rng.choice([128, 256]), epochs=rng.choice([12, 16]), log_every=rng.choice([3, 5]),
            eval_every=32, real_label=rng.choice([1.0, 1.0, 0.9]), seed=seed,
        )
    if script == "keras_style":  # Keras-GAN's gan.py (Adam 2e-4, beta1 0.5, batch 32) among wider ones
        lr_d = log_uniform(rng, -3.7, -2)
        return dict(
            data=rng.choice(mixtures_mlp.DATASETS), lr_d=lr_d,
            lr_g=lr_d if rng.random() < 0.6 else log_uniform(rng, -3.7, -2),
            beta1=rng.choice([0.5, 0.5, 0.5, 0.9]), latent_dim=rng.choice([2, 8, 32, 100]),
            widths=rng.choice([(64, 128), (128, 256), (256, 512), (128, 256, 512)]),
            bn=rng.choice([True, True, False]), alpha=rng.choice([0.2, 0.2, 0.3]),
            d_dropout=rng.choice([0.0, 0.0, 0.25]), out=rng.choice(["tanh", "linear"]),
            batch=rng.choice([32, 64, 128]), half_batch=rng.choice([False, False, True]),
            iters=rng.choice([1500, 2000, 2500]), log_every=rng.choice([1, 1, 10]), eval_every=50,
            real_label=rng.choice([1.0, 1.0, 1.0, 0.9]), seed=seed,
        )
    if script == "wgan_gp":
        return dict(
            data=rng.choice(mixtures_mlp.DATASETS), lr=log_uniform(rng, -4.3, -2.3),
            opt=rng.choice(["adam", "adam", "rmsprop"]), lam=rng.choice([0.1, 1.0, 10.0, 10.0]), n_critic=5,
            batch=64, z_dim=rng.choice([2, 4]), hidden=64,
            iters=rng.choice([200, 250]), log_every=rng.choice([4, 8]), eval_every=10, seed=seed,
        )
    lr_d = log_uniform(rng, -4.3, -2.5)
    return dict(
        lr_d=lr_d, lr_g=lr_d if rng.random() < 0.5 else log_uniform(rng, -4.3, -2.5),
        beta1=rng.choice([0.0, 0.5, 0.5, 0.9]), z_dim=rng.choice([8, 16, 32]), ngf=rng.choice([16, 32]),
        ndf=rng.choice([16, 32]), batch=rng.choice([64, 64, 128]), epochs=rng.choice([21, 26]),
        log=rng.choice(["epoch", "iter"]), log_every=rng.choice([5, 10]), eval_every=30,
        real_label=rng.choice([1.0, 1.0, 0.9]), seed=seed,
    )


class Evaluator:
    """Mode statistics of each snapshot, as ganstab's engine records them (`modes`, `hq`, `near`)."""

    def __init__(self, script: str, cfg: dict) -> None:
        self.evals: list[dict] = []
        self.stacked = script == "dcgan_stacked"
        if self.stacked:
            from ganstab.engine.metrics.digits import STACKED_MODES, load_digits_classifier

            self.clf, self.n_modes = load_digits_classifier(), STACKED_MODES
        elif script == "dcgan_digits":
            from ganstab.engine.metrics.digits import load_digits_classifier

            self.clf, self.n_modes = load_digits_classifier(), 10
        else:
            self.c, self.std = mixtures_mlp.centres(cfg["data"])
            self.n_modes = len(self.c)

    def __call__(self, it: int, samples: torch.Tensor) -> None:
        if self.stacked:
            # stacked_digits_metrics' modes, hq and near without its Frechet distance: each channel
            # classified on its own, a sample's mode is 100 a + 10 b + c, high quality when all three
            # channels are >= 0.9 confident, a mode covered by >= max(1, 10 % of a balanced share)
            # HQ samples (one sample here, as the Stacked MNIST papers count)
            n = len(samples)
            x = samples.float().transpose(0, 1).reshape(-1, 1, *samples.shape[2:])
            probs = self.clf.probs(x).view(3, n, 10)
            conf, pred = probs.max(dim=2)
            mode = pred[0] * 100 + pred[1] * 10 + pred[2]
            hq = (conf >= 0.9).all(dim=0)
            counts = torch.bincount(mode[hq], minlength=self.n_modes)
            self.evals.append({
                "step": it, "modes": float((counts >= max(1, round(0.1 * n / self.n_modes))).sum()),
                "hq": 100.0 * float(hq.float().mean()), "near": torch.bincount(mode, minlength=self.n_modes).tolist(),
            })
            return
        if hasattr(self, "clf"):
            # digits_metrics' modes, hq and near without its Frechet distance (the costly part,
            # which labels do not read): classifier confidence >= 0.9 is high quality, a class
            # with >= 10 % of a balanced share of HQ samples is covered
            probs = self.clf.probs(samples.float())
            conf, pred = probs.max(dim=1)
            hq = conf >= 0.9
            counts = torch.bincount(pred[hq], minlength=10)
            n = len(samples)
            self.evals.append({
                "step": it, "modes": float((counts >= max(1, round(0.1 * n / 10))).sum()),
                "hq": 100.0 * float(hq.float().mean()), "near": torch.bincount(pred, minlength=10).tolist(),
            })
            return
        from ganstab.engine.metrics.mixtures import mixture_metrics

        s = samples.float()
        s = torch.where(torch.isfinite(s), s, torch.full_like(s, 1e6))
        m = mixture_metrics(s.unsqueeze(0), self.c, self.std)
        self.evals.append(
            {"step": it, "modes": float(m["modes"][0]), "hq": float(m["hq"][0]), "near": m["near"][0].tolist()}
        )


def run_one(script: str, cfg: dict, logdir: Path) -> tuple[str, dict, list[dict]]:
    from ganstab.diagnose.labels import label_run

    ev = Evaluator(script, cfg)
    modules = {
        "mixtures_mlp": mixtures_mlp, "wgan_gp": wgan_gp, "dcgan_digits": dcgan_digits, "dcgan_stacked": dcgan_digits,
        "tutorial_mlp": tutorial_mlp, "keras_style": keras_style,
    }
    status = modules[script].train(
        cfg, logdir, ev
    )
    label, signals = label_run(ev.evals, 0 if status == "nan" else None, ev.n_modes)
    return label, signals, ev.evals


def sample_collapse_config(script: str, rng: random.Random) -> dict:
    """A configuration drawn towards the settings that collapsed in the plain draw (--draw collapse):
    mixtures arc5 and hex7 more often, LSGAN, beta1 0.9, deep wide MLPs, a D with two steps; WGAN-GP
    at low learning rates with small latents; DCGAN with G's learning rate above D's, small
    latents and beta1 0.9 (the usual recipes for mode collapse). Still random, still labelled
    from samples only: a run lands in whatever class its samples say."""
    seed = rng.randrange(10**6)
    if script == "mixtures_mlp":
        lr_d = log_uniform(rng, -3.8, -2.2)
        return dict(
            data=rng.choice(["arc5", "arc5", "arc5", "hex7", "hex7", "spiral9", "circles10"]),
            loss=rng.choice(["lsgan", "lsgan", "lsgan", "hinge"]),
            lr_d=lr_d, lr_g=lr_d if rng.random() < 0.5 else log_uniform(rng, -3.8, -2.2),
            beta1=rng.choice([0.5, 0.9, 0.9]), n_dis=rng.choice([1, 2, 2]),
            batch=rng.choice([64, 128]), z_dim=rng.choice([2, 4, 8]), hidden=128,
            depth=rng.choice([2, 3, 3]), iters=rng.choice([800, 1000]), log_every=rng.choice([10, 20]),
            log=rng.choice(["last", "mean"]), d_reduce=rng.choice(["sum", "mean"]),
            names=rng.choice(["caps", "short"]), eval_every=32, seed=seed,
        )
    if script == "wgan_gp":
        return dict(
            data=rng.choice(mixtures_mlp.DATASETS), lr=log_uniform(rng, -4.3, -3.6),
            opt=rng.choice(["adam", "adam", "rmsprop"]), lam=rng.choice([1.0, 10.0, 10.0]), n_critic=5,
            batch=64, z_dim=rng.choice([2, 2, 4]), hidden=64,
            iters=rng.choice([200, 250]), log_every=rng.choice([4, 8]), eval_every=10, seed=seed,
        )
    lr_d = log_uniform(rng, -4.3, -3.3)
    return dict(
        lr_d=lr_d, lr_g=float(f"{lr_d * rng.choice([3, 5, 10]):.3g}"),
        beta1=rng.choice([0.5, 0.9, 0.9]), z_dim=rng.choice([2, 4, 8]), ngf=rng.choice([16, 32]),
        ndf=rng.choice([16, 32]), batch=rng.choice([64, 128]), epochs=rng.choice([21, 26]),
        log=rng.choice(["epoch", "iter"]), log_every=rng.choice([5, 10]), eval_every=30,
        real_label=1.0, seed=seed,
    )


def sample_stacked_config(rng: random.Random) -> dict:
    """A stacked-digits DCGAN (--draw stacked): half drawn like the plain DCGAN, half like the
    collapse draw's (G learning faster than D, small latents, beta1 0.9), since mode collapse over
    1,000 modes is what Stacked MNIST is used to show. Three times as long as the plain DCGAN's
    runs (60 or 80 epochs, an evaluation every 60 iterations): at 21-26 epochs G had barely begun
    (under 20 of the 1,000 modes, hopping); at 80 it covers 100-200 (timed before the draw)."""
    cfg = (sample_collapse_config if rng.random() < 0.5 else sample_config)("dcgan_digits", rng)
    return {**cfg, "epochs": rng.choice([60, 80]), "eval_every": 60, "stacked": True}


def generate(work: Path, n: int, minutes: float, seed: int, draw: str = "plain") -> None:
    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    index = work / "runs.jsonl"
    done = {json.loads(line)["id"] for line in index.read_text().splitlines()} if index.exists() else set()
    rng = random.Random(seed)
    deadline = time.time() + 60 * minutes
    for i in range(n):
        order = {"collapse": ORDER_COLLAPSE, "stacked": ("dcgan_stacked",), "tutorial": ("tutorial_mlp",),
                 "keras": ("keras_style",)}.get(draw, ORDER)
        script = order[i % len(order)]
        # drawn even when done: the same ids get the same configs
        if draw == "stacked":
            cfg = sample_stacked_config(rng)
        else:
            cfg = (sample_collapse_config if draw == "collapse" else sample_config)(script, rng)
        run_id = f"{script}-{seed}-{i:04d}"
        if run_id in done:
            continue
        if time.time() > deadline:
            print(f"deadline: stopped before run {i}", flush=True)
            break
        start = time.perf_counter()
        label, signals, evals = run_one(script, cfg, work / "logs" / run_id)
        rec = dict(id=run_id, script=script, draw=draw, config=cfg, tags=tags_for(script, cfg), label=label,
                   signals=signals, n_evals=len(evals), seconds=round(time.perf_counter() - start, 1))
        with index.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"{run_id} {label} {rec['seconds']} s", flush=True)


def unpack(data: Path, work: Path) -> None:
    """A packed data folder back into a work folder (runs.jsonl, logs/), to resume or merge it."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "runs.jsonl").write_bytes(gzip.decompress((data / "runs.jsonl.gz").read_bytes()))
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress((data / "logs.tar.gz").read_bytes()))) as tar:
        tar.extractall(work / "logs", filter="data")


def pack(works: list[Path], data: Path) -> None:
    """The runs of one or more work folders, in order, as one tar.gz of logs and one jsonl.gz of
    labels (byte-stable: mtime 0, sorted). A run without a `draw` was drawn plainly."""
    data.mkdir(parents=True, exist_ok=True)
    recs = [(work, {"draw": "plain", **json.loads(line)}) for work in works
            for line in (work / "runs.jsonl").read_text().splitlines()]
    ids = [r["id"] for _, r in recs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"Run ids repeat across the work folders {[str(w) for w in works]}; pack each seed once.")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for work, rec in recs:
            for p in sorted((work / "logs" / rec["id"]).rglob("*")):
                if p.is_file():
                    info = tar.gettarinfo(str(p), arcname=str(p.relative_to(work / "logs")))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with p.open("rb") as f:
                        tar.addfile(info, f)
    (data / "logs.tar.gz").write_bytes(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))
    text = "".join(json.dumps(r) + "\n" for _, r in recs).encode()
    (data / "runs.jsonl.gz").write_bytes(gzip.compress(text, compresslevel=9, mtime=0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, nargs="+",
                   help="work folder (with --pack: one or more, merged in this order)")
    p.add_argument("--n", type=int, default=420)
    p.add_argument("--minutes", type=float, default=70)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", choices=("plain", "collapse", "stacked", "tutorial", "keras"), default="plain",
                   help="plain: the committed ranges; collapse: drawn towards collapsing settings; "
                   "stacked: the DCGAN on stacked digits (1,000 modes) only; tutorial: tutorial_mlp.py only; "
                   "keras: keras_style.py only")
    p.add_argument("--pack", type=Path, help="pack WORK into this data folder and stop")
    p.add_argument("--unpack", type=Path, help="unpack this data folder into WORK and stop")
    a = p.parse_args()
    if a.pack:
        pack(a.work, a.pack)
    elif a.unpack:
        unpack(a.unpack, a.work[0])
    else:
        generate(a.work[0], a.n, a.minutes, a.seed, a.draw)


if __name__ == "__main__":
    main()

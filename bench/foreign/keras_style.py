"""A GAN written the way Keras-GAN's gan.py (eriklindernoren/Keras-GAN) and the code copied from it
are written, on the foreign benchmark's 2-D Gaussian mixtures (issue 30). Keras is not installed
here, so this is plain PyTorch that keeps Keras's semantics where they shape the run and its log:

- a discriminator "compiled" with binary crossentropy and an accuracy metric, and a combined model
  z -> G -> D with D frozen (`trainable = False`), trained on G's loss against the real label;
- `train_on_batch` per batch: D on the real batch, then D on the fake batch (two optimizer steps,
  as two calls make), then the combined model; each returns the loss and accuracy of its forward
  pass *before* its update, as Keras does; d_loss = 0.5 * (d_loss_real + d_loss_fake);
- the fake batch for D comes from `generator.predict`, i.e. G in inference mode (BatchNorm's
  moving averages), while the combined model runs G in training mode (batch statistics);
- Keras's binary crossentropy clips D's output to [1e-7, 1 - 1e-7] (so a loss never exceeds
  16.118, and the clipped side gets no gradient), its `binary_accuracy` is
  mean(y_true == round(y_pred)) (so with a smoothed real label of 0.9 the real half is never
  "right"), Dense layers start Glorot-uniform with zero biases, BatchNormalization(momentum=0.8)
  keeps 0.8 of its moving statistics per step with epsilon 1e-3, LeakyReLU's default slope is 0.3
  (Keras-GAN writes 0.2), and Keras's Adam adds epsilon (1e-7) outside its bias correction and
  counts its steps per optimizer object: gan.py compiles both models with *one* Adam, so its step
  count (the bias correction's t) goes up three times per iteration;
- the data as `X_train` sampled with replacement each iteration
  (`np.random.randint(0, X_train.shape[0], batch_size)`), no epochs over it; Keras-GAN's "epochs"
  are iterations; optionally a half batch of real and of fake for D (Keras-GAN's older versions);
  optionally the data scaled into [-1, 1] for a tanh output, as Keras-GAN does for MNIST;
- stdout as a text log: `model.summary()` of both networks, then the famous line
  `%d [D loss: %f, acc.: %.2f%%] [G loss: %f]` every `log_every` iterations
  (every one in Keras-GAN), into OUT/train.log as `python gan.py > train.log` would leave it.

Not ganstab's engine; it imports nothing of ganstab. Data from bench/foreign/mixtures_mlp.py, a
fixed set of 10,000 points as tutorial_mlp.py's.

    python bench/foreign/keras_style.py --out /tmp/run --data hex7 --iters 3000

`snapshot(iteration, samples)` (optional) receives G's samples of a fixed latent batch (from
`generator.predict`, as Keras-GAN's `sample_images`) every `eval_every` iterations: the benchmark
labels the run from them (bench/foreign/generate.py).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from mixtures_mlp import DATASETS, centres, sample_data
from torch import nn

DATA_POINTS = 10_000
EPSILON = 1e-7  # K.epsilon()


class Dense(nn.Linear):
    """keras.layers.Dense: glorot_uniform kernel, zero bias."""

    def __init__(self, inp: int, out: int) -> None:
        super().__init__(inp, out)
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)


def batch_normalization(n: int, momentum: float = 0.8) -> nn.BatchNorm1d:
    """keras BatchNormalization(momentum): Keras keeps `momentum` of the old moving statistics,
    PyTorch's momentum is the weight of the new batch; Keras's epsilon is 1e-3."""
    return nn.BatchNorm1d(n, eps=1e-3, momentum=1 - momentum)


def build_generator(cfg: dict) -> nn.Sequential:
    """gan.py's build_generator: Dense, LeakyReLU, BatchNormalization(0.8) per width, then the
    output Dense (tanh on data scaled into [-1, 1], or linear)."""
    layers: list[nn.Module] = []
    d = cfg["latent_dim"]
    for w in cfg["widths"]:
        layers += [Dense(d, w), nn.LeakyReLU(cfg["alpha"])]
        if cfg["bn"]:
            layers.append(batch_normalization(w))
        d = w
    layers.append(Dense(d, 2))
    if cfg["out"] == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def build_discriminator(cfg: dict) -> nn.Sequential:
    """gan.py's build_discriminator: the generator's widths in reverse, LeakyReLU (and Dropout in
    some copies), a sigmoid unit."""
    layers: list[nn.Module] = []
    d = 2
    for w in reversed(cfg["widths"]):
        layers += [Dense(d, w), nn.LeakyReLU(cfg["alpha"])]
        if cfg["d_dropout"]:
            layers.append(nn.Dropout(cfg["d_dropout"]))
        d = w
    layers += [Dense(d, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class Iterations:
    """An optimizer's step count (Keras's `optimizer.iterations`), shared when one optimizer
    object is compiled into two models."""

    def __init__(self) -> None:
        self.value = 0


class KerasAdam:
    """keras.optimizers.Adam(lr, beta_1) as Keras 2 computes it: lr_t = lr * sqrt(1 - b2^t) /
    (1 - b1^t), p -= lr_t * m / (sqrt(v) + epsilon). Not torch.optim.Adam, which adds epsilon
    after the bias correction of v."""

    def __init__(self, lr: float, beta_1: float, iterations: Iterations, beta_2: float = 0.999) -> None:
        self.lr, self.beta_1, self.beta_2, self.iterations = lr, beta_1, beta_2, iterations
        self.state: dict[nn.Parameter, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self, params: list[nn.Parameter]) -> None:
        self.iterations.value += 1
        t = self.iterations.value
        lr_t = self.lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        for p in params:
            if p.grad is None:
                continue
            m, v = self.state.get(p) or (torch.zeros_like(p), torch.zeros_like(p))
            m.mul_(self.beta_1).add_(p.grad, alpha=1 - self.beta_1)
            v.mul_(self.beta_2).addcmul_(p.grad, p.grad, value=1 - self.beta_2)
            p.sub_(lr_t * m / (v.sqrt() + EPSILON))
            self.state[p] = (m, v)


def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Keras's binary_crossentropy on a sigmoid output: clipped to [eps, 1 - eps], then the log."""
    p = y_pred.clamp(EPSILON, 1 - EPSILON)
    return -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p)).mean()


def binary_accuracy(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    """Keras's binary_accuracy: K.mean(K.equal(y_true, K.round(y_pred)))."""
    return float((torch.round(y_pred) == y_true).float().mean())


class Model:
    """A compiled Keras model: the network, the weights its optimizer trains (a frozen part's are
    left out), and `train_on_batch` / `predict`."""

    def __init__(self, net: nn.Module, trainable: list[nn.Parameter], optimizer: KerasAdam) -> None:
        self.net, self.trainable, self.optimizer = net, trainable, optimizer

    def train_on_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """[loss, acc] of this batch's forward pass, before the update (as Keras returns them)."""
        self.net.train()  # the learning phase: batch statistics, dropout on
        out = self.net(x)
        loss = binary_crossentropy(out, y)
        acc = binary_accuracy(out.detach(), y)
        for p in self.trainable:
            p.grad = None
        loss.backward()
        self.optimizer.step(self.trainable)
        return loss.item(), acc

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.net.eval()  # inference: BatchNormalization's moving statistics
        out = self.net(x)
        self.net.train()
        return out


def summary(name: str, net: nn.Sequential) -> list[str]:
    """What model.summary() prints for a Sequential of these layers (Keras 2.2's layout)."""
    rows, count = [], {}
    total = non_trainable = 0
    kinds = {nn.Linear: "Dense", nn.LeakyReLU: "LeakyReLU", nn.BatchNorm1d: "BatchNormalization",
             nn.Dropout: "Dropout"}
    width = None
    for layer in net:
        if isinstance(layer, (nn.Tanh, nn.Sigmoid)):  # Dense(..., activation=...): no layer of its own
            continue
        kind = next(k for t, k in kinds.items() if isinstance(layer, t))
        base = {"LeakyReLU": "leaky_re_lu", "BatchNormalization": "batch_normalization"}.get(kind, kind.lower())
        count[base] = count.get(base, 0) + 1
        params = sum(p.numel() for p in layer.parameters())
        if isinstance(layer, nn.Linear):
            width = layer.out_features
        if isinstance(layer, nn.BatchNorm1d):  # moving mean and variance: weights, not trained
            params += 2 * layer.num_features
            non_trainable += 2 * layer.num_features
        total += params
        # Keras cuts a field at its column, leaving one space
        rows.append(f"{f'{base}_{count[base]} ({kind})'[:28]:<29}{f'(None, {width})':<26}{params:<10}")
    line = "_" * 65
    out = [f'Model: "{name}"', line, f"{'Layer (type)':<29}{'Output Shape':<26}{'Param #':<10}", "=" * 65]
    for i, row in enumerate(rows):
        out += [row, "=" * 65 if i == len(rows) - 1 else line]
    out += [f"Total params: {total:,}", f"Trainable params: {total - non_trainable:,}",
            f"Non-trainable params: {non_trainable:,}", line]
    return out


def train(cfg: dict, out: Path, snapshot=None) -> str | None:
    """Train one run; writes out/train.log. Returns None, or 'nan' if the losses blew up."""
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    c, std = centres(cfg["data"])
    X_train = sample_data(c, std, DATA_POINTS, gen)
    scale = float(X_train.abs().max()) if cfg["out"] == "tanh" else 1.0  # Keras-GAN: X / 127.5 - 1
    X_train = X_train / scale

    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    # gan.py: one Adam(0.0002, 0.5) compiled into both models; a copy with two learning rates has two
    shared = Iterations()
    opt_d = KerasAdam(cfg["lr_d"], cfg["beta1"], shared)
    opt_g = opt_d if cfg["lr_g"] == cfg["lr_d"] else KerasAdam(cfg["lr_g"], cfg["beta1"], Iterations())
    d_model = Model(discriminator, list(discriminator.parameters()), opt_d)
    # The combined model: D frozen (trainable = False before compiling it), G's weights trained
    combined = Model(nn.Sequential(generator, discriminator), list(generator.parameters()), opt_g)
    g_model = Model(generator, [], opt_g)  # for predict only

    out.mkdir(parents=True, exist_ok=True)
    f = open(out / "train.log", "w")
    f.write("\n".join(summary("discriminator", discriminator) + summary("generator", generator)) + "\n")
    batch = cfg["batch"]
    d_batch = batch // 2 if cfg["half_batch"] else batch
    valid = torch.full((d_batch, 1), cfg["real_label"])
    fake = torch.zeros((d_batch, 1))
    g_valid = torch.ones((batch, 1))
    fixed_noise = torch.randn(2500, cfg["latent_dim"], generator=gen)
    status = None
    for epoch in range(cfg["iters"]):
        # Train Discriminator
        idx = torch.randint(0, DATA_POINTS, (d_batch,), generator=gen)
        imgs = X_train[idx]
        noise = torch.randn(d_batch, cfg["latent_dim"], generator=gen)
        gen_imgs = g_model.predict(noise)
        d_loss_real = d_model.train_on_batch(imgs, valid)
        d_loss_fake = d_model.train_on_batch(gen_imgs, fake)
        d_loss = [0.5 * (a + b) for a, b in zip(d_loss_real, d_loss_fake)]
        # Train Generator
        noise = torch.randn(batch, cfg["latent_dim"], generator=gen)
        for p in discriminator.parameters():  # frozen in the combined model
            p.requires_grad_(False)
        g_loss, _ = combined.train_on_batch(noise, g_valid)
        for p in discriminator.parameters():
            p.requires_grad_(True)
        if epoch % cfg["log_every"] == 0:
            # Keras-GAN's own print line, % formatting and all
            line = "%d [D loss: %f, acc.: %.2f%%] [G loss: %f]" % (epoch, d_loss[0], 100 * d_loss[1], g_loss)  # noqa: UP031
            f.write(line + "\n")
        if not (math.isfinite(d_loss[0]) and math.isfinite(g_loss)):
            status = "nan"
            break
        if snapshot is not None and (epoch + 1) % cfg["eval_every"] == 0:
            snapshot(epoch + 1, g_model.predict(fixed_noise) * scale)
    f.close()
    return status


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", choices=DATASETS, default="hex7")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    # gan.py's settings: Adam(0.0002, 0.5), batch 32, LeakyReLU(0.2), BN(0.8) in G, a print per iteration
    cfg = dict(data=a.data, lr_d=a.lr, lr_g=a.lr, beta1=0.5, latent_dim=100, widths=(256, 512), bn=True,
               alpha=0.2, d_dropout=0.0, out="tanh", batch=32, half_batch=False, iters=a.iters, log_every=1,
               eval_every=50, real_label=1.0, seed=a.seed)
    torch.set_num_threads(1)
    train(cfg, a.out)


if __name__ == "__main__":
    main()

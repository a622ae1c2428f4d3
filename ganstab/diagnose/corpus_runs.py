"""Making a labelled corpus of GAN runs: sampled configurations across losses, learning rates,
betas, `n_dis`, tricks and seeds on several data sets (`DATASETS`, `DRAWS`), trained as cohorts,
with each run's trace and its evaluations (metrics and mode histograms over time), written to a
corpus folder (`corpus_files`). The corpus data itself lives in the top-level `corpus/` folder.

Reproducible from its seed: `ganstab corpus --out DIR --seed 0` (docs/labels.md).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganstab.diagnose.corpus_files import (
    TRACE_COLUMNS,
    CorpusRun,
    append_runs,
    read_columns,
    read_records,
    runs_file,
)

# Data sets of the corpus: name -> (config overrides, steps, eval_every). "mixture6" is an
# irregular 6-Gaussian mixture, so that leave-one-data-set-out tests more than rings and grids.
DATASETS: dict[str, tuple[list[str], int, int]] = {
    "ring8": (["data.name=ring8"], 1500, 75),
    "grid25": (["data.name=grid25"], 1000, 50),
    "mixture6": (
        [
            "data.name=mixture",
            "data.centres=[[0, 0], [2.5, 0.5], [-1.5, 2], [-2, -1.5], [1, -2.5], [3, 3]]",
            "data.std=0.05",
        ],
        1000,
        50,
    ),
    "digits": (
        ["data.name=digits", "model.channels=16", "model.latent_dim=32", "data.n_eval=1000"],
        1000,
        50,
    ),
    # Stacked digits (issue 15 item 6): three digits in three channels, 1,000 modes, the image
    # relative of digits. 2,500 samples per evaluation (the engine's default) for a histogram over
    # 1,000 modes. Not in the shipped corpus: at CPU lengths its runs all but all oscillate, and
    # they cost digits-out LODO 0.087 (docs/labels.md).
    "stacked_digits": (["data.name=stacked_digits", "model.channels=16", "model.latent_dim=32"], 800, 50),
    # Siblings of the sets above (more modes, fewer modes, another scale), so that each data set
    # left out still has relatives to learn from: more data sets, not more runs of the four.
    "ring16": (["data.name=ring8", "data.n_modes=16"], 1500, 75),
    "grid9": (["data.name=grid25", "data.grid_size=3"], 1000, 50),
    "mixture10": (
        [
            "data.name=mixture",
            "data.centres=[[-4.5, -1], [-3, 3.5], [-1, -4], [0, 0.5], [1.5, 4.5], [2, -2], [4, 1], "
            "[4.5, -4], [-2, -1.5], [2.5, 2]]",
            "data.std=0.1",
        ],
        1000,
        50,
    ),
}


# The data sets of points (2-D mixtures, learnt by MLPs); the others are images.
POINT_DATASETS = tuple(d for d in DATASETS if d not in ("digits", "stacked_digits"))


# Sibling data set -> the data set whose *family* it belongs to: leaving a family out leaves the
# model no relative of it, the largest shift of data the corpus can show (bench/diagnosis_lodo.py,
# and the calibration's folds in calibration.out_of_fold).
SIBLINGS = {"ring16": "ring8", "grid9": "grid25", "mixture10": "mixture6", "stacked_digits": "digits"}


def family(dataset: str) -> str:
    """The corpus family of a data set (SIBLINGS): itself, or the data set it is a sibling of."""
    return SIBLINGS.get(dataset, dataset)


def _cost(overrides: list[str]) -> tuple[bool, int]:
    n_dis = next(int(o.split("=")[1]) for o in overrides if o.startswith("train.n_dis="))
    return "train.loss=wgan-gp" in overrides, n_dis


def sample_member(rng: random.Random) -> list[str]:
    """One configuration from the corpus space (every hyperparameter that keeps shapes)."""
    loss = rng.choice(["ns", "ns", "minimax", "hinge", "ls", "wgan-gp"])
    lr_d = 10 ** rng.uniform(-4.5, -2.3)
    lr_g = lr_d if rng.random() < 0.4 else 10 ** rng.uniform(-4.5, -2.3)
    out = [
        f"train.loss={loss}",
        f"train.lr_d={lr_d:.3g}",
        f"train.lr_g={lr_g:.3g}",
        f"train.beta1={rng.choice([0.0, 0.5, 0.5, 0.9])}",
        f"train.beta2={rng.choice([0.9, 0.999])}",
        f"train.n_dis={rng.choice([1, 1, 1, 2, 3])}",
        f"train.sn_d={str(rng.random() < 0.4).lower()}",
        f"train.sn_g={str(rng.random() < 0.2).lower()}",
        f"train.seed={rng.randrange(10**6)}",
    ]
    if loss in ("ns", "minimax", "ls") and rng.random() < 0.3:
        out.append("train.label_smoothing=0.9")
    if rng.random() < 0.3:
        out += [
            f"train.noise_std={10 ** rng.uniform(-1.5, 0):.3g}",
            f"train.noise_anneal={rng.choice([0.5, 1.0])}",
        ]
    return out


def sample_wgan_member(rng: random.Random) -> list[str]:
    """One WGAN-GP configuration as other people's code trains it (issue 15): the paper's 5 critic
    steps or fewer, Adam(0, 0.9) mostly, GP weights 0.1-10 (the plain draw keeps 10), learning rates
    down to 5e-5, mostly one for both networks, SN rarely. The plain draw's WGAN-GP runs end
    oscillating 240 times in 284; these cover the slow, still and converging runs it lacks."""
    lr_d = 10 ** rng.uniform(-4.3, -2.7)
    lr_g = lr_d if rng.random() < 0.7 else 10 ** rng.uniform(-4.3, -2.7)
    return [
        "train.loss=wgan-gp",
        f"train.gp_weight={10 ** rng.uniform(-1, 1):.3g}",
        f"train.lr_d={lr_d:.3g}",
        f"train.lr_g={lr_g:.3g}",
        f"train.beta1={rng.choice([0.0, 0.0, 0.5])}",
        f"train.beta2={rng.choice([0.9, 0.9, 0.999])}",
        f"train.n_dis={rng.choice([1, 2, 3, 5, 5])}",
        f"train.sn_d={str(rng.random() < 0.1).lower()}",
        "train.sn_g=false",
        f"train.seed={rng.randrange(10**6)}",
    ]


def sample_small_wgan_member(rng: random.Random) -> list[str]:
    """One member of a small WGAN-GP's first, short try (the `wgan-small` draw): the paper's
    Adam(0, 0.9) and 5 critic steps, one slow learning rate for both networks (5e-5 to 5e-4), GP
    weights 0.1-10. At that pace and 250 steps a small G has often not spread out of its starting
    blob yet (spread 0.1-0.4, still): a collapse that the plain and wgan draws, with wider nets
    and batches of 256, almost never show, and which the shipped model called oscillating."""
    lr = 10 ** rng.uniform(-4.3, -3.3)
    return [
        "train.loss=wgan-gp",
        f"train.gp_weight={10 ** rng.uniform(-1, 1):.3g}",
        f"train.lr_d={lr:.3g}",
        f"train.lr_g={lr:.3g}",
        "train.beta1=0.0",
        "train.beta2=0.9",
        f"train.n_dis={rng.choice([3, 5, 5])}",
        "train.sn_d=false",
        "train.sn_g=false",
        f"train.seed={rng.randrange(10**6)}",
    ]


def small_wgan_cohort(rng: random.Random) -> list[str]:
    """The shape a `wgan-small` cohort shares (a cohort's members share shapes): a 3-layer MLP of
    width 64, batches of 64 and a latent of 2 or 4, as a first 2-D GAN is often written."""
    return ["model.hidden=64", "model.layers=3", "train.batch_size=64", f"model.latent_dim={rng.choice([2, 4])}"]


@dataclass(frozen=True)
class Draw:
    """How a corpus seed draws its configurations: `member` samples one member's overrides, `tag`
    marks its run ids; a draw may fix its runs' length (`steps`, `eval_every`: the data set's
    otherwise, before --steps-scale and --eval-every) and the shapes each cohort shares (`cohort`,
    drawn from the stream of (seed, data set, cohort), so a resumed corpus draws the same), and
    name the data sets it is for (`data`; None: every one)."""

    member: Callable[[random.Random], list[str]]
    tag: str
    steps: int | None = None
    eval_every: int | None = None
    cohort: Callable[[random.Random], list[str]] | None = None
    data: tuple[str, ...] | None = None


# The plain draw's ids keep their old form ({dataset}-{seed}-{cohort}-{member}).
DRAWS: dict[str, Draw] = {
    "plain": Draw(sample_member, ""),
    "wgan": Draw(sample_wgan_member, "-wgan"),
    "wgan-small": Draw(
        sample_small_wgan_member, "-wgansmall", steps=250, eval_every=12, cohort=small_wgan_cohort,
        data=POINT_DATASETS,  # MLPs on points
    ),
}


def generate(
    out: Path,
    *,
    seed: int = 0,
    cohorts: dict[str, int] | None = None,
    cohort_size: int = 32,
    steps_scale: float = 1.0,
    eval_every: int | None = None,
    draw: str = "plain",
    progress: Callable[[str], None] = print,
) -> Path:
    """Train `cohorts[dataset]` cohorts of `cohort_size` sampled members per data set and write
    the corpus to `out` (appending cohorts already there are skipped, so a killed run resumes).
    `draw` names the sampler (DRAWS); `eval_every` replaces the data sets' own (short runs)."""
    cohorts = cohorts or {"ring8": 3, "grid25": 2, "mixture6": 2, "digits": 1}
    _check_request(cohorts, eval_every, draw)
    spec = DRAWS[draw]
    out.mkdir(parents=True, exist_ok=True)
    done = _done_cohorts(out)
    rng = random.Random(seed)
    for dataset, n in cohorts.items():
        base, steps, every = DATASETS[dataset]
        every = eval_every or spec.eval_every or every
        steps = max(every, int((spec.steps or steps) * steps_scale))
        # A cohort steps at the pace of its largest n_dis and pays for WGAN-GP's double backward
        # if any member uses it: group members by both.
        sampled = sorted((spec.member(rng) for _ in range(n * cohort_size)), key=_cost)
        for c in range(n):
            members = sampled[c * cohort_size : (c + 1) * cohort_size]
            if (dataset, draw, seed, c) in done:
                continue
            shapes = spec.cohort(random.Random(f"{seed}/{dataset}/{c}")) if spec.cohort else []
            common = [*base, *shapes, f"train.steps={steps}", f"train.eval_every={every}", "train.log_every=10"]
            start = time.perf_counter()
            runs = _train_cohort(dataset, draw, seed, c, common, shapes, members)
            append_runs(out, runs)
            progress(
                f"{dataset} cohort {c + 1}/{n}: {len(members)} runs in {time.perf_counter() - start:.0f} s"
            )
    return out


def _check_request(cohorts: dict[str, int], eval_every: int | None, draw: str) -> None:
    """Every argument of `generate` checked before anything is written."""
    if draw not in DRAWS:
        raise ValueError(f"Unknown corpus draw {draw!r}; choose from {', '.join(DRAWS)}.")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be a positive number of steps, but got {eval_every}.")
    spec = DRAWS[draw]
    for dataset in cohorts:
        if dataset not in DATASETS:
            raise ValueError(f"Unknown corpus data set {dataset!r}; choose from {', '.join(DATASETS)}.")
        if spec.data is not None and dataset not in spec.data:
            raise ValueError(
                f"The {draw!r} draw is for the data sets {', '.join(spec.data)}, not {dataset!r}; "
                "name its cohorts with --cohorts, e.g. ring8=1,grid9=1."
            )


def _done_cohorts(out: Path) -> set[tuple[str, str, int, int]]:
    """The cohorts already in the corpus at `out`, as (data set, draw, seed, index): several seeds
    and draws share one folder. Refuses a corpus of other columns before training, not after a
    cohort."""
    done = {
        (r["dataset"], r.get("draw", "plain"), _run_seed(r["id"]), r["cohort"])
        for r in read_records(runs_file(out))
    }
    if done and read_columns(out) != TRACE_COLUMNS:
        raise ValueError(
            f"Corpus {str(out)!r} holds traces with the columns {list(read_columns(out))}, but this "
            f"ganstab logs {list(TRACE_COLUMNS)}; write the new runs to a new corpus folder."
        )
    return done


def _train_cohort(
    dataset: str, draw: str, seed: int, c: int, common: list[str], shapes: list[str], members: list[list[str]]
) -> list[CorpusRun]:
    """Train one cohort of sampled members and return its runs."""
    from ganstab.engine import CohortTrainer, apply_overrides, preset

    configs = [apply_overrides(preset("vanilla"), [*common, *m]) for m in members]
    trainer = CohortTrainer(configs)
    trainer.train()
    return [
        CorpusRun(
            id=f"{dataset}{DRAWS[draw].tag}-{seed}-{c:02d}-{i:02d}",
            dataset=dataset,
            cohort=c,
            overrides=[*shapes, *m],
            evals=trainer.eval_log[i],
            diverged_at=trainer.ended_at[i] if trainer.status[i] == "diverged" else None,
            trace=trainer.member_trace(i)[:, : len(TRACE_COLUMNS)].astype(np.float32),
            draw=draw,
        )
        for i, m in enumerate(members)
    ]


def _run_seed(run_id: str) -> int:
    """The corpus seed inside a run id `{dataset}[-{draw tag}]-{seed}-{cohort}-{member}`."""
    return int(run_id.rsplit("-", 3)[1])


def draw_of(run_id: str) -> str:
    """The draw (DRAWS) that sampled a corpus run, read from its id's tag."""
    head = run_id.rsplit("-", 3)[0]
    return next((name for name, d in DRAWS.items() if d.tag and head.endswith(d.tag)), "plain")


def add_data_spread(path: str | Path) -> int:
    """Give an older corpus the `data_spread` column (after `g_drift`, as the engine logs it), or
    refresh its values: the data set's mean per-coordinate std, which the engine computes from the
    data alone (`trainer.data_spread`, the same on every device), so it is what a regenerated run
    logs. Safe to rerun after a crash. Returns the number of runs whose column changed."""
    from ganstab.engine import apply_overrides, preset
    from ganstab.engine import config as C
    from ganstab.engine.data import build_dataset, data_spread

    path = Path(path)
    names = read_columns(path)
    if "g_drift" not in names:
        raise ValueError(
            f"Corpus {str(path)!r} has no g_drift column to put data_spread after: {list(names)}."
        )
    at = names.index("g_drift") + 1
    new_names = names if "data_spread" in names else (*names[:at], "data_spread", *names[at:])
    col = new_names.index("data_spread")
    spread = {
        name: data_spread(build_dataset(C.resolve(apply_overrides(preset("vanilla"), base)).data))
        for name, (base, _, _) in DATASETS.items()
    }
    arrays = dict(np.load(path / "traces.npz"))
    changed = 0
    for meta in read_records(runs_file(path)):
        t, value = arrays[meta["id"]], np.float32(spread[meta["dataset"]])
        if t.shape[1] == len(new_names) - 1:  # not there yet
            t = np.insert(t, col, value, axis=1)
        elif t.shape[1] != len(new_names):
            raise ValueError(
                f"Corpus {str(path)!r}: run {meta['id']} has {t.shape[1]} columns, but columns.json "
                f"names {len(names)}."
            )
        elif (t[:, col] == value).all():
            continue
        t = t.copy()
        t[:, col] = value
        arrays[meta["id"]] = t
        changed += 1
    if changed:
        tmp = path / "traces.tmp.npz"
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path / "traces.npz")
    (path / "columns.json").write_text(json.dumps(list(new_names)))
    return changed

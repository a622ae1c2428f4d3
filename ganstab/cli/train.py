"""`ganstab train`: one run (or a cohort of K seeds as one network), its live line, summary and
each member's diagnosis."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganstab.cli._base import _BaseCommand, add_set_option
from ganstab.cli.display import LiveDisplay, summary_table
from ganstab.engine import config as C


def registries_epilog() -> str:
    """The losses, data sets and presets `train` knows, read from the engine's registries."""
    from ganstab.engine.dataset_registry import DATASETS
    from ganstab.engine.losses import LOSSES

    return (
        f"losses (train.loss):\n{LOSSES.describe()}\n\n"
        f"data sets (data.name):\n{DATASETS.describe()}\n\n"
        f"presets: {', '.join(C.PRESETS)} (vanilla: NS, no tricks; lessons: docs/lessons.md's default)\n\n"
        "examples:\n"
        "  ganstab train --preset lessons --set data.name=grid25 --cohort-size 4\n"
        "  ganstab train --config my.yaml --set train.lr_d=4e-4 --dry-run\n"
        "  ganstab train --resume runs/ring8-lessons-20261126-120000"
    )


class TrainCommand(_BaseCommand):
    help = "train a GAN (or a cohort of K seeds as one network)"
    formatter_class = argparse.RawDescriptionHelpFormatter
    how_to_continue = " `ganstab train --resume RUN_DIR` continues from the last checkpoint."

    @property
    def epilog(self) -> str:  # type: ignore[override]  # read from the registries when asked
        return registries_epilog()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        src = parser.add_mutually_exclusive_group()
        src.add_argument(
            "--config", type=Path, help="YAML config file (sections data, model, train), or zoo:NAME (shipped)"
        )
        src.add_argument("--preset", help=f"start from a preset: {', '.join(C.PRESETS)}")
        src.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its checkpoint")
        add_set_option(parser, "override a config value, e.g. train.lr_d=4e-4 (repeatable)")
        parser.add_argument(
            "--cohort-size",
            type=int,
            default=1,
            metavar="K",
            help="train K seeds (seed, seed+1, ...) as one batched network (default 1)",
        )
        parser.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (default runs/)")
        parser.add_argument("--name", help="run folder name (default: data-source-timestamp)")
        parser.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
        parser.add_argument("--quiet", action="store_true", help="no live display, only the final summary")
        parser.add_argument(
            "--no-diagnose", action="store_true", help="skip the diagnosis of each member at the end"
        )

    def take_action(self, args: argparse.Namespace) -> int:
        from rich.console import Console

        run_train_command(args, Console(soft_wrap=True))
        return 0


@dataclass
class TrainOutcome:
    """What `ganstab train` did (also `ganstab.api.train`'s answer)."""

    config: C.Config  # the resolved config (member 0's; members differ in seed)
    run_dir: Path | None  # None after a dry run
    summary: list[dict[str, Any]] = field(default_factory=list)  # per member: status, losses, eval_*
    diagnoses: list[str] = field(default_factory=list)  # per member, the words `train` prints
    trainer: Any = None  # the CohortTrainer (its samples, traces, member views); None after a dry run


def run_train_command(args: argparse.Namespace, console) -> TrainOutcome:
    """`ganstab train` on parsed arguments, shown on `console`: what the command and
    `ganstab.api.train` share."""
    if args.resume is not None:
        trainer = _resumed(args)
        console.print(f"Resuming [bold]{args.resume}[/] at step {trainer.step} of {trainer.steps}.")
    else:
        trainer = _new_trainer(args, console)
        if trainer is None:  # a dry run: the config is printed
            cfg, _ = _load_config(args)
            return TrainOutcome(C.resolve(cfg), None)
    display = LiveDisplay(console, trainer) if not args.quiet else None
    try:
        if display is not None:
            with display:
                summary = trainer.train(on_log=display.update)
        else:
            summary = trainer.train()
    finally:
        if trainer.evaluator.note:
            console.print(f"[yellow]{trainer.evaluator.note}[/]")
    console.print(summary_table(trainer, summary))
    diagnoses: list[str] = []
    if not args.no_diagnose:
        with console.status("Diagnosing each member from its trace..."):
            diagnoses = member_diagnoses(trainer)
        console.print("Diagnosis (from each member's trace; `ganstab diagnose RUN_DIR` explains it):")
        for m, text in zip(summary, diagnoses):
            console.print(f"  member {m['member']} (seed {m['seed']}): {text}", markup=False)
    console.print(f"Run folder: {trainer.run_dir}  (config, traces, samples, checkpoint, summary.json)")
    return TrainOutcome(trainer.cfg, Path(trainer.run_dir), summary, diagnoses, trainer)


def _load_config(args: argparse.Namespace) -> tuple[C.Config, str]:
    if args.config is not None:
        from ganstab.zoo import config_path  # `zoo:NAME`: a configuration ganstab ships

        path = config_path(args.config)
        cfg, source = C.load_yaml(path), path.stem
    elif args.preset is not None:
        cfg, source = C.preset(args.preset), args.preset
    else:
        cfg, source = C.Config(), "default"
    return C.apply_overrides(cfg, args.overrides), source


def _resumed(args: argparse.Namespace):
    """The run in --resume, continued; --set may only change train.steps."""
    from ganstab.engine.trainer import CohortTrainer

    steps = None
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key.strip() not in ("train.steps", "steps"):
            raise C.ConfigError(f"--resume accepts only --set train.steps=N, but got {item!r}.")
        steps = int(value)
    return CohortTrainer.resume(args.resume, steps=steps)


def _new_trainer(args: argparse.Namespace, console):
    """A trainer for a new run folder, or None after a dry run printed the resolved config."""
    from ganstab.engine.trainer import CohortTrainer

    cfg, source = _load_config(args)
    resolved = C.resolve(cfg)
    members = C.member_configs(cfg, args.cohort_size)  # refuses K < 1, dry run or not
    from ganstab.engine.user_networks import check_user_code

    check_user_code(resolved)  # your own networks and data: they import and fit, dry run or not
    if args.dry_run:
        console.print(f"# resolved config ({source}), cohort of {args.cohort_size}", style="dim")
        print(C.dump_yaml(resolved), end="")
        return None
    name = args.name or f"{resolved.data.name}-{source}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = args.out / name
    if (run_dir / "checkpoint.pt").exists():
        raise C.ConfigError(
            f"Run folder {str(run_dir)!r} already holds a run; use --resume or another --name."
        )
    trainer = CohortTrainer(members, run_dir)
    if trainer.networks_note:
        console.print(f"Your networks, a cohort of {args.cohort_size}: {trainer.networks_note}", markup=False)
    console.print(
        f"Training [bold]{args.cohort_size}[/] member(s) on [bold]{resolved.data.name}[/] "
        f"({resolved.train.loss} loss, {resolved.train.steps} steps, device {trainer.device}) "
        f"-> {run_dir}"
    )
    return trainer


def member_diagnoses(trainer) -> list[str]:
    """Each member's diagnosis from its trace in a few words (Diagnosis.verdict, as `ganstab
    diagnose` says it): "converging (confidence 0.93)", "uncertain: converging or oscillating
    (confidence 0.65)", "diverged at step N", or why it has none (a trace too short, a model that cannot load): a
    diagnosis that cannot be made never fails the finished run."""
    from ganstab.diagnose import diagnose_trace
    from ganstab.diagnose.classifier import MIN_ROWS

    out = []
    for i in range(trainer.k):
        if trainer.status[i] == "diverged":  # the trainer saw the NaN/Inf: no model needed
            out.append(f"diverged at step {trainer.ended_at[i]}")
            continue
        rows = trainer.member_trace(i)
        if len(rows) < MIN_ROWS:  # the classifier reads no fewer rows
            out.append(
                f"not diagnosed: {len(rows)} logged rows, the diagnosis needs {MIN_ROWS} "
                f"(train longer, or log more often: --set train.log_every=N)"
            )
            continue
        trace = {c: rows[:, j] for j, c in enumerate(trainer.columns)}
        try:
            d = diagnose_trace(trace)
        except Exception as e:  # shown, not raised: the run itself succeeded
            out.append(f"not diagnosed: {e}")
            continue
        if d is None:
            out.append("not diagnosed")
        else:  # the words `ganstab diagnose` and the search's notes print for the same diagnosis
            out.append(d.verdict)
    return out

"""`ganstab corpus`: generate a labelled corpus of runs for the diagnosis classifier."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstab.cli._base import _BaseCommand
from ganstab.diagnose.corpus_runs import DRAWS


class CorpusCommand(_BaseCommand):
    help = "generate a labelled corpus of runs (see docs/labels.md)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="corpus folder (resumes if it exists)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the sampled configurations")
        parser.add_argument("--cohort-size", type=int, default=32)
        parser.add_argument(
            "--cohorts",
            default="ring8=3,grid25=2,mixture6=2,digits=1",
            help="cohorts per data set, e.g. ring8=3,digits=1",
        )
        parser.add_argument(
            "--steps-scale",
            type=float,
            default=1.0,
            help="scale every run's length (evaluations stay as often: longer runs get more)",
        )
        parser.add_argument(
            "--eval-every",
            type=int,
            default=None,
            help="steps between evaluations (default: the draw's, else the data set's)",
        )
        parser.add_argument(
            "--draw",
            choices=tuple(DRAWS),
            default="plain",
            help="how configurations are sampled: plain (every loss), wgan (WGAN-GP as others train it), "
            "or wgan-small (short, slow first tries of a small WGAN-GP MLP)",
        )

    def take_action(self, args: argparse.Namespace) -> int:
        from ganstab.diagnose.corpus_runs import generate

        generate(
            args.out, seed=args.seed, cohorts=_cohorts(args.cohorts), cohort_size=args.cohort_size,
            steps_scale=args.steps_scale, eval_every=args.eval_every, draw=args.draw,
        )  # fmt: skip
        print(f"corpus written to {args.out}")
        return 0


def _cohorts(text: str) -> dict[str, int]:
    """--cohorts "ring8=3,digits=1" as {data set: cohorts}."""
    cohorts = {}
    for item in text.split(","):
        name, _, n = item.partition("=")
        try:
            cohorts[name.strip()] = int(n)
        except ValueError:
            raise ValueError(f"--cohorts must look like ring8=3,digits=1, but got {item!r}.") from None
    return cohorts

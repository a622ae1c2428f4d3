"""`ganstab recommend`: the best converging configuration for a data set, retrained across seeds,
written as a YAML that `ganstab train --config` accepts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ganstab.cli._base import _BaseCommand, add_set_option, add_storage_option


class RecommendCommand(_BaseCommand):
    help = "the best converging configurations for a data set, retrained across seeds; writes a YAML"
    description = (
        "Ranks the finished (converging, where diagnosed) runs of every study in --storage "
        "on --dataset, retrains the best --top distinct configurations on --reseed new seeds as one "
        "cohort, and writes the one with the best mean - std of the score. No history: the configuration "
        "ganstab ships for the data set (ganstab train --config zoo:NAME), labelled shipped, else the "
        "lessons default."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dataset", required=True, help="data set name (data.name)")
        add_storage_option(parser)
        parser.add_argument(
            "--reseed", type=int, default=3, metavar="N", help="new seeds per candidate (default 3)"
        )
        parser.add_argument("--workers", type=int, default=None, metavar="N",
                            help="processes to retrain in (default: one per CPU; one on a GPU)")  # fmt: skip
        parser.add_argument(
            "--top", type=int, default=3, metavar="K", help="distinct configurations to retrain (default 3)"
        )
        parser.add_argument("--steps", type=int, default=None, metavar="N", help="train.steps for the retraining")
        parser.add_argument(
            "--out", type=Path, default=None, help="YAML to write (default recommended-DATASET.yaml)"
        )
        parser.add_argument(
            "--runs", type=Path, default=Path("runs"), help="folder for the retraining run folders"
        )
        add_set_option(parser, "override a value of every retrained config, e.g. train.device=cpu")

    def take_action(self, args: argparse.Namespace) -> int:
        run_recommend_command(args, print)
        return 0


def run_recommend_command(args: argparse.Namespace, say: Callable[[str], None]):
    """`ganstab recommend` on parsed arguments, its progress and report through `say`; the
    Recommendation. What the command and `ganstab.api.recommend` share."""
    from ganstab.recommend import format_report, recommend

    out = args.out or Path(f"recommended-{args.dataset}.yaml")
    rec = recommend(args.dataset, storage=args.storage, reseed=args.reseed, top=args.top, steps=args.steps,
                    workers=args.workers, out=out, runs_dir=args.runs, overrides=args.overrides,
                    on_event=lambda e: say(e.message))  # fmt: skip
    say(format_report(rec))
    return rec

"""Command line: `ganstab train` (the diagnosis and search commands build on it).

One module per command, each a `_BaseCommand` that owns its arguments (`add_arguments`) and its
action (`take_action`); `_COMMANDS` lists them and `build_parser` walks it. Choices and help for
losses, data sets and presets are read from the engine's registries.
"""

from __future__ import annotations

import os
import sys

# Before torch loads: OpenMP threads that spin at barriers slow a small GAN 3-50x when another
# process holds a core (a search's other trials, a desktop). Passive waiting costs little alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402

from ganstab.cli._base import _BaseCommand  # noqa: E402
from ganstab.cli._parser import _CommandsFormatter, _Parser, hide_suppressed  # noqa: E402
from ganstab.cli.corpus import CorpusCommand  # noqa: E402
from ganstab.cli.dashboard import DashboardCommand  # noqa: E402
from ganstab.cli.diagnose import DiagnoseCommand, DiagnoseEvaluateCommand, DiagnoseTrainCommand  # noqa: E402
from ganstab.cli.recommend import RecommendCommand  # noqa: E402
from ganstab.cli.search import SearchCommand  # noqa: E402
from ganstab.cli.train import TrainCommand  # noqa: E402
from ganstab.engine import config as C  # noqa: E402

__all__ = ["build_parser", "main"]

# The commands in the order `ganstab --help` lists them; the hidden ones are reached as
# `ganstab diagnose train|evaluate`.
_COMMANDS: dict[str, type[_BaseCommand]] = {
    "train": TrainCommand,
    "diagnose": DiagnoseCommand,
    "diagnose-train": DiagnoseTrainCommand,
    "diagnose-evaluate": DiagnoseEvaluateCommand,
    "search": SearchCommand,
    "recommend": RecommendCommand,
    "dashboard": DashboardCommand,
    "corpus": CorpusCommand,
}


def build_parser() -> argparse.ArgumentParser:
    """The `ganstab` parser: one subparser per command in `_COMMANDS`, which adds its own arguments."""
    parser = _Parser(prog="ganstab", description="Stable GAN training.", formatter_class=_CommandsFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in _COMMANDS.items():
        cmd = command()
        cmd.add_arguments(sub.add_parser(name, **cmd.parser_options()))
    hide_suppressed(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["diagnose"] and argv[1:2] in (["train"], ["evaluate"]):
        argv = [f"diagnose-{argv[1]}", *argv[2:]]  # `ganstab diagnose train|evaluate`
    args = build_parser().parse_args(argv)
    command = _COMMANDS[args.command]()
    try:
        return command.take_action(args)
    except (C.ConfigError, ValueError, FileNotFoundError, _storage_error()) as e:
        print(f"ganstab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganstab: interrupted.{command.how_to_continue}", file=sys.stderr)
        return 130


def _storage_error() -> type[Exception]:
    from ganstab.storage import StorageError  # light: no torch, optuna or psycopg

    return StorageError

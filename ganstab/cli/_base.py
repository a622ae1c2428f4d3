"""What every `ganstab` command is: its texts in the help, the arguments it owns, its action."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_STORAGE = "sqlite:///ganstab.db"  # the search's default database


class _BaseCommand:
    """One command of `ganstab`. A subclass sets the texts its parser shows, adds its own
    arguments in `add_arguments` and runs in `take_action`, which returns the exit status. No
    other place knows its flags: `build_parser` only walks the `_COMMANDS` table."""

    help: str | None = None  # its line in `ganstab --help`; None: a hidden command
    description: str | None = None  # the text under its usage line
    epilog: str | None = None  # the text at the end of its help
    formatter_class: type[argparse.HelpFormatter] = argparse.HelpFormatter
    # what continues the command after Ctrl-C, said after "ganstab: interrupted."; '' when nothing
    how_to_continue: str = ""

    def parser_options(self) -> dict[str, Any]:
        """The keywords of its `add_parser` call (a hidden command's help is suppressed)."""
        options: dict[str, Any] = {"help": argparse.SUPPRESS if self.help is None else self.help}
        if self.description is not None:
            options["description"] = self.description
        if self.epilog is not None:
            options["epilog"] = self.epilog
        if self.formatter_class is not argparse.HelpFormatter:
            options["formatter_class"] = self.formatter_class
        return options

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments to its parser (none by default)."""

    def take_action(self, args: argparse.Namespace) -> int:
        """Run the command on the parsed arguments; the exit status."""
        raise NotImplementedError


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:  # noqa: A002 - argparse's word
    """`--set KEY=VALUE` (repeatable, into `args.overrides`): train, search and recommend take it,
    each with its own help."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_storage_option(parser: argparse.ArgumentParser) -> None:
    """--storage as search and recommend take it (the dashboard's is None unless given, so that
    its --config can set it)."""
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"SQLAlchemy URL (default {DEFAULT_STORAGE})"
    )

"""The argparse pieces every command's parser shares: a "did you mean" for a mistyped choice, and
a help column wide enough for the command names."""

from __future__ import annotations

import argparse
from typing import Any

from ganstab.engine.config import did_you_mean


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for a mistyped choice (`ganstab trian`, `--sampler tpw`);
    subcommand parsers are made of this class too."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return super()._check_value(action, value)
        if isinstance(action, argparse._SubParsersAction):  # the listed commands, not hidden ones
            shown = [a.dest for a in action._choices_actions]
            hint = did_you_mean(str(value), shown, quote="'")
            raise argparse.ArgumentError(
                None, f"unknown command {value!r}{hint}; choose from {', '.join(shown)}"
            )
        shown = [str(c) for c in action.choices]
        hint = did_you_mean(str(value), shown, quote="'")
        raise argparse.ArgumentError(
            action, f"invalid choice: {value!r}{hint}; choose from {', '.join(shown)}"
        )


class _CommandsFormatter(argparse.HelpFormatter):
    """argparse sizes the help column without the commands' extra indent, so that `recommend` and
    `dashboard` would get a line of their own; count it."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction) and action.help is not argparse.SUPPRESS:
            names = [len(a.dest) for a in action._choices_actions]
            longest = max(names, default=0) + self._current_indent + self._indent_increment
            self._action_max_length = max(self._action_max_length, longest)


def hide_suppressed(commands: argparse._SubParsersAction) -> None:
    """Hidden commands (reached as `ganstab diagnose train|evaluate`) out of the help, where
    argparse would list them as "==SUPPRESS==" and in the {choices} line."""
    commands._choices_actions = [a for a in commands._choices_actions if a.help != argparse.SUPPRESS]
    commands.metavar = "COMMAND"

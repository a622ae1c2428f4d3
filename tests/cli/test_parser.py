"""The `ganstab` parser built from the commands table: the listed and hidden commands, and a
"did you mean" for a mistyped command or choice."""

from __future__ import annotations

import re

import pytest

from ganstab.cli import main


def test_help_lists_the_commands_and_hides_the_hidden_ones():
    from ganstab.cli import build_parser

    text = build_parser().format_help()
    assert "==SUPPRESS==" not in text
    assert "diagnose-train" not in text and "diagnose-evaluate" not in text
    for name in ("train", "diagnose", "search", "recommend", "dashboard", "corpus"):
        assert re.search(rf"^    {name} +[a-z]", text, re.MULTILINE), (name, text)  # help beside it
    # still reachable, as `ganstab diagnose train|evaluate`
    assert build_parser().parse_args(["diagnose-evaluate"]).command == "diagnose-evaluate"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["trian"], "unknown command 'trian' (did you mean 'train'?); choose from train, diagnose,"),
        (["serach", "--trials", "2"], "unknown command 'serach' (did you mean 'search'?)"),
        (["search", "--sampler", "tpw"], "invalid choice: 'tpw' (did you mean 'tpe'?); choose from tpe,"),
    ],
)
def test_a_mistyped_command_or_choice_gets_a_did_you_mean(argv, expected, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert expected in capsys.readouterr().err

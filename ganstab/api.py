"""ganstab from Python (a notebook): `search`, `train`, `recommend` and `diagnose`, as the commands
do them.

    from ganstab import api
    out = api.search("quick", "points", overrides={"data.path": "hex6.npy", "train.steps": 2000},
                     trials=8, executor="local")
    out.recommendation.config          # the recommended Config (also written as YAML)
    run = api.train(preset="lessons", overrides=["data.name=grid25"], cohort_size=4)
    run.summary                        # per member: status, losses, eval_* metrics

Each function takes its command's options as keywords, spelt as on the command line with dashes
as underscores (`--cohort-size 4` -> `cohort_size=4`, `--no-recommend` -> `no_recommend=True`;
`ganstab search --help` lists them), and `overrides`, the `--set` values, as a dict
{key: value} or a list of "key=value" strings. The options go through the command's own parser,
checks and code (ganstab/cli/*.py: `run_search_command`, `run_train_command`,
`run_recommend_command`), so a bad value raises the exception whose message the command prints
(ValueError, ConfigError, SearchError, StorageError), never SystemExit. What the command shows is
printed here too (`quiet=True` keeps it quiet).

It sits at the cli layer (docs/architecture.md); `import ganstab` does not import it, and it
imports neither torch nor optuna until a function is called.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["diagnose", "recommend", "search", "train"]

Overrides = Mapping[str, Any] | Sequence[str] | None


def search(space: str = "quick", dataset: str | None = None, *, overrides: Overrides = None,
           quiet: bool = False, **options: Any):  # fmt: skip
    """`ganstab search --space SPACE --dataset DATASET --set ... OPTIONS`; its `SearchOutcome`:
    `study_name`, `storage`, `leaderboard` (the best trials, best first), `recommendation` (None
    with `no_recommend=True`) and the `dashboard` command. The study is in `storage`
    (default sqlite:///ganstab.db, as the command's); `executor="local"` trains in this process."""
    from ganstab.cli.search import run_search_command

    args = _arguments("search", {"space": space, "dataset": dataset, **options}, overrides)
    return run_search_command(args, _console(quiet))


def train(config: str | Path | None = None, *, preset: str | None = None, resume: str | Path | None = None,
          overrides: Overrides = None, quiet: bool = False, **options: Any):  # fmt: skip
    """`ganstab train [--config FILE | --preset NAME | --resume RUN_DIR] --set ... OPTIONS`; its
    `TrainOutcome`: the resolved `config`, `run_dir`, per-member `summary` and `diagnoses`, and
    the `trainer` (for samples). With `dry_run=True` only the resolved config, nothing trained.
    No live line (the command's --quiet); the summary and diagnoses are printed unless `quiet`."""
    from ganstab.cli.train import run_train_command

    values = {"config": config, "preset": preset, "resume": resume, "quiet": True, **options}
    return run_train_command(_arguments("train", values, overrides), _console(quiet))


def recommend(dataset: str, *, overrides: Overrides = None, quiet: bool = False, **options: Any):
    """`ganstab recommend --dataset DATASET --set ... OPTIONS`; its `Recommendation`: the chosen
    `config` (written to `out`, default recommended-DATASET.yaml), every candidate's per-seed
    scores (`candidates`, `best`), the seeds and where they trained."""
    from ganstab.cli.recommend import run_recommend_command

    args = _arguments("recommend", {"dataset": dataset, **options}, overrides)
    return run_recommend_command(args, (lambda _text: None) if quiet else print)


def diagnose(*paths: str | Path, quiet: bool = False, **options: Any) -> dict[str, Any]:
    """`ganstab diagnose PATH... OPTIONS`: {log name: its Diagnosis (`label`, `confidence`,
    `verdict`, `advice`, ...) or the text saying why it could not be labelled}. When no log could
    be labelled (the command's exit status 2) it raises ValueError with those texts."""
    from ganstab.cli.diagnose import run_diagnose_command

    args = _arguments("diagnose", options, None, positional=[str(p) for p in paths])
    results = run_diagnose_command(args, show=not quiet)
    errors = [text for _, text, _ in results if isinstance(text, str)]
    if results and len(errors) == len(results):
        raise ValueError("; ".join(errors))
    return {name: found for name, found, _ in results}


# ------------------------------------------------------------------------------------------ the path


def _console(quiet: bool):
    from rich.console import Console

    return Console(soft_wrap=True, quiet=quiet)


def set_strings(overrides: Overrides) -> list[str]:
    """`overrides` as the command's --set strings: a dict's values written as JSON (which YAML,
    and so `--set`, reads back as the same value); a list of "key=value" strings as it is."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise ValueError(
            f"overrides must be a dict or a list of key=value strings, but got the string {overrides!r}."
        )
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(str(v) if isinstance(v, Path) else v)}" for key, v in overrides.items()]
    return list(overrides)


def _arguments(
    command: str, values: Mapping[str, Any], overrides: Overrides, positional: Sequence[str] = ()
) -> argparse.Namespace:
    """The command's parsed arguments for keyword `values`, through the command's own parser (its
    types, choices and exclusive options): what the command line would give."""
    from ganstab.cli import _COMMANDS
    from ganstab.cli._parser import _Parser
    from ganstab.engine.config import did_you_mean

    class RaisingParser(_Parser):
        def error(self, message: str):  # argparse would print the usage and exit(2)
            raise ValueError(message)

    parser = RaisingParser(prog=f"ganstab {command}")
    _COMMANDS[command]().add_arguments(parser)
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}
    argv: list[str] = []
    for name, value in values.items():
        action = actions.get(name)
        if action is None or name == "overrides":
            options = sorted(a for a in actions if a != "overrides")
            raise TypeError(
                f"{command}() got an unexpected keyword argument {name!r}{did_you_mean(name, options, quote='')}; "
                f"its options: {', '.join(options)}, overrides."
            )
        flag = max(action.option_strings, key=len)
        if value is None:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ValueError(f"argument {flag}: must be True or False, but got {value!r}.")
            argv += [flag] if value else []
        else:
            argv.append(f"{flag}={value}")  # one word: a value that starts with "-" stays a value
    argv += [f"--set={item}" for item in set_strings(overrides)]
    return parser.parse_args([*argv, "--", *positional] if positional else argv)

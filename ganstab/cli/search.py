"""`ganstab search`: an Optuna study over cohorts, run by Ray (or in this process), its
leaderboard, and the recommendation at the end."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganstab.checks import whole_number
from ganstab.cli._base import _BaseCommand, add_set_option, add_storage_option
from ganstab.cli.display import SearchProgress, leaderboard_table
from ganstab.engine import config as C

# SearchSettings' fields as `ganstab search` spells them (SearchError.key -> the option)
SEARCH_OPTIONS = {
    "n_trials": "--trials", "cohort_size": "--cohort-size", "concurrent_cohorts": "--concurrent-cohorts",
    "study_name": "--study", "runs_dir": "--runs", "extra_overrides": "--set", "budget": "--budget",
    "timeout": "--timeout", "scheduler": "--scheduler", "sampler": "--sampler", "seed": "--seed",
    "storage": "--storage", "objective": "--objective",
}  # fmt: skip
INVALID_CONFIG = "--dataset and --set give an invalid config"  # the fixed values, as a whole


class SearchCommand(_BaseCommand):
    help = "search configurations with Optuna over cohorts; results in an SQL database"
    description = (
        "Each cohort member is an Optuna trial; the study lives in --storage, which "
        "optuna-dashboard can show as it is. Running the same command again continues the study."
    )
    how_to_continue = (
        " Run the same `ganstab search` command again to continue the study: its settled trials "
        "are kept, the interrupted ones run again."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--space", default="quick", help="search space: a YAML file or a name in search_spaces/")
        parser.add_argument(
            "--dataset", default=None, help="data set name, or a YAML config whose data section is used"
        )
        parser.add_argument(
            "--trials", type=int, default=24, help="trials to finish (COMPLETE, PRUNED or diverged)"
        )
        add_storage_option(parser)
        parser.add_argument("--study", default=None, help="study name (default: SPACE-DATASET)")
        parser.add_argument(
            "--scheduler",
            default="median",
            choices=("median", "asha"),  # driver.SCHEDULERS; the parser imports no optuna
            help="median: every trial trains to the end unless the median rule or the diagnosis prunes "
            "it; asha: successive halving inside each cohort, a pruned trial's slot going to a waiting "
            "trial (default median)",
        )
        parser.add_argument("--budget", type=int, default=None, metavar="STEPS",
                            help="start no trial once the study's trials trained this many member-steps")  # fmt: skip
        parser.add_argument("--timeout", type=float, default=None, metavar="MINUTES",
                            help="start no trial after this many minutes (running ones finish)")  # fmt: skip
        parser.add_argument("--sampler", default="tpe", choices=["tpe", "random", "cmaes", "gp"])
        parser.add_argument(
            "--cohort-size", type=int, default=4, metavar="K", help="trials trained as one network"
        )
        add_set_option(parser, "fix a config value for every trial (not a searched key)")
        parser.add_argument(
            "--runs", type=Path, default=Path("runs"), help="folder for run folders and artifacts"
        )
        parser.add_argument("--seed", type=int, default=0, help="sampler seed")
        parser.add_argument(
            "--objective",
            default=None,
            choices=("late-mean", "late-robust"),  # cohort.OBJECTIVES; the parser imports no optuna
            help="a finished trial's value from its last third of evaluations: their mean, or their mean "
            "minus their spread (prefers configurations that hold their quality); default: the study's, "
            "late-mean for a new study",
        )
        parser.add_argument("--no-prune", action="store_true", help="train every trial to the end")
        parser.add_argument("--no-diagnose", action="store_true", help="no diagnosis pruning or labels")
        parser.add_argument(
            "--no-recommend",
            action="store_true",
            help="skip the recommendation at the end (retraining the best configurations on 3 seeds)",
        )
        parser.add_argument(
            "--top", type=int, default=3, metavar="K",
            help="distinct configurations the recommendation retrains on --reseed new seeds (default 3)",
        )  # fmt: skip
        parser.add_argument(
            "--reseed", type=int, default=3, metavar="N",
            help="new seeds per configuration in the recommendation's seed check (default 3; more seeds "
            "see rarer failures, such as a configuration that drops a mode on one seed in ten)",
        )  # fmt: skip
        _add_executor_arguments(parser)

    def take_action(self, args: argparse.Namespace) -> int:
        from rich.console import Console

        run_search_command(args, Console(soft_wrap=True))
        return 0


@dataclasses.dataclass
class SearchOutcome:
    """What `ganstab search` did (also `ganstab.api.search`'s answer)."""

    study_name: str
    storage: str
    leaderboard: list[dict[str, Any]]  # the best trials, best first (search/leaderboard.py)
    recommendation: Any  # the Recommendation (recommend/candidates.py), None with --no-recommend
    dashboard: str  # the command that shows the study in optuna-dashboard


def run_search_command(args: argparse.Namespace, console) -> SearchOutcome:
    """`ganstab search` on parsed arguments: the checks, the search, its leaderboard and the
    recommendation, shown on `console`; what the command and `ganstab.api.search` share."""
    from ganstab.search.driver import run_search
    from ganstab.search.leaderboard import leaderboard
    from ganstab.search.space import find_space, load_space

    space = load_space(find_space(args.space))
    data_values, data_name = dataset_values(args.dataset)
    study_name = args.study or f"{space.name}-{data_name}"
    settings = search_settings(args, space, study_name, fixed_values(data_values, args.overrides))
    whole_number("--top", args.top)  # now, not after the search's minutes
    whole_number("--reseed", args.reseed)
    if args.executor != "ray" and (args.address or args.gpus_per_cohort):
        raise ValueError("--address and --gpus-per-cohort need --executor ray.")
    executor, settings = start_executor(args, settings, console, code=user_code_paths(space, settings))
    console.print(
        f"Search [bold]{study_name}[/]: space {space.name}, {args.trials} trials, cohorts of "
        f"{args.cohort_size} ({settings.concurrent_cohorts} at once), storage {args.storage}, "
        f"executor {args.executor}"
    )
    try:
        progress = SearchProgress(console, args.trials, done_before(args.storage, study_name))
        study = run_search(space, settings, executor=executor, on_event=progress)
    finally:
        if executor is not None:
            executor.close()
    show_leaderboard(console, study, study_name)
    rec = None
    if not args.no_recommend:
        data = space.config(args.overrides, values=data_values).data  # the searched data, --set included
        rec = recommend_after(console, args, data.name, factory=data.factory)
    dashboard = f"ganstab dashboard --storage {args.storage} --artifact-dir {args.runs / 'artifacts'}"
    console.print(f"Open the dashboard: {dashboard}  (then http://127.0.0.1:8080/dashboard)")
    return SearchOutcome(study_name, args.storage, leaderboard(study, top=10), rec, dashboard)


def _add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the cohorts run: Ray (a local instance or a cluster) or this process."""
    parser.add_argument(
        "--executor",
        default="ray",
        choices=["ray", "local"],
        help="ray: Ray Tune runs the cohorts (default); local: in this process",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster, HOST:PORT as `ray start --head --port PORT` prints it (RAY_ADDRESS "
        "works too); default: a local Ray instance. On the head's machine its token is found; from "
        "elsewhere set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (`ray get-auth-token` on the head)",
    )
    parser.add_argument(
        "--gpus-per-cohort",
        type=float,
        default=0.0,
        metavar="F",
        help="GPU share per cohort under Ray, e.g. 0.25 (bookkeeping: memory is not limited)",
    )
    parser.add_argument(
        "--cpus-per-cohort",
        type=float,
        default=1.0,
        metavar="F",
        help="CPUs Ray reserves per cohort (default 1); e.g. 0.5 fits two cohorts on a 1-CPU node",
    )
    parser.add_argument(
        "--concurrent-cohorts",
        type=int,
        default=None,
        metavar="N",
        help="cohorts run at once per round (default: as many as the Ray cluster fits, 1 with "
        "--executor local, which runs them one after another)",
    )


# ------------------------------------------------------------------------------------ settings


def dataset_values(dataset: str | None) -> tuple[dict[str, Any], str]:
    """--dataset NAME or a YAML config file: the data section's values {key: value} and a short
    name for the study."""
    if dataset is None:
        return {}, "default"
    path = Path(dataset)
    if path.suffix in (".yaml", ".yml"):
        items = C.flat_items(C.load_yaml(path))
        return {k: v for k, v in items.items() if k.startswith("data.") and v is not None}, path.stem
    from ganstab.engine.dataset_registry import DATASETS

    if dataset not in DATASETS:
        hint = C.did_you_mean(dataset, DATASETS, quote="'")
        raise ValueError(
            f"--dataset {dataset!r} is not a data set{hint}; choose one of {', '.join(DATASETS)}, "
            f"or give a .yaml config whose data section to use."
        )
    return {"data.name": dataset}, dataset


def fixed_values(data_values: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The values every trial's config gets: the data set's, then --set's (parsed here, once)."""
    try:
        return {**data_values, **C.parse_overrides(overrides)}
    except C.ConfigError as e:
        raise C.ConfigError(f"{INVALID_CONFIG}: {e}") from e


def search_settings(args: argparse.Namespace, space, study_name: str, fixed: dict[str, Any]):
    """The checked SearchSettings, checked against the space too, before Ray starts; an error
    names the command's option (--trials), not the settings' field (n_trials)."""
    from ganstab.search.settings import SearchError, SearchSettings, check_search

    concurrent = 1 if args.concurrent_cohorts is None else args.concurrent_cohorts  # Ray may raise it
    try:
        settings = SearchSettings(
            storage=args.storage, study_name=study_name, n_trials=args.trials, runs_dir=args.runs,
            sampler=args.sampler, seed=args.seed, cohort_size=args.cohort_size,
            concurrent_cohorts=concurrent, extra_overrides=fixed,
            prune=not args.no_prune, diagnose=not args.no_diagnose, scheduler=args.scheduler,
            objective=args.objective, budget=args.budget, timeout=args.timeout,
        )  # fmt: skip
        check_search(space, settings)
    except SearchError as e:
        named = in_options(e)
        if named is e:
            raise
        raise named from e
    return settings


def in_options(error: Exception) -> Exception:
    """A SearchError in the words of the command line: its `key` (the SearchSettings field it is
    about) named as the option (`n_trials ...` -> `--trials ...`); an invalid config from the
    fixed values as one line about --dataset and --set."""
    key = getattr(error, "key", None)
    if key == "extra_overrides" and isinstance(error.__cause__, C.ConfigError):
        return C.ConfigError(f"{INVALID_CONFIG}: {error.__cause__}")
    text = str(error)
    option = SEARCH_OPTIONS.get(key)
    if option is None or not text.startswith(key):
        return error
    return type(error)(option + text[len(key) :])


def user_code_paths(space, settings) -> list[str]:
    """The local folders and files of the user's networks and data factory that the config names
    (not installed packages): what Ray ships to its workers."""
    from ganstab.engine.user_code import code_paths

    return code_paths(space.config(settings.override_values))


def start_executor(args: argparse.Namespace, settings, console, code: list[str] = ()):  # type: ignore[assignment]
    """(the Ray executor, the settings with as many cohorts at once as its cluster fits unless
    --concurrent-cohorts says), or (None, settings) for --executor local. `code`: the user's code,
    shipped to every Ray worker (runtime_env py_modules)."""
    if args.executor != "ray":
        return None, settings
    from ganstab.search.ray_executor import RayExecutor

    executor = RayExecutor(address=args.address, gpus_per_cohort=args.gpus_per_cohort,
                           cpus_per_cohort=args.cpus_per_cohort, storage=settings.storage,
                           py_modules=code)  # fmt: skip
    if code:
        console.print(f"Your code goes to every Ray worker: {', '.join(code)}", markup=False)
    try:
        executor.check_storage(settings.storage)  # before any trial is asked
    except BaseException:
        executor.close()
        raise
    if args.concurrent_cohorts is None:  # as many cohorts at once as the cluster has slots
        settings = dataclasses.replace(settings, concurrent_cohorts=executor.slots)
    console.print(executor.summary())
    return executor, settings


def done_before(storage: str, study_name: str) -> int:
    """Trials of the study that already count toward --trials (a continued search), for the
    time-left estimate; 0 for a new study or a SQLite file not yet made (not created here)."""
    import optuna

    from ganstab.search.outcomes import counts_toward_budget
    from ganstab.storage.studies import open_optuna_storage
    from ganstab.storage.urls import why_empty

    if why_empty(storage) is not None:
        return 0
    opened = open_optuna_storage(storage, immediate=False)  # reads only: no write lock
    try:
        study = optuna.load_study(study_name=study_name, storage=opened)
    except KeyError:
        return 0
    finally:
        opened.engine.dispose()
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


# ------------------------------------------------------------------------------------ the end


def show_leaderboard(console, study, study_name: str) -> None:
    """The study's ten best trials, the caption saying how a score is made."""
    from ganstab.search.leaderboard import leaderboard
    from ganstab.search.study_identity import OBJECTIVE_ATTR

    robust = study.user_attrs.get(OBJECTIVE_ATTR) == "late-robust"
    console.print(leaderboard_table(leaderboard(study, top=10), study_name, robust=robust))


def recommend_after(console, args: argparse.Namespace, dataset: str, factory: str | None = None):
    """The recommendation for the searched data set: the --top best configurations on --reseed new
    seeds, written to recommended-DATASET.yaml."""
    from ganstab.recommend import format_report, recommend

    rec = recommend(dataset, storage=args.storage, reseed=args.reseed, top=args.top, out=Path(f"recommended-{dataset}.yaml"),
                    runs_dir=args.runs, overrides=args.overrides, on_event=lambda e: console.print(e.message),
                    factory=factory)  # fmt: skip
    console.print(format_report(rec))
    return rec

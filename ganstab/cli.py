"""Command line: `ganstab train` (the diagnosis and search commands build on it).

Choices and help for losses, data sets and presets are read from the engine's registries.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

# Before torch loads: OpenMP threads that spin at barriers slow a small GAN 3-50x when another
# process holds a core (a search's other trials, a desktop). Passive waiting costs little alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ganstab.diagnose.corpus_files import SHIPPED_CORPUS
from ganstab.diagnose.corpus_runs import DRAWS
from ganstab.engine import config as C


def _registries_epilog() -> str:
    from ganstab.engine.data import DATASETS
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


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for a mistyped choice (`ganstab trian`, `--sampler tpw`);
    subcommand parsers are made of this class too."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return super()._check_value(action, value)
        if isinstance(action, argparse._SubParsersAction):  # the listed commands, not hidden ones
            shown = [a.dest for a in action._choices_actions]
            hint = C.did_you_mean(str(value), shown, quote="'")
            raise argparse.ArgumentError(
                None, f"unknown command {value!r}{hint}; choose from {', '.join(shown)}"
            )
        shown = [str(c) for c in action.choices]
        hint = C.did_you_mean(str(value), shown, quote="'")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganstab", description="Stable GAN training.", formatter_class=_CommandsFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser(
        "train",
        help="train a GAN (or a cohort of K seeds as one network)",
        epilog=_registries_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = tr.add_mutually_exclusive_group()
    src.add_argument("--config", type=Path, help="YAML config file (sections data, model, train)")
    src.add_argument("--preset", help=f"start from a preset: {', '.join(C.PRESETS)}")
    src.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its checkpoint")
    tr.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. train.lr_d=4e-4 (repeatable)",
    )
    tr.add_argument(
        "--cohort-size",
        type=int,
        default=1,
        metavar="K",
        help="train K seeds (seed, seed+1, ...) as one batched network (default 1)",
    )
    tr.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (default runs/)")
    tr.add_argument("--name", help="run folder name (default: data-source-timestamp)")
    tr.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    tr.add_argument("--quiet", action="store_true", help="no live display, only the final summary")
    tr.add_argument("--no-diagnose", action="store_true", help="skip the diagnosis of each member at the end")

    dg = sub.add_parser(
        "diagnose",
        help="label runs or logs converging / collapsing / oscillating / diverged",
        description="Diagnose GAN runs from their loss logs. Also: `ganstab diagnose train` "
        "(retrain the classifier) and `ganstab diagnose evaluate` (score it).",
        epilog="inputs: a ganstab run folder, a CSV or JSONL log with step,d_loss,g_loss (optional "
        "d_real, d_fake, grad_norm_d, grad_norm_g, g_spread, g_drift, data_spread, g_move), or a "
        "TensorBoard event file/folder. Every log that can be labelled is; a log that cannot (too "
        "short, unreadable) is named on stderr. Exit status: 0 all labelled, 1 some not, 2 none. "
        "The evidence names are explained in docs/diagnosis.md.",
    )
    dg.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    dg.add_argument("--json", action="store_true", help="machine-readable output")
    dg.add_argument(
        "--model",
        default="auto",
        choices=["auto", "losses", "rich"],
        help="losses: d_loss/g_loss only; rich: ganstab traces; auto: rich when possible",
    )
    dg.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="COLUMN=TAG",
        help="log column or TensorBoard tag for a schema column, e.g. d_loss=train/lossD",
    )
    dg.add_argument("--min-rows", type=int, default=20, help="shortest log accepted (default and least: 20)")
    # What the user knows of their run, for the advice (advice.advice_for's context); a ganstab
    # run folder's config says it already, and these override it.
    dg.add_argument(
        "--data",
        choices=["mixtures", "images"],
        help="the kind of data, for the advice: mixtures (low-dimensional points such as 2-D Gaussian "
        "mixtures) or images (default: read from a ganstab run's config, else unknown)",
    )
    dg.add_argument(
        "--arch",
        choices=["mlp", "mlp-bn", "conv"],
        help="G's architecture, for the advice: mlp (an MLP without BatchNorm), mlp-bn (an MLP with "
        "BatchNorm) or conv (a conv net with BatchNorm) (default: from a ganstab run's config)",
    )
    dg.add_argument(
        "--loss",
        choices=["ns", "minimax", "ls", "hinge", "wgan-gp"],
        help="the GAN loss, for the advice: ns (BCE, non-saturating), minimax, ls (LSGAN), hinge or "
        "wgan-gp (default: from a ganstab run's config)",
    )

    dt = sub.add_parser("diagnose-train", help=argparse.SUPPRESS)
    dt.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS, help="labelled corpus folder")
    dt.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="also learn from the labelled runs of this ganstab database",
    )
    dt.add_argument("--no-corpus", action="store_true", help="train on --storage runs only")
    dt.add_argument("--out", type=Path, default=None, help="model folder (default: the shipped models)")
    de = sub.add_parser("diagnose-evaluate", help=argparse.SUPPRESS)
    de.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS, help="labelled corpus folder")
    de.add_argument("--model", default="losses", choices=["losses", "rich"])
    de.add_argument("--json", action="store_true")

    se = sub.add_parser(
        "search",
        help="search configurations with Optuna over cohorts; results in an SQL database",
        description="Each cohort member is an Optuna trial; the study lives in --storage, which "
        "optuna-dashboard can show as it is. Running the same command again continues the study.",
    )
    se.add_argument("--space", default="quick", help="search space: a YAML file or a name in search_spaces/")
    se.add_argument(
        "--dataset", default=None, help="data set name, or a YAML config whose data section is used"
    )
    se.add_argument("--trials", type=int, default=24, help="trials to finish (COMPLETE, PRUNED or diverged)")
    se.add_argument(
        "--storage", default="sqlite:///ganstab.db", help="SQLAlchemy URL (default sqlite:///ganstab.db)"
    )
    se.add_argument("--study", default=None, help="study name (default: SPACE-DATASET)")
    se.add_argument(
        "--scheduler",
        default="median",
        choices=("median", "asha"),  # driver.SCHEDULERS; the parser imports no optuna
        help="median: every trial trains to the end unless the median rule or the diagnosis prunes "
        "it; asha: successive halving inside each cohort, a pruned trial's slot going to a waiting "
        "trial (default median)",
    )
    se.add_argument("--budget", type=int, default=None, metavar="STEPS",
                    help="start no trial once the study's trials trained this many member-steps")  # fmt: skip
    se.add_argument("--timeout", type=float, default=None, metavar="MINUTES",
                    help="start no trial after this many minutes (running ones finish)")  # fmt: skip
    se.add_argument("--sampler", default="tpe", choices=["tpe", "random", "cmaes", "gp"])
    se.add_argument("--cohort-size", type=int, default=4, metavar="K", help="trials trained as one network")
    se.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fix a config value for every trial (not a searched key)",
    )
    se.add_argument("--runs", type=Path, default=Path("runs"), help="folder for run folders and artifacts")
    se.add_argument("--seed", type=int, default=0, help="sampler seed")
    se.add_argument(
        "--objective",
        default=None,
        choices=("late-mean", "late-robust"),  # cohort.OBJECTIVES; the parser imports no optuna
        help="a finished trial's value from its last third of evaluations: their mean, or their mean "
        "minus their spread (prefers configurations that hold their quality); default: the study's, "
        "late-mean for a new study",
    )
    se.add_argument("--no-prune", action="store_true", help="train every trial to the end")
    se.add_argument("--no-diagnose", action="store_true", help="no diagnosis pruning or labels")
    se.add_argument(
        "--no-recommend",
        action="store_true",
        help="skip the recommendation at the end (retraining the best configurations on 3 seeds)",
    )
    se.add_argument(
        "--top", type=int, default=3, metavar="K",
        help="distinct configurations the recommendation retrains on 3 new seeds (default 3)",
    )  # fmt: skip
    se.add_argument(
        "--executor",
        default="ray",
        choices=["ray", "local"],
        help="ray: Ray Tune runs the cohorts (default); local: in this process",
    )
    se.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster, HOST:PORT as `ray start --head --port PORT` prints it (RAY_ADDRESS "
        "works too); default: a local Ray instance. On the head's machine its token is found; from "
        "elsewhere set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (`ray get-auth-token` on the head)",
    )
    se.add_argument(
        "--gpus-per-cohort",
        type=float,
        default=0.0,
        metavar="F",
        help="GPU share per cohort under Ray, e.g. 0.25 (bookkeeping: memory is not limited)",
    )
    se.add_argument(
        "--concurrent-cohorts",
        type=int,
        default=None,
        metavar="N",
        help="cohorts run at once per round (default: as many as the Ray cluster fits, 1 with "
        "--executor local, which runs them one after another)",
    )

    rc = sub.add_parser(
        "recommend",
        help="the best converging configurations for a data set, retrained across seeds; writes a YAML",
        description="Ranks the finished (converging, where diagnosed) runs of every study in --storage "
        "on --dataset, retrains the best --top distinct configurations on --reseed new seeds as one "
        "cohort, and writes the one with the best mean - std of the score. No history: the lessons default.",
    )
    rc.add_argument("--dataset", required=True, help="data set name (data.name)")
    rc.add_argument(
        "--storage", default="sqlite:///ganstab.db", help="SQLAlchemy URL (default sqlite:///ganstab.db)"
    )
    rc.add_argument("--reseed", type=int, default=3, metavar="N", help="new seeds per candidate (default 3)")
    rc.add_argument("--workers", type=int, default=None, metavar="N",
                    help="processes to retrain in (default: one per CPU; one on a GPU)")  # fmt: skip
    rc.add_argument(
        "--top", type=int, default=3, metavar="K", help="distinct configurations to retrain (default 3)"
    )
    rc.add_argument("--steps", type=int, default=None, metavar="N", help="train.steps for the retraining")
    rc.add_argument("--out", type=Path, default=None, help="YAML to write (default recommended-DATASET.yaml)")
    rc.add_argument("--runs", type=Path, default=Path("runs"), help="folder for the retraining run folders")
    rc.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of every retrained config, e.g. train.device=cpu",
    )

    da = sub.add_parser(
        "dashboard",
        help="optuna-dashboard on the study database, with the trials' sample images",
        description="Serves optuna-dashboard (pip install optuna-dashboard plotly) on --storage with the "
        "search's artifact store, on 127.0.0.1 unless --host says otherwise. Settings come from the "
        "options, then --config (e.g. dashboards/ganstab.toml), then the defaults.",
    )
    da.add_argument("--storage", default=None, help="SQLAlchemy URL (default sqlite:///ganstab.db)")
    da.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
    da.add_argument("--port", type=int, default=None, help="TCP port (default 8080; 0: any free port)")
    da.add_argument(
        "--artifact-dir", type=Path, default=None, help="artifact folder (default runs/artifacts)"
    )
    da.add_argument("--config", type=Path, default=None, help="TOML settings, e.g. dashboards/ganstab.toml")
    da.add_argument("--quiet", action="store_true", default=None, help="no line per HTTP request")

    co = sub.add_parser("corpus", help="generate a labelled corpus of runs (see docs/labels.md)")
    co.add_argument("--out", type=Path, required=True, help="corpus folder (resumes if it exists)")
    co.add_argument("--seed", type=int, default=0, help="seed of the sampled configurations")
    co.add_argument("--cohort-size", type=int, default=32)
    co.add_argument(
        "--cohorts",
        default="ring8=3,grid25=2,mixture6=2,digits=1",
        help="cohorts per data set, e.g. ring8=3,digits=1",
    )
    co.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        help="scale every run's length (evaluations stay as often: longer runs get more)",
    )
    co.add_argument(
        "--eval-every", type=int, default=None, help="steps between evaluations (default: the draw's, else the data set's)"
    )
    co.add_argument(
        "--draw",
        choices=tuple(DRAWS),
        default="plain",
        help="how configurations are sampled: plain (every loss), wgan (WGAN-GP as others train it), "
        "or wgan-small (short, slow first tries of a small WGAN-GP MLP)",
    )
    # Hidden commands (reached as `ganstab diagnose train|evaluate`) out of the help, where argparse
    # would list them as "==SUPPRESS==" and in the {choices} line.
    sub._choices_actions = [a for a in sub._choices_actions if a.help != argparse.SUPPRESS]
    sub.metavar = "COMMAND"
    return parser



def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["diagnose"] and argv[1:2] in (["train"], ["evaluate"]):
        argv = [f"diagnose-{argv[1]}", *argv[2:]]  # `ganstab diagnose train|evaluate`
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "diagnose":
            return cmd_diagnose(args)
        if args.command == "diagnose-train":
            return cmd_diagnose_train(args)
        if args.command == "diagnose-evaluate":
            return cmd_diagnose_evaluate(args)
        if args.command == "corpus":
            return cmd_corpus(args)
        if args.command == "search":
            return cmd_search(args)
        if args.command == "recommend":
            return cmd_recommend(args)
        if args.command == "dashboard":
            return cmd_dashboard(args)
    except (C.ConfigError, ValueError, FileNotFoundError, _storage_error()) as e:
        print(f"ganstab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganstab: interrupted.{_how_to_continue(args.command)}", file=sys.stderr)
        return 130
    return 1


def _how_to_continue(command: str) -> str:
    """What continues an interrupted command, for the Ctrl-C line ('' when nothing does)."""
    if command == "search":
        return (
            " Run the same `ganstab search` command again to continue the study: its settled trials "
            "are kept, the interrupted ones run again."
        )
    if command == "train":
        return " `ganstab train --resume RUN_DIR` continues from the last checkpoint."
    return ""


def _storage_error() -> type[Exception]:
    from ganstab.storage import StorageError  # light: no torch, optuna or psycopg

    return StorageError


# ---------------------------------------------------------------------------------------- train


def _load_config(args: argparse.Namespace) -> tuple[C.Config, str]:
    if args.config is not None:
        cfg, source = C.load_yaml(args.config), args.config.stem
    elif args.preset is not None:
        cfg, source = C.preset(args.preset), args.preset
    else:
        cfg, source = C.Config(), "default"
    return C.apply_overrides(cfg, args.overrides), source


def cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ganstab.engine.trainer import CohortTrainer

    console = Console(soft_wrap=True)
    if args.resume is not None:
        steps = None
        for item in args.overrides:
            key, _, value = item.partition("=")
            if key.strip() not in ("train.steps", "steps"):
                raise C.ConfigError(f"--resume accepts only --set train.steps=N, but got {item!r}.")
            steps = int(value)
        trainer = CohortTrainer.resume(args.resume, steps=steps)
        console.print(f"Resuming [bold]{args.resume}[/] at step {trainer.step} of {trainer.steps}.")
    else:
        cfg, source = _load_config(args)
        resolved = C.resolve(cfg)
        members = C.member_configs(cfg, args.cohort_size)  # refuses K < 1, dry run or not
        if args.dry_run:
            console.print(f"# resolved config ({source}), cohort of {args.cohort_size}", style="dim")
            print(C.dump_yaml(resolved), end="")
            return 0
        name = args.name or f"{resolved.data.name}-{source}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = args.out / name
        if (run_dir / "checkpoint.pt").exists():
            raise C.ConfigError(
                f"Run folder {str(run_dir)!r} already holds a run; use --resume or another --name."
            )
        trainer = CohortTrainer(members, run_dir)
        console.print(
            f"Training [bold]{args.cohort_size}[/] member(s) on [bold]{resolved.data.name}[/] "
            f"({resolved.train.loss} loss, {resolved.train.steps} steps, device {trainer.device}) "
            f"-> {run_dir}"
        )
    display = _LiveDisplay(console, trainer) if not args.quiet else None
    try:
        if display is not None:
            with display:
                summary = trainer.train(on_log=display.update)
        else:
            summary = trainer.train()
    finally:
        if trainer.evaluator.note:
            console.print(f"[yellow]{trainer.evaluator.note}[/]")
    console.print(_summary_table(trainer, summary))
    if not args.no_diagnose:
        with console.status("Diagnosing each member from its trace..."):
            diagnoses = member_diagnoses(trainer)
        console.print("Diagnosis (from each member's trace; `ganstab diagnose RUN_DIR` explains it):")
        for m, text in zip(summary, diagnoses):
            console.print(f"  member {m['member']} (seed {m['seed']}): {text}", markup=False)
    console.print(f"Run folder: {trainer.run_dir}  (config, traces, samples, checkpoint, summary.json)")
    return 0


def member_diagnoses(trainer) -> list[str]:
    """Each member's diagnosis from its trace in a few words: "converging (confidence 0.93)",
    "diverged at step N", or why it has none (a trace too short, a model that cannot load): a
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
        elif d.probabilities:
            out.append(f"{d.label} (confidence {d.confidence:.2f})")
        else:
            out.append(d.label + (f" at step {d.diverged_at:g}" if d.diverged_at is not None else ""))
    return out


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _metric_keys(trainer) -> list[str]:
    return [f"eval_{c}" for c in trainer.evaluator.columns()] + ["eval_score"]


def _summary_table(trainer, summary: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(title=f"ganstab: {trainer.step} steps in {trainer.wall_time:.1f} s")
    for col in ("member", "seed", "status", "d_loss", "g_loss"):
        table.add_column(col, justify="right")
    keys = _metric_keys(trainer)
    for k in keys:
        table.add_column(k.removeprefix("eval_"), justify="right")
    for m in summary:
        status = m["status"] + (f" @ {m['diverged_at']}" if m["status"] == "diverged" else "")
        table.add_row(
            str(m["member"]),
            str(m["seed"]),
            status,
            _fmt(m.get("d_loss")),
            _fmt(m.get("g_loss")),
            *[_fmt(m.get(k)) for k in keys],
        )
    return table


def _duration(seconds: float) -> str:
    """A time left as a person reads it: '42 s', '3 min 05 s', '2 h 07 min'; '?' when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class _LiveDisplay:
    """Step, steps/s, losses and the latest metric, refreshed at each logged step."""

    def __init__(self, console, trainer) -> None:
        from rich.live import Live

        self.console, self.trainer = console, trainer
        self.live = (
            Live(console=console, refresh_per_second=4, transient=False) if console.is_terminal else None
        )
        self.last_print = 0.0

    def __enter__(self):
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def _line(self) -> str:
        t = self.trainer
        rate = t.step / max(t.wall_time, 1e-9)
        views = [t.member_view(i) for i in range(t.k)]
        running = [v for v in views if v["status"] == "running"] or views
        mean = lambda key: sum(v.get(key, math.nan) for v in running) / len(running)  # noqa: E731
        scores = [v["eval_score"] for v in views if "eval_score" in v and not math.isnan(v["eval_score"])]
        metric = f"best score {max(scores):.3f}" if scores else "no evaluation yet"
        diverged = sum(v["status"] == "diverged" for v in views)
        left = (t.steps - t.step) / rate if t.step > 0 else math.nan  # evaluations included in the rate
        return (
            f"step {t.step}/{t.steps}  {rate:.0f} steps/s ({rate * t.k:.0f} member-steps/s)  "
            f"{_duration(left)} left  "
            f"d_loss {mean('d_loss'):.3f}  g_loss {mean('g_loss'):.3f}  {metric}"
            + (f"  diverged {diverged}/{t.k}" if diverged else "")
        )

    def update(self, trainer) -> None:
        if self.live is not None:
            self.live.update(self._line())
        elif time.monotonic() - self.last_print > 10 or trainer.step == trainer.steps:
            self.console.print(self._line())  # not a terminal (CI, pipes): a line every 10 s
            self.last_print = time.monotonic()


# ------------------------------------------------------------------------------------ diagnose


def cmd_diagnose(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ganstab.diagnose.classifier import MIN_ROWS
    from ganstab.diagnose.logs import LogError, diagnose_log, read_logs
    from ganstab.diagnose.report import render_text, to_json

    if args.min_rows < MIN_ROWS:  # the classifier was trained on prefixes of at least this many rows
        raise ValueError(
            f"--min-rows must be at least {MIN_ROWS} (the fewest rows the classifier reads), "
            f"but got {args.min_rows}."
        )
    tags = {}
    for item in args.tag:
        column, sep, tag = item.partition("=")
        if not sep or not tag:
            raise ValueError(f"--tag must look like COLUMN=TAG, but got {item!r}.")
        tags[column.strip()] = tag.strip()
    data = {"mixtures": "2-D mixtures", "images": "images"}.get(args.data)
    context = {k: v for k, v in (("data", data), ("g", args.arch), ("loss", args.loss)) if v is not None}
    # One log that cannot be labelled (a member too short, a bad file among several) costs only
    # its own label: every other log is still diagnosed.
    results: list[tuple[str, object, list[str]]] = []  # (name, Diagnosis or error text, notes)
    for path in args.paths:
        try:
            logs = read_logs(path, tags=tags or None, min_rows=args.min_rows, keep_going=True)
        except LogError as e:
            results.append((str(path), str(e), []))
            continue
        for log in logs:
            try:
                results.append((log.name, diagnose_log(log, model=args.model, context=context), log.notes))
            except ValueError as e:  # a LogError names its file already; the model's errors don't
                text = str(e) if isinstance(e, LogError) else f"{log.name}: {e}"
                results.append((log.name, text, log.notes))
    errors = [text for _, text, _ in results if isinstance(text, str)]
    if args.json:
        print(to_json(results))
    else:
        console = Console(soft_wrap=True)
        for name, diagnosis, notes in results:
            if not isinstance(diagnosis, str):
                console.print(render_text(name, diagnosis, notes))
    for text in errors:
        print(f"ganstab: error: {text}", file=sys.stderr)
    if errors and len(errors) < len(results):
        print(f"ganstab: {len(errors)} of {len(results)} logs not labelled (above).", file=sys.stderr)
    return 0 if not errors else 2 if len(errors) == len(results) else 1


def cmd_diagnose_train(args: argparse.Namespace) -> int:
    from ganstab.diagnose.model_files import MODEL_DIR
    from ganstab.diagnose.training import train_shipped

    out = args.out or MODEL_DIR
    counts = train_shipped(None if args.no_corpus else args.corpus, out, storage=args.storage)
    print("training runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"trained the 'losses' and 'rich' models on the training split -> {out}")
    return 0


def cmd_diagnose_evaluate(args: argparse.Namespace) -> int:
    import json

    from ganstab.diagnose.evaluation import evaluate, format_scores

    results = evaluate(args.corpus, args.model)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"# model '{args.model}' on {args.corpus}")
    for name, s in results.items():
        print(format_scores(name, s))
        print()
    return 0


def _dataset_overrides(dataset: str | None) -> tuple[list[str], str]:
    """--dataset NAME or a YAML config file: the data-section overrides and a short name."""
    if dataset is None:
        return [], "default"
    path = Path(dataset)
    if path.suffix in (".yaml", ".yml"):
        cfg = C.load_yaml(path)
        data = C.flat_items(cfg)
        return [f"{k}={v}" for k, v in data.items() if k.startswith("data.") and v is not None], path.stem
    from ganstab.engine.data import DATASETS

    if dataset not in DATASETS:
        hint = C.did_you_mean(dataset, DATASETS, quote="'")
        raise ValueError(
            f"--dataset {dataset!r} is not a data set{hint}; choose one of {', '.join(DATASETS)}, "
            f"or give a .yaml config whose data section to use."
        )
    return [f"data.name={dataset}"], dataset


def _done_before(storage: str, study_name: str) -> int:
    """Trials of the study that already count toward --trials (a continued search), for the
    time-left estimate; 0 for a new study or a SQLite file not yet made (not created here)."""
    import optuna

    from ganstab.search.outcomes import counts_toward_budget
    from ganstab.storage import normalize_url
    from ganstab.storage.studies import open_optuna_storage

    url = normalize_url(storage)
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).expanduser().is_file():
        return 0
    opened = open_optuna_storage(storage, immediate=False)  # reads only: no write lock
    try:
        study = optuna.load_study(study_name=study_name, storage=opened)
    except KeyError:
        return 0
    finally:
        opened.engine.dispose()
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


class _SearchProgress:
    """The search's event lines; after each trial that counts toward --trials, how many are done,
    and once the cohorts under way have all reported, the time left at this run's pace (a cohort's
    trials settle together, so a per-trial pace would jump within a cohort)."""

    def __init__(self, console, n_trials: int, done_before: int) -> None:
        self.console, self.n_trials, self.done = console, n_trials, done_before
        self.settled = 0  # counted trials this run settled
        self.pending: set[int] = set()  # trials of the cohorts under way
        self.started = time.monotonic()

    def __call__(self, event) -> None:
        from ganstab.search.outcomes import COUNTED_FAIL_STATUSES

        message = event.message
        if event.kind == "cohort":
            self.pending.update(event.data.get("trials", ()))
        r = event.data.get("result") if event.kind == "trial" else None
        if r is not None:
            self.pending.discard(r.trial_number)
            counted = r.state != "FAIL" or r.status in COUNTED_FAIL_STATUSES
            self.settled += counted
            self.done += counted
            if counted or not self.pending:
                tail = f"{min(self.done, self.n_trials)}/{self.n_trials} done"
                if not self.pending and self.settled:
                    per_trial = (time.monotonic() - self.started) / self.settled
                    left = max(self.n_trials - self.done, 0) * per_trial
                    tail += f", about {_duration(left)} left"
                message += f"  [{tail}]"
        self.console.print(message, markup=False)


# SearchSettings' field names, as `ganstab search` spells them
_SEARCH_OPTIONS = {
    "n_trials": "--trials", "cohort_size": "--cohort-size", "concurrent_cohorts": "--concurrent-cohorts",
    "study_name": "--study", "runs_dir": "--runs", "extra_overrides": "--set", "budget": "--budget",
    "timeout": "--timeout", "scheduler": "--scheduler", "sampler": "--sampler", "seed": "--seed",
    "storage": "--storage", "objective": "--objective",
}  # fmt: skip


def _as_options(message: str) -> str:
    """A SearchSettings error in the words of the command line (`n_trials` -> `--trials`)."""
    return re.sub(r"\b(" + "|".join(_SEARCH_OPTIONS) + r")\b", lambda m: _SEARCH_OPTIONS[m.group(1)], message)


def cmd_search(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ganstab.search.driver import run_search
    from ganstab.search.leaderboard import leaderboard
    from ganstab.search.settings import SearchError, SearchSettings, check_search
    from ganstab.search.space import find_space, load_space
    from ganstab.search.study_identity import OBJECTIVE_ATTR

    console = Console(soft_wrap=True)
    space = load_space(find_space(args.space))
    data_overrides, data_name = _dataset_overrides(args.dataset)
    try:  # before Ray starts; the driver's own check would name its internal argument
        space.config([*data_overrides, *args.overrides])
    except C.ConfigError as e:
        raise C.ConfigError(f"--dataset and --set give an invalid config: {e}") from e
    study_name = args.study or f"{space.name}-{data_name}"
    if args.concurrent_cohorts is not None and args.concurrent_cohorts < 1:
        raise ValueError(
            f"--concurrent-cohorts must be a whole number >= 1, but got {args.concurrent_cohorts}."
        )
    if args.top < 1:  # now, not after the search's minutes
        raise ValueError(f"--top must be a whole number >= 1, but got {args.top}.")
    if args.executor != "ray" and (args.address or args.gpus_per_cohort):
        raise ValueError("--address and --gpus-per-cohort need --executor ray.")
    try:  # every setting is checked before Ray starts, and errors name the options
        settings = SearchSettings(
            storage=args.storage, study_name=study_name, n_trials=args.trials, runs_dir=args.runs,
            sampler=args.sampler, seed=args.seed, cohort_size=args.cohort_size,
            concurrent_cohorts=args.concurrent_cohorts or 1, extra_overrides=(*data_overrides, *args.overrides),
            prune=not args.no_prune, diagnose=not args.no_diagnose, scheduler=args.scheduler,
            objective=args.objective, budget=args.budget, timeout=args.timeout,
        )  # fmt: skip
        check_search(space, settings)
    except SearchError as e:
        raise SearchError(_as_options(str(e))) from e
    executor = None
    if args.executor == "ray":
        from ganstab.search.ray_executor import RayExecutor

        executor = RayExecutor(address=args.address, gpus_per_cohort=args.gpus_per_cohort)
        if args.concurrent_cohorts is None:  # as many cohorts at once as the cluster has slots
            settings = dataclasses.replace(settings, concurrent_cohorts=executor.slots)
        console.print(executor.summary())
    console.print(
        f"Search [bold]{study_name}[/]: space {space.name}, {args.trials} trials, cohorts of "
        f"{args.cohort_size} ({settings.concurrent_cohorts} at once), storage {args.storage}, "
        f"executor {args.executor}"
    )
    try:
        progress = _SearchProgress(console, args.trials, _done_before(args.storage, study_name))
        study = run_search(space, settings, executor=executor, on_event=progress)
    finally:
        if executor is not None:
            executor.close()
    board = leaderboard(study, top=10)
    robust = study.user_attrs.get(OBJECTIVE_ATTR) == "late-robust"
    table = Table(
        title=f"leaderboard: {study_name}",
        caption=f"score: {'mean minus spread of the' if robust else 'the mean'} quality score of a "
        "trial's last third of evaluations (mixtures: modes covered / all modes x HQ fraction, 1.0 = "
        "perfect); modes and HQ: its last evaluation",
    )
    for col in ("rank", "trial", "score", "modes", "HQ %", "params", "diagnosis"):
        table.add_column(col)
    for row in board:
        params = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in row["params"].items())
        last = row["metrics"]
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            _fmt(row["value"]),
            _fmt(last.get("eval_modes", "-")),
            _fmt(last.get("eval_hq", "-")),
            params,
            str(row.get("diagnosis") or "-"),
        )
    console.print(table)
    if not args.no_recommend:
        from ganstab.recommend import format_report, recommend

        dataset = space.config(data_overrides).data.name
        rec = recommend(dataset, storage=args.storage, reseed=3, top=args.top, out=Path(f"recommended-{dataset}.yaml"),
                        runs_dir=args.runs, overrides=args.overrides, on_event=lambda e: console.print(e.message))  # fmt: skip
        console.print(format_report(rec))
    console.print(
        f"Open the dashboard: ganstab dashboard --storage {args.storage} --artifact-dir {args.runs / 'artifacts'}"
        "  (then http://127.0.0.1:8080/dashboard)"
    )
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from ganstab.recommend import format_report, recommend

    out = args.out or Path(f"recommended-{args.dataset}.yaml")
    rec = recommend(args.dataset, storage=args.storage, reseed=args.reseed, top=args.top, steps=args.steps,
                    workers=args.workers,
                    out=out, runs_dir=args.runs, overrides=args.overrides, on_event=lambda e: print(e.message))  # fmt: skip
    print(format_report(rec))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ganstab.dashboard.server import serve

    serve(args.storage, host=args.host, port=args.port, artifact_dir=args.artifact_dir,
          config=args.config, quiet=args.quiet)  # fmt: skip
    return 0


def cmd_corpus(args: argparse.Namespace) -> int:
    from ganstab.diagnose.corpus_runs import generate

    cohorts = {}
    for item in args.cohorts.split(","):
        name, _, n = item.partition("=")
        try:
            cohorts[name.strip()] = int(n)
        except ValueError:
            raise ValueError(f"--cohorts must look like ring8=3,digits=1, but got {item!r}.") from None
    generate(
        args.out, seed=args.seed, cohorts=cohorts, cohort_size=args.cohort_size,
        steps_scale=args.steps_scale, eval_every=args.eval_every, draw=args.draw,
    )  # fmt: skip
    print(f"corpus written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`ganstab diagnose`: label runs or logs; and its hidden sub-actions `ganstab diagnose train`
(retrain the classifier) and `ganstab diagnose evaluate` (score it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganstab.cli._base import _BaseCommand
from ganstab.diagnose.corpus_files import SHIPPED_CORPUS


class DiagnoseCommand(_BaseCommand):
    help = "label runs or logs converging / collapsing / oscillating / diverged"
    description = (
        "Diagnose GAN runs from their loss logs. Also: `ganstab diagnose train` "
        "(retrain the classifier) and `ganstab diagnose evaluate` (score it)."
    )
    epilog = (
        "inputs: a ganstab run folder, a CSV or JSONL log with step,d_loss,g_loss (optional "
        "d_real, d_fake (also the DCGAN tutorial's D(x), D(G(z)), D_x, D_G_z1), grad_norm_d, "
        "grad_norm_g, g_spread, g_drift, data_spread, g_move), a "
        "TensorBoard event file/folder, or saved stdout with Keras-GAN's or PyTorch-GAN's printed "
        "lines (`0 [D loss: 0.69, acc.: 50.00%] [G loss: 0.71]`; D's accuracy is not read). "
        "Every log that can be labelled is; a log that cannot (too short, unreadable) is named on "
        "stderr. Exit status: 0 all labelled, 1 some not, 2 none. "
        "The evidence names are explained in docs/diagnosis.md. "
        "'uncertain: A or B' means that no label reached the confidence at which 95 % of the corpus's "
        "diagnoses of such logs were right (0.87 for a loss log); the truth is most likely A or B, or "
        "any of three where the log cannot rule the third out ('uncertain: A, B or C'), and "
        "the output says what to look at to decide (the sample grid, mode coverage), or give G's "
        "samples with --samples and --real. Logging D's outputs (D(x), D(G(z))) beside the losses "
        "lets the evidence say whether D is winning."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument(
            "--model",
            default="auto",
            choices=["auto", "losses", "rich"],
            help="losses: d_loss/g_loss only; rich: ganstab traces; auto: rich when possible",
        )
        parser.add_argument(
            "--tag",
            action="append",
            default=[],
            metavar="COLUMN=TAG",
            help="log column or TensorBoard tag for a schema column, e.g. d_loss=train/lossD",
        )
        parser.add_argument(
            "--min-rows", type=int, default=20, help="shortest log accepted (default and least: 20)"
        )
        # What the user knows of their run, for the advice (advice.advice_for's context); a
        # ganstab run folder's config says it already, and these override it.
        parser.add_argument(
            "--data",
            choices=["mixtures", "images"],
            help="the kind of data, for the advice: mixtures (low-dimensional points such as 2-D Gaussian "
            "mixtures) or images (default: read from a ganstab run's config, else unknown)",
        )
        parser.add_argument(
            "--arch",
            choices=["mlp", "mlp-bn", "conv"],
            help="G's architecture, for the advice: mlp (an MLP without BatchNorm), mlp-bn (an MLP with "
            "BatchNorm) or conv (a conv net with BatchNorm) (default: from a ganstab run's config)",
        )
        parser.add_argument(
            "--loss",
            choices=["ns", "minimax", "ls", "hinge", "wgan-gp"],
            help="the GAN loss, for the advice: ns (BCE, non-saturating), minimax, ls (LSGAN), hinge or "
            "wgan-gp (default: from a ganstab run's config)",
        )

        parser.add_argument(
            "--uses",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="what the run already uses, so the advice never adds it: optimizer (adam, rmsprop, "
            "sgd, ...), beta1, beta2, lr_d, lr_g, n_dis, sn_d, sn_g (true/false), label_smoothing (D's "
            "real target, e.g. 0.9), noise_std (instance noise); e.g. --uses beta1=0.5 --uses sn_d=true",
        )
        parser.add_argument(
            "--samples",
            type=Path,
            metavar="NPY",
            help="G's samples at successive evaluations (points: a .npy of shape (evaluations, samples, "
            "dims), or a folder of one .npy per evaluation): the label is then decided from them by "
            "docs/labels.md's rules, against --real (one PATH only)",
        )
        parser.add_argument("--real", type=Path, metavar="NPY", help="real data points (.npy, (points, dims)) for --samples")

    def take_action(self, args: argparse.Namespace) -> int:
        results = run_diagnose_command(args, show=True)
        errors = [text for _, text, _ in results if isinstance(text, str)]
        return 0 if not errors else 2 if len(errors) == len(results) else 1


def run_diagnose_command(args: argparse.Namespace, *, show: bool) -> list[tuple]:
    """`ganstab diagnose` on parsed arguments: (name, Diagnosis or error text, notes) per log,
    printed (and the errors on stderr) when `show`. What the command and `ganstab.api.diagnose`
    share."""
    from ganstab.diagnose.classifier import MIN_ROWS

    if args.min_rows < MIN_ROWS:  # the classifier was trained on prefixes of at least this many rows
        raise ValueError(
            f"--min-rows must be at least {MIN_ROWS} (the fewest rows the classifier reads), "
            f"but got {args.min_rows}."
        )
    from_samples = _from_samples(args)  # first: bad samples are refused before any work
    results = _diagnose_paths(args, _tags(args.tag), _context(args))
    if show:
        errors = [text for _, text, _ in results if isinstance(text, str)]
        _print_results(results, as_json=args.json, from_samples=from_samples)
        for text in errors:
            print(f"ganstab: error: {text}", file=sys.stderr)
        if errors and len(errors) < len(results):
            print(f"ganstab: {len(errors)} of {len(results)} logs not labelled (above).", file=sys.stderr)
    return results


def _tags(items: list[str]) -> dict[str, str]:
    """--tag COLUMN=TAG items as {column: tag}."""
    tags = {}
    for item in items:
        column, sep, tag = item.partition("=")
        if not sep or not tag:
            raise ValueError(f"--tag must look like COLUMN=TAG, but got {item!r}.")
        tags[column.strip()] = tag.strip()
    return tags


def _context(args: argparse.Namespace) -> dict:
    """What the user said of their run (--data, --arch, --loss, --uses), in the advice's words."""
    from ganstab.diagnose.context import parse_uses

    data = {"mixtures": "2-D mixtures", "images": "images"}.get(args.data)
    uses = parse_uses(args.uses) or None
    return {
        k: v for k, v in (("data", data), ("g", args.arch), ("loss", args.loss), ("uses", uses)) if v is not None
    }


def _from_samples(args: argparse.Namespace) -> dict | None:
    """{"label", "signals", "modes"} decided from --samples against --real (diagnose.samples)."""
    if args.samples is None and args.real is None:
        return None
    if args.samples is None or args.real is None:
        raise ValueError("--samples and --real go together: G's samples and the real data to compare them with.")
    if len(args.paths) != 1:
        raise ValueError(f"--samples belongs to one run: give one PATH, not {len(args.paths)}.")
    from ganstab.diagnose.samples import label_from_samples, load_points

    samples = load_points(args.samples, per_evaluation=True)
    real = load_points(args.real, per_evaluation=False)
    label, signals, modes = label_from_samples(samples, real)
    return {"label": label, "signals": signals, "modes": modes}


def _diagnose_paths(args: argparse.Namespace, tags: dict[str, str], context: dict[str, str]) -> list[tuple]:
    """(name, Diagnosis or error text, notes) per log. One log that cannot be labelled (a member
    too short, a bad file among several) costs only its own label: every other log is still
    diagnosed."""
    from ganstab.diagnose.logs import LogError, diagnose_log, read_logs

    results: list[tuple[str, object, list[str]]] = []
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
    return results


def _print_results(results: list[tuple], *, as_json: bool, from_samples: dict | None = None) -> None:
    import json

    from rich.console import Console

    from ganstab.diagnose.report import jsonable, render_text, samples_line, to_json

    if as_json:
        out = json.loads(to_json(results))
        if from_samples is not None:
            for item in out:
                item["from_samples"] = jsonable(from_samples)
        print(json.dumps(out, indent=2))
        return
    console = Console(soft_wrap=True)
    for name, diagnosis, notes in results:
        if not isinstance(diagnosis, str):
            console.print(render_text(name, diagnosis, notes))
            if from_samples is not None:
                console.print(samples_line(from_samples))


class DiagnoseTrainCommand(_BaseCommand):
    """`ganstab diagnose train` (hidden as its own command): retrain the shipped classifier."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS, help="labelled corpus folder")
        parser.add_argument(
            "--storage",
            default=None,
            metavar="URL",
            help="also learn from the labelled runs of this ganstab database",
        )
        parser.add_argument("--no-corpus", action="store_true", help="train on --storage runs only")
        parser.add_argument("--out", type=Path, default=None, help="model folder (default: the shipped models)")

    def take_action(self, args: argparse.Namespace) -> int:
        from ganstab.diagnose.model_files import MODEL_DIR
        from ganstab.diagnose.training import train_shipped

        out = args.out or MODEL_DIR
        counts = train_shipped(None if args.no_corpus else args.corpus, out, storage=args.storage)
        print("training runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"trained the 'losses' and 'rich' models on the training split -> {out}")
        return 0


class DiagnoseEvaluateCommand(_BaseCommand):
    """`ganstab diagnose evaluate` (hidden as its own command): score the classifier on a corpus."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS, help="labelled corpus folder")
        parser.add_argument("--model", default="losses", choices=["losses", "rich"])
        parser.add_argument("--json", action="store_true")

    def take_action(self, args: argparse.Namespace) -> int:
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

"""The shipped diagnosis per foreign script, as a user meets it (issue 30): every script of the
foreign benchmark (bench/foreign/data), the PyTorch DCGAN tutorial's loop and log on 2-D
mixtures (bench/foreign/tutorial_mlp.py, bench/foreign/data_tutorial) and Keras-GAN's gan.py loop
and printed log on them (bench/foreign/keras_style.py, bench/foreign/data_keras).

Every labelled run's log is read as a user would point `ganstab diagnose` at it (the tutorial's
CSV, `epoch,iter,Loss_D,Loss_G,D(x),D(G(z))` with an epoch-restarting counter, and Keras-GAN's
stdout, `model.summary()` then `%d [D loss: %f, acc.: %.2f%%] [G loss: %f]`, both *without*
`--tag`; the others with the tags their runs file names) and diagnosed by the shipped models (`auto`: the
losses model, since no log has ganstab's columns). The shipped models, their views, their
calibration and their uncertainty threshold were all fitted on ganstab's corpus alone, so every
figure here is one with the script left out of everything fitted. Reports, per script and over
all, as the issue counts them: macro-F1, accuracy, collapsing recall, the share answered with confidence
and the accuracy there, top-2 (the truth among the two likeliest) where uncertain and over all,
ECE (10 bins of the top probability); and how often the evidence says D wins, per label.

    python bench/foreign/generate.py --work /tmp/tut --seed 7 --draw tutorial --n 200 --minutes 14
    python bench/foreign/generate.py --work /tmp/tut --pack bench/foreign/data_tutorial
    python bench/foreign/generate.py --work /tmp/keras --seed 11 --draw keras --n 200 --minutes 15
    python bench/foreign/generate.py --work /tmp/keras --pack bench/foreign/data_keras
    python bench/diagnosis_scripts.py [--data bench/foreign/data bench/foreign/data_tutorial bench/foreign/data_keras]

`--models losses outputs` scores each log with each model named, side by side, into one file
{model: {script: ...}} and its predictions {model: [...]}, with each script's runs whose logs
carry D's outputs also on their own ("<script>, D outputs"). "outputs" (issue 30 item 3; not
shipped) is the model bench/diagnosis_outputs.py trained, read from --outputs-model with the
calibration in --outputs-result, on the logs that carry D's outputs, and the losses model on the
others (what `auto` would do were it shipped):

    python bench/diagnosis_outputs.py --model-out /tmp/diagnosis_outputs/outputs.skops
    python bench/diagnosis_scripts.py --data bench/foreign/data bench/foreign/data_tutorial \
        --models losses outputs --out bench/results/diagnosis_scripts/outputs.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from diagnosis_foreign import ece, extract_logs, load_runs, log_path  # noqa: E402

from ganstab.diagnose.classifier import MODELS, _objects, calibrate, missing_columns, named_labels  # noqa: E402
from ganstab.diagnose.evaluation import scores  # noqa: E402
from ganstab.diagnose.logs import diagnose_log, read_logs  # noqa: E402
from ganstab.diagnose.model_files import load_model  # noqa: E402
from ganstab.diagnose.result import DIVERGED, LABELS, Diagnosis  # noqa: E402


def user_log(root: Path, run_id: str) -> Path:
    """The file a user would point `ganstab diagnose` at: a saved stdout (`train.log`), else the
    run's CSV/JSONL file or TensorBoard folder."""
    printed = sorted((root / run_id).glob("*.log"))
    return printed[0] if printed else log_path(root, run_id)


def outputs_diagnosis(log, outputs: tuple) -> Diagnosis:
    """The unshipped outputs model's diagnosis of a log with D's outputs, as diagnose_trace makes
    one with a shipped model: calibrated (temperature), uncertain under its threshold, named labels;
    the evidence and advice as the losses model's diagnosis has them (they do not depend on it)."""
    clf, cal = outputs
    base = diagnose_log(log, model="losses")
    if base.label == DIVERGED:
        return base
    proba = calibrate(clf.predict_proba(_objects([log.trace]))[0], cal["temperature"])
    probabilities = {label: 0.0 for label in LABELS} | {str(c): float(p) for c, p in zip(clf.classes_, proba)}
    label = max(probabilities, key=probabilities.__getitem__)
    uncertain = probabilities[label] < cal["uncertain_below"]
    named = named_labels(probabilities, cal["third_label_from"]) if uncertain else []
    return replace(base, label=label, probabilities=probabilities, model="outputs", uncertain=uncertain, named=named)


def diagnose_runs(runs: list[dict], root: Path, models=("auto",), outputs: tuple | None = None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {m: [] for m in models}
    for r in runs:
        log = read_logs(user_log(root / r["data"], r["id"]), tags=r.get("tags") or None)[0]  # tutorial, keras: no tags
        for m in models:
            if m == "outputs":  # the losses model where the log has no D outputs (auto's choice)
                d = outputs_diagnosis(log, outputs) if not missing_columns(log.trace, "outputs") else diagnose_log(log, model="losses")
            else:
                d = diagnose_log(log, model=m)
            out[m].append({"id": r["id"], "script": r["script"], "label": r["label"], "predicted": d.label,
                           "probabilities": d.probabilities, "uncertain": d.uncertain, "top2": list(d.top_two),
                           "d_wins": d.evidence.get("d_wins"), "d_outputs": "d_real" in log.trace and "d_fake" in log.trace,
                           "model": d.model})
    return out


def table(preds: list[dict], with_outputs: bool = False) -> dict:
    """summary() over all runs and per script; with `with_outputs`, also of the runs whose logs carry
    D's outputs, over all and per script where some of its runs lack them."""
    res = {"all": summary(preds)}
    for script in sorted({q["script"] for q in preds}):
        res[script] = summary([q for q in preds if q["script"] == script])
    if with_outputs:
        outs = [q for q in preds if q["d_outputs"]]
        res["all, D outputs"] = summary(outs)
        for script in sorted({q["script"] for q in outs}):
            if res[script]["runs"] > res[script]["d_outputs_read"]:
                res[f"{script}, D outputs"] = summary([q for q in outs if q["script"] == script])
    return res


def summary(preds: list[dict]) -> dict:
    y, p = [q["label"] for q in preds], [q["predicted"] for q in preds]
    conf = np.array([max(q["probabilities"].values()) for q in preds])
    correct = np.array([a == b for a, b in zip(y, p)], dtype=float)
    sure = [q for q in preds if not q["uncertain"]]
    unsure = [q for q in preds if q["uncertain"]]
    collapsing = [q for q in preds if q["label"] == "collapsing"]
    res = {
        "runs": len(preds),
        "labels": {label: y.count(label) for label in LABELS},
        "scores": scores(y, p),
        "accuracy": float(correct.mean()),
        "collapsing_recall": float(np.mean([q["predicted"] == "collapsing" for q in collapsing])) if collapsing else None,
        "coverage": len(sure) / len(preds),
        "accuracy_confident": float(np.mean([q["label"] == q["predicted"] for q in sure])) if sure else None,
        "top2_uncertain": float(np.mean([q["label"] in q["top2"] for q in unsure])) if unsure else None,
        "top2_all": float(np.mean([q["label"] in q["top2"] for q in preds])),
        "d_outputs_read": sum(q["d_outputs"] for q in preds),
        "d_wins_by_label": {
            label: float(np.mean([q["d_wins"] == 1 for q in preds if q["label"] == label]))
            for label in LABELS if label in y
        },
        "models": sorted({q["model"] for q in preds}),
    }
    res["ece"], res["reliability"] = ece(conf, correct)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+",
                    default=[Path("bench/foreign/data"), Path("bench/foreign/data_tutorial"),
                             Path("bench/foreign/data_keras")])
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_scripts/all.json"))
    ap.add_argument("--models", nargs="+", default=["auto"], choices=["auto", *MODELS, "outputs"],
                    help="the models to score each log with, side by side (default: auto alone)")
    ap.add_argument("--outputs-model", type=Path, default=Path("/tmp/diagnosis_outputs/outputs.skops"))
    ap.add_argument("--outputs-result", type=Path, default=Path("bench/results/diagnosis_outputs/v6-outputs.json"),
                    help="bench/diagnosis_outputs.py's result: the outputs model's CALIBRATION")
    args = ap.parse_args()
    start = time.perf_counter()
    outputs = None
    if "outputs" in args.models:
        outputs = (load_model(args.outputs_model), json.loads(args.outputs_result.read_text())["CALIBRATION"])
    preds: dict[str, list[dict]] = {m: [] for m in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(args.data):
            runs = [{**r, "data": str(i)} for r in load_runs(data) if r["label"] in LABELS]
            extract_logs(data, Path(tmp) / str(i))
            for m, p in diagnose_runs(runs, Path(tmp), args.models, outputs).items():
                preds[m] += p
    one = len(args.models) == 1  # one model: the file as before, {script: ...}
    res = table(preds[args.models[0]]) if one else {m: table(p, with_outputs=True) for m, p in preds.items()}
    res["seconds"] = round(time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    # each run's calibrated probabilities: what a calibration fitted per script would start from
    args.out.with_name(args.out.stem + "-predictions.json").write_text(json.dumps(preds[args.models[0]] if one else preds) + "\n")
    for model, tab in ([(args.models[0], res)] if one else [(m, res[m]) for m in args.models]):
        for name, r in tab.items():
            if name != "seconds":
                show(f"[{model}] {name}", r)


def show(name: str, res: dict) -> None:
    s = res["scores"]
    print(f"{name}: {res['runs']} runs {res['labels']}: macro-F1 {s['macro_f1']:.3f}, accuracy {res['accuracy']:.3f}, "
          f"collapsing recall {res['collapsing_recall']}, coverage {res['coverage']:.2f}, "
          f"accuracy where confident {res['accuracy_confident']}, top-2 when uncertain {res['top2_uncertain']}, "
          f"top-2 all {res['top2_all']:.3f}, ECE {res['ece']:.3f}, D outputs read in {res['d_outputs_read']}, "
          f"d_wins by label {res['d_wins_by_label']}")


if __name__ == "__main__":
    main()

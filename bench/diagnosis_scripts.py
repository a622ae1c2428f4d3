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
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from diagnosis_foreign import ece, extract_logs, load_runs, log_path  # noqa: E402

from ganstab.diagnose.evaluation import scores  # noqa: E402
from ganstab.diagnose.logs import diagnose_log, read_logs  # noqa: E402
from ganstab.diagnose.result import LABELS  # noqa: E402


def user_log(root: Path, run_id: str) -> Path:
    """The file a user would point `ganstab diagnose` at: a saved stdout (`train.log`), else the
    run's CSV/JSONL file or TensorBoard folder."""
    printed = sorted((root / run_id).glob("*.log"))
    return printed[0] if printed else log_path(root, run_id)


def diagnose_runs(runs: list[dict], root: Path) -> list[dict]:
    out = []
    for r in runs:
        log = read_logs(user_log(root / r["data"], r["id"]), tags=r.get("tags") or None)[0]  # tutorial, keras: no tags
        d = diagnose_log(log)
        out.append({"id": r["id"], "script": r["script"], "label": r["label"], "predicted": d.label, "probabilities": d.probabilities,
                    "uncertain": d.uncertain, "top2": list(d.top_two), "d_wins": d.evidence.get("d_wins"),
                    "d_outputs": "d_real" in log.trace and "d_fake" in log.trace, "model": d.model})
    return out


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
    args = ap.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        preds: list[dict] = []
        for i, data in enumerate(args.data):
            runs = [{**r, "data": str(i)} for r in load_runs(data) if r["label"] in LABELS]
            extract_logs(data, Path(tmp) / str(i))
            preds += diagnose_runs(runs, Path(tmp))
    res = {"all": summary(preds)}
    for script in sorted({q["script"] for q in preds}):
        res[script] = summary([q for q in preds if q["script"] == script])
    res["seconds"] = round(time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    # each run's calibrated probabilities: what a calibration fitted per script would start from
    args.out.with_name(args.out.stem + "-predictions.json").write_text(json.dumps(preds) + "\n")
    for name, r in res.items():
        if name != "seconds":
            show(name, r)


def show(name: str, res: dict) -> None:
    s = res["scores"]
    print(f"{name}: {res['runs']} runs {res['labels']}: macro-F1 {s['macro_f1']:.3f}, accuracy {res['accuracy']:.3f}, "
          f"collapsing recall {res['collapsing_recall']}, coverage {res['coverage']:.2f}, "
          f"accuracy where confident {res['accuracy_confident']}, top-2 when uncertain {res['top2_uncertain']}, "
          f"top-2 all {res['top2_all']:.3f}, ECE {res['ece']:.3f}, D outputs read in {res['d_outputs_read']}, "
          f"d_wins by label {res['d_wins_by_label']}")


if __name__ == "__main__":
    main()

"""The diagnosis on other people's GANs: the foreign benchmark (bench/foreign/, issue 15).

Every labelled run of the benchmark is read from its own log (CSV, JSONL or TensorBoard, under its
own column names, as a user would point `ganstab diagnose --tag ...` at it) and diagnosed by the
shipped `losses` model and by `auto` (which picks the model from the columns: foreign logs have
only losses, so `auto` gives `losses` unless a log carried ganstab's own columns). Reports
macro-F1 overall and per script, the expected calibration error (ECE, 10 equal-width bins of the
top probability), a reliability plot, and macro-F1 over the confident runs with their share.
Never used to train or select a model: the shipped models learn from the shipped corpus alone
(tests/diagnose/test_foreign.py).

    python bench/diagnosis_foreign.py [--data bench/foreign/data] [--out bench/results/diagnosis_foreign]
    python bench/diagnosis_foreign.py --scripts mixtures_mlp wgan_gp dcgan_digits --name shipped-three

`--scripts` keeps the runs of those scripts only (e.g. the three of the first sessions, to compare
with their figures once the stacked-digits DCGAN joined).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from ganstab.diagnose.classifier import choose_model, diagnose_trace
from ganstab.diagnose.evaluation import scores
from ganstab.diagnose.logs import read_logs
from ganstab.diagnose.model_files import load_model
from ganstab.diagnose.result import LABELS


def load_runs(data: Path) -> list[dict]:
    """The benchmark's runs (id, script, config, tags, label, signals)."""
    return [json.loads(line) for line in gzip.decompress((data / "runs.jsonl.gz").read_bytes()).splitlines()]


def extract_logs(data: Path, into: Path) -> Path:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress((data / "logs.tar.gz").read_bytes()))) as tar:
        tar.extractall(into, filter="data")
    return into


def log_path(root: Path, run_id: str) -> Path:
    """The run's log as a user would name it: its CSV/JSONL file, or its TensorBoard folder."""
    folder = root / run_id
    files = [p for p in folder.iterdir() if p.suffix in (".csv", ".jsonl")]
    return files[0] if files else folder


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error over equal-width bins of the top probability, and the bins."""
    edges = np.linspace(0, 1, bins + 1)
    out, total = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (confidence > lo) & (confidence <= hi)
        if m.any():
            gap = abs(float(correct[m].mean()) - float(confidence[m].mean()))
            total += m.mean() * gap
            out.append(
                {"bin": [float(lo), float(hi)], "n": int(m.sum()), "confidence": float(confidence[m].mean()),
                 "accuracy": float(correct[m].mean())}
            )
    return float(total), out


def diagnose_all(runs: list[dict], root: Path, model: str, models: Path | None = None) -> list[dict]:
    """Diagnose every run's log; with `models` (a folder of older skops files) their classifiers,
    uncalibrated, as they were shipped."""
    out, loaded = [], {}
    for r in runs:
        log = read_logs(log_path(root, r["id"]), tags=r["tags"])[0]
        clf = None
        if models is not None:
            kind = choose_model(log.trace) if model == "auto" else model
            if kind not in loaded:  # each file read once, not once per run
                loaded[kind] = load_model(models / f"{kind}.skops")
            clf = loaded[kind]
        d = diagnose_trace(log.trace, model=model, classifier=clf)
        out.append({"id": r["id"], "script": r["script"], "label": r["label"], "predicted": d.label,
                    "probabilities": d.probabilities, "uncertain": bool(getattr(d, "uncertain", False)),
                    "model": d.model, "rows": d.rows})
    return out


def by_script(y: list[str], p: list[str], scripts: list[str]) -> dict:
    """Scores over all runs ("all") and over each script's runs."""
    res = {"all": scores(y, p)}
    for script in sorted(set(scripts)):
        idx = [i for i, s in enumerate(scripts) if s == script]
        res[script] = scores([y[i] for i in idx], [p[i] for i in idx])
    return res


def summarise(preds: list[dict]) -> dict:
    y, p = [q["label"] for q in preds], [q["predicted"] for q in preds]
    res = by_script(y, p, [q["script"] for q in preds])
    conf = np.array([max(q["probabilities"].values()) for q in preds])
    correct = np.array([a == b for a, b in zip(y, p)], dtype=float)
    res["ece"], res["reliability"] = ece(conf, correct)
    sure = [q for q in preds if not q["uncertain"]]
    res["coverage"] = len(sure) / max(1, len(preds))
    res["confident"] = scores([q["label"] for q in sure], [q["predicted"] for q in sure]) if sure else None
    return res


def plot_reliability(res: dict, path: Path, title: str) -> None:
    """A reliability diagram drawn with Pillow (the project has no plotting library): per bin of the
    top probability, the share of runs diagnosed right (bars; run count above) against the
    diagonal of perfect calibration."""
    from PIL import Image, ImageDraw

    size, left, bottom, top, right = 360, 44, 36, 26, 12
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    w, h = size - left - right, size - top - bottom

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + x * w, top + (1 - y) * h

    draw.rectangle([xy(0, 1), xy(1, 0)], outline=(0, 0, 0))
    draw.line([xy(0, 0), xy(1, 1)], fill=(150, 150, 150), width=1)
    for b in res["reliability"]:
        lo, hi = b["bin"]
        draw.rectangle([xy(lo + 0.01, b["accuracy"]), xy(hi - 0.01, 0)], fill=(31, 119, 180))
        draw.ellipse([xy(b["confidence"], b["accuracy"])[0] - 3, xy(b["confidence"], b["accuracy"])[1] - 3,
                      xy(b["confidence"], b["accuracy"])[0] + 3, xy(b["confidence"], b["accuracy"])[1] + 3],
                     fill=(214, 39, 40))
        draw.text((xy(lo, b["accuracy"])[0] + 4, xy(lo, b["accuracy"])[1] - 12), str(b["n"]), fill=(0, 0, 0))
    for v in (0, 0.5, 1):
        draw.text((xy(v, 0)[0] - 8, size - bottom + 4), f"{v:g}", fill=(0, 0, 0))
        draw.text((4, xy(0, v)[1] - 6), f"{v:g}", fill=(0, 0, 0))
    draw.text((left, size - 16), "top probability (bars: share right; dot: their mean top prob.)", fill=(0, 0, 0))
    draw.text((left, 6), f"{title}: ECE {res['ece']:.3f}", fill=(0, 0, 0))
    img.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("bench/foreign/data"))
    ap.add_argument("--out", type=Path, default=Path("bench/results/diagnosis_foreign"))
    ap.add_argument("--name", default="shipped", help="file name stem of the results")
    ap.add_argument("--models", type=Path, help="a folder of older skops models to score instead (uncalibrated)")
    ap.add_argument("--scripts", nargs="+", metavar="SCRIPT", help="only the runs of these scripts")
    args = ap.parse_args()
    start = time.perf_counter()
    runs = [r for r in load_runs(args.data) if r["label"] in LABELS]
    if args.scripts:
        known = {r["script"] for r in runs}
        if unknown := sorted(set(args.scripts) - known):
            ap.error(f"--scripts: no labelled runs of {', '.join(unknown)}; the benchmark has {', '.join(sorted(known))}")
        runs = [r for r in runs if r["script"] in args.scripts]
    counts = {label: sum(r["label"] == label for r in runs) for label in LABELS}
    result = {"runs": len(runs), "labels": counts, "per script": {}}
    for r in runs:
        result["per script"].setdefault(r["script"], {label: 0 for label in LABELS})[r["label"]] += 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = extract_logs(args.data, Path(tmp))
        for model in ("losses", "auto"):
            # auto picks the losses model for a log with only losses: then its diagnoses are the same
            if model == "auto" and not any(
                choose_model(read_logs(log_path(root, r["id"]), tags=r["tags"])[0].trace) != "losses" for r in runs
            ):
                result["auto"] = result["losses"]
                result["auto picked"] = "losses for every log"
                continue
            preds = diagnose_all(runs, root, model, args.models)
            result[model] = summarise(preds)
            if model == "losses":
                plot_reliability(result[model], args.out / f"{args.name}-reliability.png", "losses model")
                (args.out / f"{args.name}-predictions.json").write_text(json.dumps(preds) + "\n")
    result["seconds"] = round(time.perf_counter() - start)
    for model in ("losses", "auto"):
        r = result[model]
        per = ", ".join(f"{s} {r[s]['macro_f1']:.3f}" for s in result["per script"])
        conf = r["confident"]["macro_f1"] if r["confident"] else float("nan")
        print(f"{model}: macro-F1 {r['all']['macro_f1']:.3f} ({per}); ECE {r['ece']:.3f}; "
              f"confident {conf:.3f} at coverage {r['coverage']:.2f}")
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

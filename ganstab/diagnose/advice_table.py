"""The corpus's advice table (issue 15): for runs labelled X in the corpus (ground truth), each
single change (SN on D, a lower learning rate, TTUR, ...) scored by how its *neighbours* fared:
runs on the same data set with the same loss, networks and batch size (a corpus draw's cohort
shape), and learning rates within a factor ~2 (`NEIGHBOUR_DECADES`) that have the change, against
such neighbours that do not. Computed when the shipped models are trained and kept in
models/fitted.json (ADVICE_TABLE); advice.py reads it."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ganstab.diagnose.advice import CHANGES
from ganstab.diagnose.context import CONTEXTS, LABEL_LOSSES, LOSS_KINDS, loss_key
from ganstab.diagnose.corpus_runs import POINT_DATASETS

# Neighbours: learning rates within this many decades (0.35: a factor of about 2.2).
NEIGHBOUR_DECADES = 0.35
MIN_RUNS = 10  # runs labelled X that must have neighbours both ways before a change is scored
MIXTURES = POINT_DATASETS  # the corpus's 2-D data sets


def _config(overrides: Iterable[str]) -> dict[str, float | str | bool]:
    cfg: dict[str, float | str | bool] = {
        "loss": "ns", "sn_d": False, "sn_g": False, "label_smoothing": 1.0, "noise_std": 0.0, "n_dis": 1,
    }
    # the networks' and batches' shape (a draw's cohort shape, corpus_runs.Draw): runs are neighbours
    # only within one shape, as a small net's short runs are not a wide net's
    cfg["shape"] = ",".join(sorted(o for o in overrides if o.startswith(("model.", "train.batch_size="))))
    for o in overrides:
        key, _, value = o.partition("=")
        key = key.removeprefix("train.")
        if key in ("sn_d", "sn_g"):
            cfg[key] = value == "true"
        elif key == "loss":
            cfg[key] = value
        elif key in ("lr_d", "lr_g", "beta1", "label_smoothing", "noise_std", "n_dis"):
            cfg[key] = float(value)
    return cfg


def _has(change: str, c: dict) -> bool:
    if change == "sn_d":
        return bool(c["sn_d"])
    if change == "sn_g":
        return bool(c["sn_g"])
    if change == "label_smoothing":
        return c["label_smoothing"] < 1.0
    if change == "instance_noise":
        return c["noise_std"] > 0
    if change == "ttur":
        return c["lr_d"] >= 2 * c["lr_g"]
    if change == "lower_beta1":
        return c["beta1"] <= 0.5
    raise KeyError(change)


def _close(a: float, b: float) -> bool:
    return abs(math.log10(a) - math.log10(b)) <= NEIGHBOUR_DECADES


def _neighbours(change: str, r: dict, s: dict) -> bool | None:
    """True: s is r with the change; False: s is a neighbour without it; None: not comparable."""
    if r["dataset"] != s["dataset"] or r["loss"] != s["loss"] or r["shape"] != s["shape"] or r is s:
        return None
    if change == "lower_lr":
        if not (_close(r["lr_d"], s["lr_d"]) or s["lr_d"] <= r["lr_d"] / 2) or not (
            _close(r["lr_g"], s["lr_g"]) or s["lr_g"] <= r["lr_g"] / 2
        ):
            return None
        lower = r["lr_d"] / 10 <= s["lr_d"] <= r["lr_d"] / 2 and r["lr_g"] / 10 <= s["lr_g"] <= r["lr_g"] / 2
        same = _close(r["lr_d"], s["lr_d"]) and _close(r["lr_g"], s["lr_g"])
        return True if lower else False if same else None
    if change == "more_d_steps":
        if not (_close(r["lr_d"], s["lr_d"]) and _close(r["lr_g"], s["lr_g"])):
            return None
        return True if s["n_dis"] > r["n_dis"] else False if s["n_dis"] == r["n_dis"] else None
    if change == "ttur":  # same G rate, D's at least twice G's
        if not _close(r["lr_g"], s["lr_g"]):
            return None
        return _has("ttur", s)
    if change == "label_smoothing" and r["loss"] not in LABEL_LOSSES:
        return None
    if not (_close(r["lr_d"], s["lr_d"]) and _close(r["lr_g"], s["lr_g"])):
        return None
    return _has(change, s)


def _applicable(change: str, r: dict) -> bool:
    """Whether the change is a change for run r (it does not have it already)."""
    if change in ("lower_lr", "more_d_steps"):
        return change != "more_d_steps" or r["n_dis"] < 3
    if change == "label_smoothing" and r["loss"] not in LABEL_LOSSES:
        return False
    return not _has(change, r)


def advice_table(runs: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """{context: {label: [row per change, best first]}} from corpus runs, each a dict with
    `dataset`, `label` (ground truth), `overrides`; each context also once per loss
    (`loss_key`), from that loss's runs alone. A row: change, runs (runs labelled X that had
    neighbours both ways), with / without (neighbours), and the converged share of each (mean over
    the runs of their neighbours' share, so a run with many neighbours does not outweigh others)."""
    rows = [{**_config(r["overrides"]), "dataset": r["dataset"], "label": r["label"]} for r in runs]
    by_data: dict[str, list[dict]] = {}
    for s in rows:
        by_data.setdefault(s["dataset"], []).append(s)
    table: dict[str, dict[str, list[dict]]] = {}
    for context, loss in [(c, None) for c in CONTEXTS] + [(c, x) for c in CONTEXTS for x in LOSS_KINDS]:
        key = context if loss is None else loss_key(context, loss)
        table[key] = {}
        for label in ("collapsing", "oscillating"):
            out = []
            for change in CHANGES:
                n_runs, with_share, without_share, with_ids, without_ids = 0, [], [], set(), set()
                for r in rows:
                    if r["label"] != label or not _in(context, r["dataset"]) or not _applicable(change, r):
                        continue
                    if loss is not None and r["loss"] != loss:  # neighbours share r's loss already
                        continue
                    yes, no = [], []
                    for i, s in enumerate(by_data[r["dataset"]]):
                        side = _neighbours(change, r, s)
                        if side is True:
                            yes.append((i, s))
                        elif side is False:
                            no.append((i, s))
                    if yes and no:
                        n_runs += 1
                        with_share.append(sum(s["label"] == "converging" for _, s in yes) / len(yes))
                        without_share.append(sum(s["label"] == "converging" for _, s in no) / len(no))
                        with_ids |= {(r["dataset"], i) for i, _ in yes}
                        without_ids |= {(r["dataset"], i) for i, _ in no}
                if n_runs >= MIN_RUNS:
                    w, wo = sum(with_share) / n_runs, sum(without_share) / n_runs
                    out.append({"change": change, "runs": n_runs, "with": len(with_ids), "without": len(without_ids),
                                "converged_with": round(w, 3), "converged_without": round(wo, 3),
                                "uplift": round(w - wo, 3)})
            table[key][label] = sorted(out, key=lambda row: -row["uplift"])
    return table


def _in(context: str, dataset: str) -> bool:
    if context == "any":
        return True
    return (dataset in MIXTURES) == (context == "2-D mixtures")

"""The stability classifier: a scikit-learn pipeline (TraceFeatures -> boosting + random forest) with
probabilities, trained on a labelled corpus, persisted with skops and shipped in the package.

Two models: "losses" sees only `d_loss` and `g_loss` (anybody's logs); "rich" also sees D's
outputs, gradient norms, G's spread against the data's and how far G's fixed-latent samples move
between evaluations (`g_move`): ganstab's own traces. Runs whose losses turn NaN/Inf are
`diverged` by rule, never by the classifier. A third kind, "outputs" (the losses and D's outputs
as probabilities, d_outputs.py), can be trained and measured (bench/diagnosis_outputs.py) but is
not shipped: on foreign logs its confident answers were right less often than the losses model's
(issue 30 item 3; bench/RESULTS.md).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.pipeline import Pipeline

from ganstab.diagnose.d_outputs import OUTPUT_COLUMNS, OutputFeatures, output_trace
from ganstab.diagnose.d_wins import D_WINS_ROWS, d_output_probabilities, d_wins_evidence
from ganstab.diagnose.features import LOSS_COLUMNS, RICH_COLUMNS, TraceFeatures, trace_data_spread
from ganstab.diagnose.late_signals import (
    CYCLE_POWER,
    MOVE_MIN_VALUES,
    cycle_rows,
    move_windows_rows,
    start_and_late_rows,
)
from ganstab.diagnose.model_files import MODEL_DIR, fitted, load_model
from ganstab.diagnose.result import DIVERGED, LABELS, Diagnosis
from ganstab.diagnose.views import VIEWS, foreign_view, view

# The columns each kind of model reads; MODELS: the kinds shipped (`auto` chooses between them).
KINDS = {"losses": LOSS_COLUMNS, "outputs": (*LOSS_COLUMNS, *OUTPUT_COLUMNS), "rich": RICH_COLUMNS}
MODELS = {k: KINDS[k] for k in ("losses", "rich")}
# What a trace needs for each model: the rich model also reads the data's spread (a constant
# column) and `g_move` (evaluation rows only), columns of ganstab's traces since corpus v3, so
# older ganstab traces get "losses".
REQUIRED = {"losses": LOSS_COLUMNS, "outputs": KINDS["outputs"], "rich": (*RICH_COLUMNS, "data_spread", "g_move")}
MIN_ROWS = 20
# Finite values a column needs before a model may read it: `g_move` gets one per evaluation, and
# its late levels need three (MOVE_LEVELS); before that a live run gets "losses". The outputs model
# reads D's outputs as a series, so a log that has them on a few rows only gets "losses".
MIN_FINITE = {"rich": {"g_move": MOVE_MIN_VALUES}, "outputs": {"d_real": MIN_ROWS, "d_fake": MIN_ROWS}}
TRAIN_PREFIXES = (0.3, 0.5, 0.75, 1.0)  # each run is also learned from its prefixes
# The losses model also learns each prefix as other programs would log it (views.py): this many
# views drawn at random per (run, prefix), besides the trace as logged (issue 15).
VIEWS_PER_PREFIX = {"losses": 6, "outputs": 6, "rich": 0}
# ... and this many foreign views (views.foreign_view: a log interval, interval means, smoothing,
# D's loss as a mean and a shift at once, drawn at random), since a foreign log differs from
# ganstab's in several ways at once (bench/RESULTS.md, "Foreign benchmark"). Four since the
# canonical features (two before): with both canonical forms, leave-one-family-out 0.900 -> 0.906
# against block means alone, the other LODO figures within 0.003 (bench/RESULTS.md).
FOREIGN_VIEWS_PER_PREFIX = {"losses": 4, "outputs": 4, "rich": 0}
# The columns a foreign view keeps beside step and the losses: the outputs model's foreign logs
# have D's outputs (as probabilities: `training_trace`).
FOREIGN_KEEP = {"outputs": OUTPUT_COLUMNS}
# The models calibrated for foreign logs (their views and foreign views, training.train_shipped).
CALIBRATED = ("losses", "outputs")


def make_pipeline(kind: str = "losses", seed: int = 0) -> Pipeline:
    return Pipeline(
        [
            # levels on: the corpus spans NS, minimax, hinge, LS and WGAN-GP, and the late loss
            # values lifted held-out macro-F1 of the losses model from 0.53 to 0.75 (docs/labels.md)
            # g_move's levels (rich model): on corpus v3 they lifted held-out macro-F1 from 0.918
            # to 0.948 and left leave-one-data-set-out where it was (0.885 / 0.886; bench/RESULTS.md)
            # collapse: each loss against its own start and its slow cycles (COLLAPSE_LEVELS),
            # signatures of collapse in anybody's log (issue 15; bench/RESULTS.md), their cycles
            # read against white noise of the log's length (short foreign logs; bench/RESULTS.md)
            # canonical: most of these features again on the log cut into 20 blocks, as block
            # means and as each block's last value, which hold across logging intervals; with four
            # foreign views: view agreement 0.941 -> 0.950, leave-one-family-out 0.895 -> 0.906
            # on corpus v6 (bench/RESULTS.md, fifteenth session)
            # outputs: the losses model's features (the same configuration) and D's outputs
            # (d_outputs.OutputFeatures), for logs that carry them (issue 30 item 3)
            (
                "features",
                (OutputFeatures if kind == "outputs" else TraceFeatures)(
                    columns=LOSS_COLUMNS if kind == "outputs" else KINDS[kind],
                    levels=True,
                    move=kind == "rich",
                    collapse=kind in CALIBRATED,
                    cycles_over_noise=kind in CALIBRATED,
                    canonical=("mean", "last") if kind in CALIBRATED else (),
                ),
            ),
            # Boosting and a random forest, probabilities averaged: on corpus v1 this lifted the
            # rich model from 0.80 to 0.85 macro-F1 held-out and 0.80 to 0.82 leave-one-data-set-
            # out, and left the losses model where it was (0.83 / 0.75; bench/RESULTS.md).
            (
                "classifier",
                VotingClassifier(
                    [
                        (
                            "boosting",
                            HistGradientBoostingClassifier(
                                max_iter=300,
                                learning_rate=0.05,
                                max_leaf_nodes=15,
                                l2_regularization=1.0,
                                class_weight="balanced",
                                random_state=seed,
                            ),
                        ),
                        (
                            "forest",
                            RandomForestClassifier(
                                n_estimators=100, max_depth=8, class_weight="balanced", random_state=seed
                            ),
                        ),
                    ],
                    voting="soft",
                ),
            ),
        ]
    )


def truncate(trace: dict[str, np.ndarray], fraction: float) -> dict[str, np.ndarray]:
    """The first `fraction` of a trace's rows (a run diagnosed part-way through)."""
    n = len(trace["d_loss"])
    end = max(MIN_ROWS, int(round(n * fraction)))
    return {k: np.asarray(v)[:end] for k, v in trace.items()}


def training_trace(trace: dict[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    """A corpus trace as `kind` learns it: the outputs model's with D's outputs as probabilities
    (d_outputs.output_trace), so that its views average probabilities as foreign logs do."""
    return output_trace(trace) if kind == "outputs" else trace


def train_views(trace: dict[str, np.ndarray], kind: str, key: str) -> list[dict[str, np.ndarray]]:
    """A training trace (one prefix of a run) as logged, VIEWS_PER_PREFIX[kind] views of it drawn
    at random (seeded by `key`, so training is reproducible) that keep MIN_ROWS rows, and
    FOREIGN_VIEWS_PER_PREFIX[kind] foreign views (seeded by `key` too). The outputs model draws
    the same views as the losses model, of its training_trace."""
    trace = training_trace(trace, kind)
    out = [trace]
    n = VIEWS_PER_PREFIX.get(kind, 0)
    if n:
        rng = np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
        others = [v for v in VIEWS if v != "as logged"]
        for name in rng.choice(others, size=n, replace=False):
            v = view(trace, str(name), rng)
            if len(v["d_loss"]) >= MIN_ROWS:
                out.append(v)
    if m := FOREIGN_VIEWS_PER_PREFIX.get(kind, 0):
        # a stream of its own: the single views above stay the ones earlier models learned from
        rng = np.random.default_rng(int(hashlib.sha256(f"{key}/foreign".encode()).hexdigest()[:8], 16))
        keep = FOREIGN_KEEP.get(kind, ())
        out += [v for v in (foreign_view(trace, rng, MIN_ROWS, keep) for _ in range(m)) if len(v["d_loss"]) >= MIN_ROWS]
    return out


def augment(
    traces: Sequence[dict],
    labels: Sequence[str],
    prefixes=TRAIN_PREFIXES,
    kind: str = "rich",
    ids: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every trace at each prefix, and (the losses model) views of each prefix."""
    xs, ys = [], []
    ids = ids if ids is not None else [str(i) for i in range(len(traces))]
    for t, y, run_id in zip(traces, labels, ids):
        for p in prefixes:
            for v in train_views(truncate(t, p), kind, f"{run_id}/{p}"):
                xs.append(v)
                ys.append(y)
    return _objects(xs), np.array(ys)


def _objects(items: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def fit(
    traces: Sequence[dict],
    labels: Sequence[str],
    kind: str = "losses",
    seed: int = 0,
    ids: Sequence[str] | None = None,
) -> Pipeline:
    x, y = augment(traces, labels, kind=kind, ids=ids)
    return make_pipeline(kind, seed).fit(x, y)


def held_out(run_id: str) -> bool:
    """The committed held-out split: a quarter of the runs, by a hash of the run id."""
    return int(hashlib.sha256(run_id.encode()).hexdigest(), 16) % 4 == 0


@lru_cache(maxsize=4)
def shipped_model(kind: str) -> Pipeline:
    if kind not in MODELS:
        raise ValueError(f"Unknown diagnosis model {kind!r}; choose one of {', '.join(MODELS)}.")
    return load_model(MODEL_DIR / f"{kind}.skops")


# ---------------------------------------------------------------------------------- diagnosis


def _finite_prefix(trace: dict[str, np.ndarray]) -> tuple[int | None, float | None]:
    """Index and step of the first row whose d_loss or g_loss is NaN/Inf (None if none)."""
    d, g = np.asarray(trace["d_loss"], float), np.asarray(trace["g_loss"], float)
    bad = ~(np.isfinite(d) & np.isfinite(g))
    if not bad.any():
        return None, None
    i = int(np.argmax(bad))
    step = float(np.asarray(trace["step"], float)[i]) if "step" in trace else float(i)
    return i, step


def evidence(trace: dict[str, np.ndarray]) -> dict[str, float]:
    """A few named, human-readable signals behind a diagnosis (not the classifier's input)."""
    return evidence_batch([trace])[0]


def evidence_batch(traces: Sequence[dict[str, np.ndarray]]) -> list[dict[str, float]]:
    """`evidence` of many traces: those of the same shape (rows, finite rows, columns) are read
    together, each row as alone (a search explains a whole cohort as it settles)."""
    prepared = [_EvidenceInput.of(t) for t in traces]
    out: list[dict[str, float]] = [{} for _ in traces]
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault(p.key, []).append(i)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN windows give NaN, as they always did
        for idx in groups.values():
            for i, ev in zip(idx, _evidence_rows([prepared[i] for i in idx])):
                out[i] = ev
    return out


@dataclass(frozen=True)
class _EvidenceInput:
    """What `evidence` reads of one trace; traces with equal keys are read together."""

    d: np.ndarray
    g: np.ndarray
    probs: tuple[np.ndarray, np.ndarray] | None  # D's outputs as probabilities, if logged
    spread: np.ndarray | None  # g_spread
    data_spread: float
    move: np.ndarray | None  # g_move's finite values, if at least MOVE_MIN_VALUES
    key: tuple

    @classmethod
    def of(cls, trace: dict[str, np.ndarray]) -> _EvidenceInput:
        d, g = np.asarray(trace["d_loss"], float), np.asarray(trace["g_loss"], float)
        probs = d_output_probabilities(trace, logits=ganstab_trace(trace))
        spread = np.asarray(trace["g_spread"], float) if "g_spread" in trace else None
        data = trace_data_spread(trace) if spread is not None else float("nan")
        move = np.asarray(trace.get("g_move", []), dtype=float)
        move = move[np.isfinite(move)]
        move = move if len(move) >= MOVE_MIN_VALUES else None
        key = (
            len(d), int(np.isfinite(d).sum()), int(np.isfinite(g).sum()), probs is not None,
            spread is not None, bool(data > 0), None if move is None else len(move),
        )  # fmt: skip
        return cls(d, g, probs, spread, data, move, key)


def _evidence_rows(batch: list[_EvidenceInput]) -> list[dict[str, float]]:
    """`evidence` of traces with equal keys (_EvidenceInput), one NumPy call per batch."""
    d, g = np.stack([p.d for p in batch]), np.stack([p.g for p in batch])
    n = d.shape[1]
    q = max(2, n // 4)
    cols: dict[str, np.ndarray] = {}
    for name, x in (("d_loss", d), ("g_loss", g)):
        cols[f"{name}_early"] = np.median(x[:, :q], axis=1)
        cols[f"{name}_late"] = np.median(x[:, -q:], axis=1)
        scale = np.maximum(np.std(x, axis=1), 1e-12)
        cols[f"{name}_late_wobble"] = np.std(np.diff(x[:, -q:], axis=1), axis=1) / scale
    # Signatures of collapse that any log shows (late_signals.COLLAPSE_LEVELS): each loss against its
    # own start, where D cannot yet tell real from fake, and a slow cycle in G's late loss.
    _, n_d, n_g, *_ = batch[0].key
    if n_d >= 8 and n_g >= 8:
        df = np.stack([p.d[np.isfinite(p.d)] for p in batch])
        gf = np.stack([p.g[np.isfinite(p.g)] for p in batch])
        (d0, dl), (g0, gl) = start_and_late_rows(df), start_and_late_rows(gf)
        cols["d_loss_below_start_late"] = np.mean(dl < d0[:, None], axis=1)
        cols["g_loss_above_start_late"] = np.mean(gl > g0[:, None], axis=1)
        period, power = cycle_rows(gl)
        cols["g_loss_cycle_rows"] = np.where(power >= CYCLE_POWER, period * gl.shape[1], 0.0)
    evs = [{k: float(v[r]) for k, v in cols.items()} for r in range(len(batch))]
    # "D wins" (meaningful for NS/minimax/LS logs): D's loss fell towards 0 while G's rose, or D's
    # loss sits far under G's, or D's outputs say it tells real from fake (d_wins.py)
    probs = None
    if batch[0].probs is not None:
        probs = (np.stack([p.probs[0] for p in batch]), np.stack([p.probs[1] for p in batch]))
    d_wins_evidence(d, g, probs, evs)
    if batch[0].spread is not None:
        s = np.stack([p.spread for p in batch])
        late = np.median(s[:, -q:], axis=1)
        over_early = late / np.maximum(np.median(s[:, :q], axis=1), 1e-12)
        for r, ev in enumerate(evs):
            ev["g_spread_late_over_early"] = float(over_early[r])
            if batch[r].data_spread > 0:  # ~1: G spreads like the data; far under 1: collapsed
                ev["g_spread_late_over_data"] = float(late[r] / batch[r].data_spread)
    if batch[0].move is not None:
        moves = np.stack([p.move for p in batch])
        late_moves = np.median(move_windows_rows(moves)[0], axis=1)
        for r, ev in enumerate(evs):
            ev["g_move_late"] = float(late_moves[r])  # G's fixed-latent samples, moved per evaluation
    return evs


def missing_columns(trace: dict[str, np.ndarray], kind: str) -> list[str]:
    """The columns `kind` reads that the trace lacks or has too few finite values of (MIN_FINITE)."""

    def finite(c: str) -> int:
        return int(np.isfinite(np.asarray(trace[c], float)).sum()) if c in trace else 0

    return [c for c in REQUIRED[kind] if finite(c) < MIN_FINITE.get(kind, {}).get(c, 1)]


def choose_model(trace: dict[str, np.ndarray]) -> str:
    return "losses" if missing_columns(trace, "rich") else "rich"


def calibrate(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of class probabilities: p ** (1 / T), renormalised (T > 1 softens)."""
    logp = np.log(np.clip(np.asarray(proba, float), 1e-6, 1.0)) / temperature
    e = np.exp(logp - logp.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ganstab_trace(trace: dict[str, np.ndarray]) -> bool:
    """Whether a trace is ganstab's own (it logs G's spread), so that advice may name its keys."""
    return "g_spread" in trace


def diagnose_trace(
    trace: dict[str, np.ndarray],
    *,
    model: str = "auto",
    classifier: Pipeline | None = None,
    wait: bool = False,
    context: dict | None = None,
    proba: np.ndarray | None = None,
    explain: bool = True,
    ev: dict[str, float] | None = None,
) -> Diagnosis | None:
    """Diagnose one trace (schema of docs/traces.md; at least step, d_loss, g_loss). With `wait`
    (a live run), a trace that lacks what the model reads yet gives None instead of an error;
    divergence is reported either way. The shipped models' probabilities are calibrated
    (temperature scaling fitted on the corpus's leave-one-family-out predictions), and a
    diagnosis whose top probability is under the corpus-chosen threshold is `uncertain`.
    `context` (e.g. {"data": "2-D mixtures", "g": "mlp", "loss": "ns"}) conditions the advice
    (advice.advice_for) and is kept in the result. `explain=False` leaves out the evidence and the
    advice (a search's pruning round reads only the label and its confidence)."""
    from ganstab.diagnose.advice import advice_for
    from ganstab.diagnose.context import check_context, reads_d_wins

    context = check_context(context)
    n = len(trace["d_loss"])
    kind = choose_model(trace) if model == "auto" else model
    if kind not in MODELS:
        raise ValueError(f"Unknown diagnosis model {kind!r}; choose one of auto, {', '.join(MODELS)}.")
    keys = ganstab_trace(trace)
    bad_row, bad_step = _finite_prefix(trace)
    if bad_row is not None:  # divergence is a rule, decided however short the log
        ev = {"diverged_at": bad_step}
        return Diagnosis(
            DIVERGED, {}, ev, advice_for(DIVERGED, ev, context, keys=keys), kind, n, bad_step, context=context
        )
    # a `proba` from `diagnose_traces` comes for traces it checked already
    if classifier is None and proba is None and (missing := missing_columns(trace, kind)):
        if wait:  # `g_move` comes once per evaluation: a live run gets there
            return None
        raise ValueError(
            f"The {kind!r} model needs the trace columns {missing}, which this trace lacks "
            "or has too few values of (a ganstab run from before the column existed, or g_move before "
            "its third evaluation value); use the model 'auto' or 'losses'."
        )
    if n < MIN_ROWS:
        raise ValueError(f"A trace needs at least {MIN_ROWS} rows to be diagnosed, but has {n}.")
    clf = classifier if classifier is not None else shipped_model(kind)
    if proba is None:  # `diagnose_traces` passes the row it computed for a whole batch
        proba = clf.predict_proba(_objects([trace]))[0]
    cal = fitted("CALIBRATION").get(kind, {}) if classifier is None else {}
    if cal:
        proba = calibrate(proba, cal["temperature"])
    probabilities = {str(c): float(p) for c, p in zip(clf.classes_, proba)}
    probabilities = {label: probabilities.get(label, 0.0) for label in LABELS}
    label = max(probabilities, key=probabilities.__getitem__)
    if not explain:
        ev = {}
    elif ev is None:  # `diagnose_traces` passes what it read for a whole batch
        ev = evidence(trace)
    if not reads_d_wins(context.get("loss")):  # a critic's or hinge D's values: no probabilities
        for name in D_WINS_ROWS:
            ev.pop(name, None)
    uncertain = bool(cal) and probabilities[label] < cal["uncertain_below"]
    named = named_labels(probabilities, cal.get("third_label_from", 1.0)) if uncertain else []
    advice = advice_for(label, ev, context, keys=keys) if explain else []
    return Diagnosis(
        label, probabilities, ev, advice, kind, n, uncertain=uncertain, context=context, named=named,
    )  # fmt: skip


def named_labels(probabilities: dict[str, float], third_from: float) -> list[str]:
    """What an uncertain diagnosis names, likeliest first: the two likeliest labels, and the third
    too where its probability reaches `third_from` (a third label is better than a wrong pair)."""
    ranked = sorted(probabilities, key=lambda k: -probabilities[k])
    return ranked if probabilities[ranked[-1]] >= third_from else ranked[:2]


def diagnose_traces(
    traces: Sequence[dict[str, np.ndarray]],
    *,
    model: str = "auto",
    wait: bool = False,
    contexts: Sequence[dict | None] | None = None,
    explain: bool = True,
) -> list[Diagnosis | None]:
    """`diagnose_trace` for many traces, with one `predict_proba` per model kind: a search diagnoses
    a whole cohort at each evaluation, and one call per member cost more than its training. A
    trace that `diagnose_trace` would wait for or raise on (missing columns, too few rows) gives
    None; divergence is the rule as there. `contexts`: each trace's advice context, if known.
    `explain`: as in `diagnose_trace`."""
    contexts = list(contexts) if contexts is not None else [None] * len(traces)
    kinds = [choose_model(t) if model == "auto" else model for t in traces]
    batches: dict[str, list[int]] = {}
    for i, (trace, kind) in enumerate(zip(traces, kinds)):
        # choose_model's "rich" has checked the rich model's columns already
        checked = model == "auto" and kind == "rich"
        if _finite_prefix(trace)[0] is None and len(trace["d_loss"]) >= MIN_ROWS and (checked or not missing_columns(trace, kind)):
            batches.setdefault(kind, []).append(i)
    rows: dict[int, np.ndarray] = {}
    for kind, idx in batches.items():
        rows.update(zip(idx, shipped_model(kind).predict_proba(_objects([traces[i] for i in idx]))))
    read = sorted(rows) if explain else []
    evs = dict(zip(read, evidence_batch([traces[i] for i in read])))
    return [
        diagnose_trace(t, model=kind, wait=wait, proba=rows.get(i), context=c, explain=explain, ev=evs.get(i))
        if i in rows or _finite_prefix(t)[0] is not None
        else None
        for i, (t, kind, c) in enumerate(zip(traces, kinds, contexts))
    ]

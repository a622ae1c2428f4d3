"""Features of a trace for the stability classifier: scale-free, so they hold across losses of
different scales (NS ~1.4, hinge ~2, WGAN-GP anything), and defined on any prefix of a run.

Input: an object array of traces (dicts of column -> float array, schema of docs/traces.md).
Never the quality metric. Two column sets:
- LOSS_COLUMNS: what anybody's log carries (`d_loss`, `g_loss`);
- RICH_COLUMNS: ganstab's own traces (adds D outputs, gradient norms, `g_spread`, `g_drift`).

Per column, on the trace (after dropping non-finite rows): rank trend over time, late-minus-early
shift and late/early spread ratio in units of the whole trace's spread, roughness (successive
differences against spread), lag autocorrelations of the late window, spikiness, and the share of
low frequencies. Between `d_loss` and `g_loss`: their rank correlation. These are free of each
column's scale and offset. Levels come in two optional groups: `levels=True` adds the late values
of d_loss and g_loss (squashed); with RICH_COLUMNS, always, a few late levels of ganstab's own
columns (`_rich_levels`): G's drift (already in units of its spread), G's spread against its peak,
its start and the data's (`data_spread`, a constant column of ganstab's traces), D's real-fake
margin (squashed; in D's output units), and G's gradient norm against D's. `move=True` adds late
levels of `g_move`, how far G's fixed-latent samples move between evaluations (the rich model).
`canonical` adds the loss features again on the log's canonical forms (20 blocks, as means or as
last values), which hold across logging intervals (the losses model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ganstab.diagnose.late_signals import (
    COLLAPSE_LEVELS,
    EPS,
    MOVE_LEVELS,
    collapse_levels_rows,
    detrend_rows,
    move_levels_rows,
)

LOSS_COLUMNS = ("d_loss", "g_loss")
RICH_COLUMNS = ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "g_spread", "g_drift")
# Every column a trace may carry beside step, d_loss and g_loss that diagnosis reads (logs, monitor).
OPTIONAL_COLUMNS = (*RICH_COLUMNS[2:], "data_spread", "g_move")
_PER_COLUMN = (
    "trend",
    "shift",
    "late_spread",
    "roughness",
    "late_roughness",
    "ac1",
    "ac5",
    "ac20",
    "spikes",
    "low_freq",
    "late_range",
)


# Every feature is computed for a batch of traces at once, as rows of equal length (a search's
# cohort logs the same rows), with operations that treat each row alone: a trace's features are
# the same bits whichever traces share its call (training reads runs one by one, a search a whole
# cohort; tests/diagnose/test_features.py). One NumPy call per batch instead of one per trace is
# what made diagnosing a cohort of 1,024 affordable (issue 27; bench/RESULTS.md).


def _rank_rows(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, axis=1, kind="stable"), axis=1, kind="stable").astype(float)


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `a` with the same row of `b` (or with `b`'s one row);
    0 for rows shorter than 3 or without spread."""
    a, b = np.broadcast_arrays(a, b)
    if a.shape[1] < 3:
        return np.zeros(len(a))
    ok = (np.std(a, axis=1) >= EPS) & (np.std(b, axis=1) >= EPS)
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    r = (ac * bc).sum(axis=1) / np.sqrt(np.where(ok, (ac * ac).sum(axis=1) * (bc * bc).sum(axis=1), 1.0))
    return np.where(ok, np.clip(r, -1.0, 1.0), 0.0)


def _autocorr_rows(x: np.ndarray, lag: int) -> np.ndarray:
    if x.shape[1] <= lag + 2:
        return np.zeros(len(x))
    return _corr_rows(x[:, :-lag], x[:, lag:])


def _column_rows(x: np.ndarray) -> np.ndarray:
    """_PER_COLUMN of each row of equal-length finite values: [rows, len(_PER_COLUMN)]."""
    rows, n = x.shape
    if n < 8:
        return np.zeros((rows, len(_PER_COLUMN)))
    q = max(2, n // 4)
    early, late = x[:, :q], x[:, -q:]
    p75, p25 = np.percentile(x, [75, 25], axis=1)
    std, std_late, std_early = np.std(x, axis=1), np.std(late, axis=1), np.std(early, axis=1)
    scale = np.maximum(np.maximum(p75 - p25, std), EPS)
    diffs = np.diff(x, axis=1)
    detrended = detrend_rows(late)
    spectrum = np.abs(np.fft.rfft(detrended - detrended.mean(axis=1, keepdims=True), axis=1)) ** 2
    low = spectrum[:, 1 : max(2, spectrum.shape[1] // 8)].sum(axis=1) / np.maximum(spectrum[:, 1:].sum(axis=1), EPS)
    centred = np.abs(diffs - np.median(diffs, axis=1, keepdims=True))
    mad_d = np.maximum(np.median(centred, axis=1), 1e-6 * scale)  # relative floor: scale-free
    out = [
        _corr_rows(_rank_rows(x), np.arange(n, dtype=float)[None]),  # monotone trend
        np.clip((np.median(late, axis=1) - np.median(early, axis=1)) / scale, -20, 20),
        np.log((std_late + 1e-6 * scale) / (std_early + 1e-6 * scale)),
        np.median(np.abs(diffs), axis=1) / scale,
        np.median(np.abs(np.diff(late, axis=1)), axis=1) / np.maximum(std_late, EPS),
        _autocorr_rows(detrended, 1),
        _autocorr_rows(detrended, 5),
        _autocorr_rows(detrended, 20),
        np.log1p(np.max(centred, axis=1) / mad_d),
        low,
        np.log((np.ptp(late, axis=1) + 1e-6 * scale) / (np.ptp(x, axis=1) + 1e-6 * scale)),
    ]
    return np.stack(out, axis=1)


RICH_LEVELS = (
    "g_drift:late_level",
    "g_drift:late_p90",
    "g_drift:late_over_early",
    "g_spread:late_over_peak",
    "g_spread:late_over_early",
    "g_spread:late_cv",
    "d_margin:late_level",
    "d_margin:late_wobble",
    "grad_norm_g_over_d:late_level",
    "g_spread:late_over_data",
    "g_spread:peak_over_data",
)


def _squash(v):
    return np.sign(v) * np.log1p(np.abs(v))


def _rich_levels(cols: dict[str, np.ndarray], present: set[str], margin: np.ndarray, data_spread: np.ndarray) -> np.ndarray:
    """Late levels (last third) of ganstab's own columns: a mode hopper drifts far in units of its
    spread, a collapsed G's spread has shrunk from its peak, a D that wins keeps a wide margin.
    Drift and spread ratios are free of the data's scale; D's margin is in D's output units (a
    logit for NS, hinge and LS; a critic value for WGAN-GP), so it is squashed. Each group falls
    back to zeros where its columns are missing or too short. On corpus v2 they lifted the rich
    model's leave-one-data-set-out macro-F1 on the first 30 % of runs from 0.758 to 0.788
    (bench/RESULTS.md). Last, G's spread against the data's (`data_spread`): about 1 for a
    generator that spreads like the data on every data set, far under 1 for a collapsed one; it
    lifted leave-one-data-set-out on whole runs from 0.863 to 0.893.

    Rows of a batch whose columns have equal lengths: `cols` holds each column's finite values
    [rows, n_c], `present` the columns the traces carry, `margin` d_real - d_fake where both are
    finite [rows, m], `data_spread` one value per row (NaN: none)."""

    def late(x):
        return x[:, -max(3, x.shape[1] // 3) :]

    def early(x):
        return x[:, : max(3, x.shape[1] // 3)]

    def ok(*names):
        return all(name in present and cols[name].shape[1] >= 8 for name in names)

    def med(x):
        return np.median(x, axis=1)

    drift, spread, gn_g, gn_d = cols["g_drift"], cols["g_spread"], cols["grad_norm_g"], cols["grad_norm_d"]
    out = np.zeros((len(margin), len(RICH_LEVELS)))
    if ok("g_drift"):
        out[:, 0] = np.log(med(late(drift)) + 1e-6)
        out[:, 1] = np.log(np.percentile(late(drift), 90, axis=1) + 1e-6)
        out[:, 2] = np.log((med(late(drift)) + 1e-6) / (med(early(drift)) + 1e-6))
    if ok("g_spread"):
        out[:, 3] = np.log((med(late(spread)) + 1e-9) / (np.max(spread, axis=1) + 1e-9))
        out[:, 4] = np.log((med(late(spread)) + 1e-9) / (med(early(spread)) + 1e-9))
        out[:, 5] = np.std(late(spread), axis=1) / (np.mean(late(spread), axis=1) + 1e-9)
    if {"d_real", "d_fake"} <= present and margin.shape[1] >= 8:
        lm = late(margin)
        out[:, 6] = _squash(med(lm))
        out[:, 7] = np.std(lm, axis=1) / (np.abs(med(lm)) + np.std(margin, axis=1) + 1e-9)
    if ok("grad_norm_g", "grad_norm_d"):
        out[:, 8] = np.log((med(late(gn_g)) + 1e-9) / (med(late(gn_d)) + 1e-9))
    if ok("g_spread"):
        known = np.isfinite(data_spread) & (data_spread > 0)
        safe = np.where(known, data_spread, 1.0)
        out[:, 9] = np.where(known, np.log(med(late(spread)) / safe + 1e-6), 0.0)
        out[:, 10] = np.where(known, np.log(np.max(spread, axis=1) / safe + 1e-6), 0.0)
    return np.clip(np.nan_to_num(out), -50, 50)


# The canonical forms of a log: its rows cut into this many (nearly) equal blocks (every trace has
# at least classifier.MIN_ROWS = 20 rows), each written as its mean or as its last value. A run logged
# every 10 steps, every 100 or as per-epoch means comes out nearly the same in one form or the
# other, so features read on them hold across logging intervals (issue 15).
CANONICAL_ROWS = 20
CANONICAL_FORMS = ("mean", "last")
# Per-column features read on the blocks (ac20 needs more rows). Of these, ac5 and the collapse
# levels' four cycle features are always 0 on 20 rows (their late windows of 5-6 rows are too
# short): the shipped model carries them as constants, to be dropped at its next retraining.
_CANONICAL_KEEP = [i for i, f in enumerate(_PER_COLUMN) if f != "ac20"]  # their places in _PER_COLUMN
_CANONICAL_PER_COLUMN = tuple(_PER_COLUMN[i] for i in _CANONICAL_KEEP)


def canonical(x: np.ndarray, form: str = "mean", rows: int = CANONICAL_ROWS) -> np.ndarray:
    """`x` (finite values, in order) cut into `rows` blocks of (nearly) equal length, each block
    written as its mean ("mean", a log of interval means) or its last value ("last", a log
    written every so often); as is when it is no longer than `rows`."""
    return canonical_rows(np.asarray(x, dtype=float)[None], form, rows)[0]


def canonical_rows(x: np.ndarray, form: str = "mean", rows: int = CANONICAL_ROWS) -> np.ndarray:
    """`canonical` of each row of equal length."""
    if form not in CANONICAL_FORMS:
        raise ValueError(f"Unknown canonical form {form!r}; choose one of {', '.join(CANONICAL_FORMS)}.")
    n = x.shape[1]
    if n <= rows:
        return x
    starts = (np.arange(rows) * n) // rows
    if form == "last":  # contiguous, as a reduction's order (so its bits) follows the memory layout
        return np.ascontiguousarray(x[:, np.append(starts[1:], n) - 1])
    return np.add.reduceat(x, starts, axis=1) / np.diff(np.append(starts, n))


def _canonical_rows(d: np.ndarray, g: np.ndarray, form: str, collapse: bool, over_noise: bool) -> list[np.ndarray]:
    cd, cg = canonical_rows(d, form), canonical_rows(g, form)
    out = [_column_rows(cd)[:, _CANONICAL_KEEP], _column_rows(cg)[:, _CANONICAL_KEEP]]
    out.append(_corr_rows(_rank_rows(cd), _rank_rows(cg))[:, None])
    return out + ([collapse_levels_rows(cd, cg, over_noise)] if collapse else [])


def trace_data_spread(trace: dict[str, np.ndarray]) -> float:
    """The trace's `data_spread` (a constant column), NaN where it has none."""
    spreads = np.asarray(trace.get("data_spread", []), dtype=float)
    spreads = spreads[np.isfinite(spreads)]
    return float(np.median(spreads)) if len(spreads) else float("nan")


class TraceFeatures(TransformerMixin, BaseEstimator):
    """Traces -> a fixed-length feature matrix.

    `columns`: which trace columns to use (LOSS_COLUMNS or RICH_COLUMNS); a missing optional
    column gives zeros. `prefix`: use only the first fraction of each trace (1.0 = whole run),
    e.g. 0.3 to evaluate a diagnosis made 30% into training. `levels`: also give the late values
    of d_loss and g_loss themselves (squashed by sign(x) log(1 + |x|)); they mean something for
    a known loss family, and nothing across scales, so they are off by default. `move`: also give
    the late levels of `g_move` (MOVE_LEVELS; ganstab traces that have the column). `collapse`:
    also give COLLAPSE_LEVELS, each loss against its own start and its slow cycles. `cycles_over_noise`:
    read those cycles against white noise of the window's length (`cycle_over_noise`), so that a
    short log's few frequencies do not pass for a cycle. `canonical`: a tuple of the forms
    (CANONICAL_FORMS) in which d_loss and g_loss are also read, cut into CANONICAL_ROWS blocks:
    their per-column features (but ac20), correlation and, with `collapse`, COLLAPSE_LEVELS
    computed again on those blocks.
    """

    def __init__(
        self,
        columns: tuple[str, ...] = LOSS_COLUMNS,
        prefix: float = 1.0,
        levels: bool = False,
        move: bool = False,
        collapse: bool = False,
        cycles_over_noise: bool = False,
        canonical: tuple[str, ...] = (),
    ) -> None:
        self.columns = columns
        self.prefix = prefix
        self.levels = levels
        self.move = move
        self.collapse = collapse
        self.cycles_over_noise = cycles_over_noise
        self.canonical = canonical

    def fit(self, X, y=None):  # noqa: N803 (scikit-learn's names)
        self.n_features_in_ = 1
        self.feature_names_ = self._names()
        return self

    def _names(self) -> list[str]:
        names = [f"{c}:{f}" for c in self.columns for f in _PER_COLUMN]
        names += ["d_g_corr", "d_g_late_corr"]
        names += ["d_loss:late_level", "g_loss:late_level", "d_minus_g:late_level"] if self.levels else []
        names += list(RICH_LEVELS) if self._rich() else []
        names += list(MOVE_LEVELS) if self.move else []
        names += list(COLLAPSE_LEVELS) if getattr(self, "collapse", False) else []
        canon = [f"{c}:{f}" for c in LOSS_COLUMNS for f in _CANONICAL_PER_COLUMN] + ["d_g_corr"]
        canon += list(COLLAPSE_LEVELS) if getattr(self, "collapse", False) else []
        forms = getattr(self, "canonical", ())
        if isinstance(forms, str):  # a tuple of forms, not one name read letter by letter
            raise ValueError(f"canonical takes a tuple of forms, e.g. ({forms!r},), not {forms!r}.")
        for form in forms:
            names += [f"canonical {form}:{n}" for n in canon]
        return names

    def _rich(self) -> bool:
        return set(RICH_COLUMNS) <= set(self.columns)

    def get_feature_names_out(self, input_features=None):
        return np.array(self._names(), dtype=object)

    def transform(self, X):  # noqa: N803
        """The traces' features, [traces, features]: traces whose columns have the same lengths
        are computed together (see _rank_rows' comment), each row as it would be alone."""
        prepared = [self._prepare(trace) for trace in X]
        out = np.empty((len(prepared), len(self._names())))
        groups: dict[tuple, list[int]] = {}
        for i, p in enumerate(prepared):
            groups.setdefault(p.key, []).append(i)
        with np.errstate(divide="ignore", invalid="ignore"):  # NaNs become the zeros they always were
            for idx in groups.values():
                out[idx] = self._rows([prepared[i] for i in idx])
        return out

    def features(self, trace: dict[str, np.ndarray]) -> list[float]:
        return self.transform([trace])[0].tolist()

    def _prepare(self, trace: dict[str, np.ndarray]) -> _Prepared:
        """What the features read of one trace: each column's finite values (zeros for a column the
        trace lacks), d_loss and g_loss where both are finite, D's margin, G's moves."""
        n = len(np.asarray(trace["d_loss"]))
        end = max(8, int(round(n * self.prefix)))
        arrays, present = {}, set()
        for c in self.columns:
            x = np.asarray(trace[c], dtype=float)[:end] if c in trace else np.zeros(min(n, end))
            present |= {c} if c in trace else set()
            arrays[c] = x[np.isfinite(x)]
        d, g = np.asarray(trace["d_loss"], dtype=float)[:end], np.asarray(trace["g_loss"], dtype=float)[:end]
        ok = np.isfinite(d) & np.isfinite(g)
        arrays["d:both"], arrays["g:both"] = d[ok], g[ok]
        data_spread = float("nan")
        if self._rich():
            if {"d_real", "d_fake"} <= present:
                margin = np.asarray(trace["d_real"], float)[:end] - np.asarray(trace["d_fake"], float)[:end]
                arrays["margin"] = margin[np.isfinite(margin)]  # rows where both are finite, aligned
            else:
                arrays["margin"] = np.zeros(0)
            data_spread = trace_data_spread(trace)
        if self.move:
            move = np.asarray(trace.get("g_move", []), dtype=float)[:end]
            arrays["move"] = move[np.isfinite(move)]
        key = (frozenset(present), tuple(len(v) for v in arrays.values()))
        return _Prepared(arrays, present, data_spread, key)

    def _rows(self, batch: list[_Prepared]) -> np.ndarray:
        """The features of a batch of prepared traces whose arrays have equal lengths."""

        def rows(name: str) -> np.ndarray:
            return np.stack([p.arrays[name] for p in batch])

        collapse = getattr(self, "collapse", False)  # models saved before the parameter existed lack it
        over_noise = getattr(self, "cycles_over_noise", False)  # ... and read the plain shares
        blocks = [_column_rows(rows(c)) for c in self.columns]
        d, g = rows("d:both"), rows("g:both")
        q = max(3, d.shape[1] // 3)
        late_corr = _corr_rows(_rank_rows(d[:, -q:]), _rank_rows(g[:, -q:]))
        blocks.append(np.stack([_corr_rows(_rank_rows(d), _rank_rows(g)), late_corr], axis=1))
        if self.levels:
            dl, gl = np.median(d[:, -q:], axis=1), np.median(g[:, -q:], axis=1)
            blocks.append(np.stack([_squash(dl), _squash(gl), _squash(dl - gl)], axis=1))
        if self._rich():
            cols = {c: rows(c) for c in RICH_COLUMNS}
            spreads = np.array([p.data_spread for p in batch])
            blocks.append(_rich_levels(cols, batch[0].present, rows("margin"), spreads))
        if self.move:
            blocks.append(move_levels_rows(rows("move")))
        if collapse:
            blocks.append(collapse_levels_rows(d, g, over_noise))
        for form in getattr(self, "canonical", ()):  # models saved before the parameter existed lack it
            blocks += _canonical_rows(d, g, form, collapse, over_noise)
        return np.concatenate(blocks, axis=1)


@dataclass(frozen=True)
class _Prepared:
    arrays: dict[str, np.ndarray]
    present: set[str]
    data_spread: float
    key: tuple  # traces with the same key share a batch

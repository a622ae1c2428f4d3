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

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ganstab.diagnose.late_signals import COLLAPSE_LEVELS, EPS, MOVE_LEVELS, collapse_levels, move_levels

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


def _rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(float)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() < EPS or b.std() < EPS:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _autocorr(x: np.ndarray, lag: int) -> float:
    if len(x) <= lag + 2:
        return 0.0
    return _corr(x[:-lag], x[lag:])


def _column_features(x: np.ndarray) -> list[float]:
    n = len(x)
    if n < 8:
        return [0.0] * len(_PER_COLUMN)
    q = max(2, n // 4)
    early, late = x[:q], x[-q:]
    iqr = np.subtract(*np.percentile(x, [75, 25]))
    scale = max(iqr, np.std(x), EPS)
    diffs = np.diff(x)
    late_diffs = np.diff(late)
    t = np.arange(n, dtype=float)
    detrended = late - np.polyval(np.polyfit(np.arange(q, dtype=float), late, 1), np.arange(q))
    spectrum = np.abs(np.fft.rfft(detrended - detrended.mean())) ** 2
    low = spectrum[1 : max(2, len(spectrum) // 8)].sum() / max(spectrum[1:].sum(), EPS)
    mad_d = max(
        float(np.median(np.abs(diffs - np.median(diffs)))), 1e-6 * scale
    )  # relative floor: scale-free
    return [
        _corr(_rank(x), t),  # monotone trend
        float(np.clip((np.median(late) - np.median(early)) / scale, -20, 20)),
        float(np.log((np.std(late) + 1e-6 * scale) / (np.std(early) + 1e-6 * scale))),
        float(np.median(np.abs(diffs)) / scale),
        float(np.median(np.abs(late_diffs)) / max(np.std(late), EPS)),
        _autocorr(detrended, 1),
        _autocorr(detrended, 5),
        _autocorr(detrended, 20),
        float(np.log1p(np.max(np.abs(diffs - np.median(diffs))) / mad_d)),
        float(low),
        float(np.log((np.ptp(late) + 1e-6 * scale) / (np.ptp(x) + 1e-6 * scale))),
    ]


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


def _squash(v: float) -> float:
    return float(np.sign(v) * np.log1p(abs(v)))


def _rich_levels(cols: dict[str, np.ndarray], raw: dict[str, np.ndarray], data_spread: float) -> list[float]:
    """Late levels (last third) of ganstab's own columns: a mode hopper drifts far in units of its
    spread, a collapsed G's spread has shrunk from its peak, a D that wins keeps a wide margin.
    Drift and spread ratios are free of the data's scale; D's margin is in D's output units (a
    logit for NS, hinge and LS; a critic value for WGAN-GP), so it is squashed. Each group falls
    back to zeros where its columns are missing or too short. On corpus v2 they lifted the rich
    model's leave-one-data-set-out macro-F1 on the first 30 % of runs from 0.758 to 0.788
    (bench/RESULTS.md). Last, G's spread against the data's (`data_spread`): about 1 for a
    generator that spreads like the data on every data set, far under 1 for a collapsed one; it
    lifted leave-one-data-set-out on whole runs from 0.863 to 0.893."""

    def late(x):
        return x[-max(3, len(x) // 3) :]

    def early(x):
        return x[: max(3, len(x) // 3)]

    def ok(*names):
        return all(name in raw and len(cols[name]) >= 8 for name in names)

    drift, spread, gn_g, gn_d = cols["g_drift"], cols["g_spread"], cols["grad_norm_g"], cols["grad_norm_d"]
    out = [0.0] * len(RICH_LEVELS)
    if ok("g_drift"):
        out[0:3] = [
            np.log(np.median(late(drift)) + 1e-6),
            np.log(np.percentile(late(drift), 90) + 1e-6),
            np.log((np.median(late(drift)) + 1e-6) / (np.median(early(drift)) + 1e-6)),
        ]
    if ok("g_spread"):
        out[3:6] = [
            np.log((np.median(late(spread)) + 1e-9) / (np.max(spread) + 1e-9)),
            np.log((np.median(late(spread)) + 1e-9) / (np.median(early(spread)) + 1e-9)),
            np.std(late(spread)) / (np.mean(late(spread)) + 1e-9),
        ]
    if "d_real" in raw and "d_fake" in raw:
        margin = raw["d_real"] - raw["d_fake"]  # rows where both are finite, aligned
        margin = margin[np.isfinite(margin)]
        if len(margin) >= 8:
            lm = late(margin)
            out[6:8] = [
                _squash(float(np.median(lm))),
                np.std(lm) / (abs(np.median(lm)) + np.std(margin) + 1e-9),
            ]
    if ok("grad_norm_g", "grad_norm_d"):
        out[8] = np.log((np.median(late(gn_g)) + 1e-9) / (np.median(late(gn_d)) + 1e-9))
    if ok("g_spread") and np.isfinite(data_spread) and data_spread > 0:
        out[9:11] = [
            np.log(np.median(late(spread)) / data_spread + 1e-6),
            np.log(np.max(spread) / data_spread + 1e-6),
        ]
    return [float(v) for v in np.clip(np.nan_to_num(np.asarray(out, float)), -50, 50)]


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
    if form not in CANONICAL_FORMS:
        raise ValueError(f"Unknown canonical form {form!r}; choose one of {', '.join(CANONICAL_FORMS)}.")
    x = np.asarray(x, dtype=float)
    if len(x) <= rows:
        return x
    starts = (np.arange(rows) * len(x)) // rows
    if form == "last":
        return x[np.append(starts[1:], len(x)) - 1]
    return np.add.reduceat(x, starts) / np.diff(np.append(starts, len(x)))


def _canonical_features(d: np.ndarray, g: np.ndarray, form: str, collapse: bool, over_noise: bool) -> list[float]:
    cd, cg = canonical(d, form), canonical(g, form)
    out: list[float] = []
    for x in (cd, cg):
        feats = _column_features(x)
        out += [feats[i] for i in _CANONICAL_KEEP]
    out.append(_corr(_rank(cd), _rank(cg)))
    return out + (collapse_levels(cd, cg, over_noise) if collapse else [])


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
        return np.array([self.features(trace) for trace in X], dtype=float)

    def features(self, trace: dict[str, np.ndarray]) -> list[float]:
        n = len(np.asarray(trace["d_loss"]))
        end = max(8, int(round(n * self.prefix)))
        cols, raw = {}, {}
        for c in self.columns:
            x = np.asarray(trace[c], dtype=float)[:end] if c in trace else np.zeros(min(n, end))
            if c in trace:
                raw[c] = x
            cols[c] = x[np.isfinite(x)]
        feats: list[float] = []
        for c in self.columns:
            feats += _column_features(cols[c])
        d, g = np.asarray(trace["d_loss"], dtype=float)[:end], np.asarray(trace["g_loss"], dtype=float)[:end]
        ok = np.isfinite(d) & np.isfinite(g)
        d, g = d[ok], g[ok]
        q = max(3, len(d) // 3)
        feats += [_corr(_rank(d), _rank(g)), _corr(_rank(d[-q:]), _rank(g[-q:]))]
        if self.levels:
            dl, gl = float(np.median(d[-q:])), float(np.median(g[-q:]))
            feats += [_squash(dl), _squash(gl), _squash(dl - gl)]
        if self._rich():
            feats += _rich_levels(cols, raw, trace_data_spread(trace))
        if self.move:
            feats += move_levels(np.asarray(trace.get("g_move", []), dtype=float)[:end])
        if getattr(self, "collapse", False):  # models saved before the parameter existed lack it
            # models saved before `cycles_over_noise` existed read the plain shares
            feats += collapse_levels(d, g, getattr(self, "cycles_over_noise", False))
        for form in getattr(self, "canonical", ()):  # models saved before the parameter existed lack it
            feats += _canonical_features(
                d, g, form, getattr(self, "collapse", False), getattr(self, "cycles_over_noise", False)
            )
        return feats

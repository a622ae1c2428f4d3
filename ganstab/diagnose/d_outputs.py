"""The "outputs" model's features: the losses model's, and D's outputs on real and fake samples as
probabilities (issue 30 item 3).

The PyTorch DCGAN tutorial, and most code copied from it, logs `D(x)` and `D(G(z))` beside the
losses: D's mean output after its sigmoid. ganstab's traces log D's mean logit (`d_real`,
`d_fake`), so a corpus trace is first turned into probabilities (`output_trace`), and its logging
views (block means, EMA, every k-th row) are then taken of the probabilities, as a foreign log's
per-epoch mean of D(x) is a mean of probabilities. Whatever convention a log used, the features
read probabilities (d_wins.d_output_probabilities: logits where a value lies outside [0, 1]).

A caveat the corpus cannot remove: ganstab logs the sigmoid of a batch's mean logit, a foreign
log the mean of the batch's sigmoids, which sits nearer 0.5 when D's outputs spread.
"""

from __future__ import annotations

import numpy as np

from ganstab.diagnose.d_wins import PROB_FAKE_WINS, PROB_REAL_WINS, d_output_probabilities
from ganstab.diagnose.features import (
    _PER_COLUMN,
    CANONICAL_FORMS,
    TraceFeatures,
    _column_rows,
    _Prepared,
    canonical_rows,
)

OUTPUT_COLUMNS = ("d_real", "d_fake")
# Late (last third) and early levels of D's outputs, in probability units (the same whatever the
# logging interval), and two in logit units (a D that wins sits at 0.99 or 0.9999: far apart as
# logits, alike as probabilities).
OUTPUT_LEVELS = (
    "d_real:late_level",
    "d_fake:late_level",
    "d_margin:late_level",
    "d_real:early_level",
    "d_fake:early_level",
    "d_real:late_minus_early",
    "d_fake:late_minus_early",
    "d_real:late_logit",
    "d_fake:late_logit",
    "d_wins:late_share",
    "d_fooled:late_share",
    "d_margin:late_std",
    "d_margin:late_over_whole_std",
    "d_margin:range_of_blocks",
)


def output_trace(trace: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the outputs model learns from: step, the losses and D's outputs as probabilities
    (ganstab's logits through a sigmoid), so that views of it average probabilities as a foreign
    log's per-epoch means do."""
    out = {c: np.asarray(trace[c], dtype=float) for c in ("step", "d_loss", "g_loss") if c in trace}
    probs = d_output_probabilities(trace, logits="g_spread" in trace)
    if probs is not None:
        out["d_real"], out["d_fake"] = probs
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def output_levels_rows(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """OUTPUT_LEVELS of each row (D's outputs as probabilities where both are finite, equal
    lengths); zeros for rows shorter than 8."""
    rows, n = real.shape
    if n < 8:
        return np.zeros((rows, len(OUTPUT_LEVELS)))
    q = max(3, n // 3)
    margin = real - fake
    late_r, late_f, late_m = real[:, -q:], fake[:, -q:], margin[:, -q:]
    med = lambda x: np.median(x, axis=1)  # noqa: E731
    blocks = canonical_rows(margin, "mean")
    out = [
        med(late_r),
        med(late_f),
        med(late_m),
        med(real[:, :q]),
        med(fake[:, :q]),
        med(late_r) - med(real[:, :q]),
        med(late_f) - med(fake[:, :q]),
        med(_logit(late_r)),
        med(_logit(late_f)),
        np.mean((late_r > PROB_REAL_WINS) & (late_f < PROB_FAKE_WINS), axis=1),
        np.mean(late_f > 0.5, axis=1),
        np.std(late_m, axis=1),
        np.log((np.std(late_m, axis=1) + 1e-4) / (np.std(margin, axis=1) + 1e-4)),
        np.ptp(blocks, axis=1),
    ]
    return np.clip(np.nan_to_num(np.stack(out, axis=1)), -50, 50)


def output_feature_names() -> list[str]:
    names = list(OUTPUT_LEVELS)
    names += [f"{c}:{f}" for c in OUTPUT_COLUMNS for f in _PER_COLUMN]
    names += [
        f"canonical {form}:{c}:{f}" for form in CANONICAL_FORMS for c in OUTPUT_COLUMNS for f in _PER_COLUMN
    ]
    return names


def output_rows(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """The features of D's outputs (output_feature_names) of equal-length rows: the levels, each
    output's scale-free shape features (features._PER_COLUMN) as logged and on the log's two
    canonical forms (20 blocks as means and as last values, which hold across logging intervals)."""
    blocks = [output_levels_rows(real, fake), _column_rows(real), _column_rows(fake)]
    for form in CANONICAL_FORMS:
        blocks += [_column_rows(canonical_rows(real, form)), _column_rows(canonical_rows(fake, form))]
    return np.concatenate(blocks, axis=1)


class OutputFeatures(TraceFeatures):
    """TraceFeatures (the losses model's configuration) and, after them, the features of D's
    outputs as probabilities (output_rows). A trace without both outputs gets zeros for them (the
    outputs model is only chosen for logs that have them: classifier.choose_model)."""

    def _names(self) -> list[str]:
        return super()._names() + output_feature_names()

    def _prepare(self, trace: dict[str, np.ndarray]) -> _Prepared:
        p = super()._prepare(trace)
        n = len(np.asarray(trace["d_loss"]))
        end = max(8, int(round(n * self.prefix)))
        probs = d_output_probabilities(trace, logits="g_spread" in trace)
        real, fake = (np.zeros(0), np.zeros(0)) if probs is None else (probs[0][:end], probs[1][:end])
        both = np.isfinite(real) & np.isfinite(fake)
        arrays = {**p.arrays, "p_real": real[both], "p_fake": fake[both]}
        return _Prepared(arrays, p.present, p.data_spread, (*p.key, int(both.sum())))

    def _rows(self, batch: list[_Prepared]) -> np.ndarray:
        real = np.stack([p.arrays["p_real"] for p in batch])
        fake = np.stack([p.arrays["p_fake"] for p in batch])
        return np.concatenate([super()._rows(batch), output_rows(real, fake)], axis=1)

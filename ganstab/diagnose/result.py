"""The result of diagnosing one run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

LABELS = ("converging", "collapsing", "oscillating")  # what the classifier predicts
DIVERGED = "diverged"  # a NaN/Inf (or the run's summary.json says so): a rule, never the classifier


@dataclass
class Diagnosis:
    label: str  # one of LABELS or DIVERGED
    probabilities: dict[str, float]  # per label in LABELS (DIVERGED: {})
    evidence: dict[str, float] = field(default_factory=dict)  # named, human-readable signals
    advice: list[str] = field(default_factory=list)  # from the lessons, for this label/evidence
    model: str = ""  # "losses" (any GAN's log) or "rich" (ganstab traces with g_spread, data_spread, g_move)
    rows: int = 0  # trace rows the diagnosis saw
    diverged_at: float | None = None  # step of the first NaN/Inf (DIVERGED only)
    diverged_why: str = ""  # the sign in words, e.g. "grad_norm_d is inf at step 2" (DIVERGED only)
    uncertain: bool = False  # top probability under the calibrated threshold (classifier.diagnose_trace)
    context: dict = field(default_factory=dict)  # what the advice was conditioned on (advice.advice_for)
    # uncertain only: the labels the log cannot rule out, likeliest first: the two likeliest, or all
    # three where the third is not unlikely enough (calibration.third_label_bar); () = the two likeliest
    named: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return 1.0 if self.label == DIVERGED else self.probabilities.get(self.label, 0.0)

    @property
    def verdict(self) -> str:
        """The diagnosis in the words `ganstab train`, the search's member notes and `ganstab
        diagnose` all print: "converging (confidence 0.93)", "uncertain: converging or oscillating
        (confidence 0.65)" (the labels it cannot rule out, the likeliest first: two, or three as in
        "uncertain: converging, oscillating or collapsing"), "diverged at step N"."""
        if self.label == DIVERGED:
            return DIVERGED + (f" at step {self.diverged_at:g}" if self.diverged_at is not None else "")
        if self.uncertain:
            *rest, last = self.named or self.top_two
            return f"uncertain: {', '.join(rest)} or {last} (confidence {self.confidence:.2f})"
        return f"{self.label} (confidence {self.confidence:.2f})"

    @property
    def top_two(self) -> tuple[str, str]:
        """The two likeliest labels, the likeliest first."""
        first, second = sorted(self.probabilities, key=lambda k: -self.probabilities[k])[:2]
        return first, second

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "confidence": self.confidence, "verdict": self.verdict}

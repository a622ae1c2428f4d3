"""How `ganstab diagnose` shows a diagnosis: rich text for people, JSON for scripts (`--json`).

The text is a few plain lines with colour as decoration only, so it reads the same in a pipe
(rich drops the styles there) as in a terminal; each evidence name comes with its meaning in words
(EVIDENCE_MEANINGS, the same words as docs/diagnosis.md). JSON has no NaN, so NaN/Inf become null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.text import Text

from ganstab.diagnose.context import describe_context
from ganstab.diagnose.result import DIVERGED, Diagnosis

LABEL_STYLES = {
    "converging": "bold green",
    "collapsing": "bold red",
    "oscillating": "bold yellow",
    DIVERGED: "bold white on red",
}


# What each evidence name (classifier.evidence) means, in words; docs/diagnosis.md says more, with the
# typical values of each label on the corpus.
EVIDENCE_MEANINGS = {
    "d_loss_early": "D's loss early on (median of the first quarter of the rows)",
    "d_loss_late": "D's loss late in the run (median of the last quarter)",
    "d_loss_late_wobble": "how much D's loss still jumps late, against its whole range (high: swinging)",
    "g_loss_early": "G's loss early on (median of the first quarter of the rows)",
    "g_loss_late": "G's loss late in the run (median of the last quarter)",
    "g_loss_late_wobble": "how much G's loss still jumps late, against its whole range (high: swinging)",
    "d_wins": "1: D is beating G (D's loss fell or sits far under G's, or D(x) > 0.9 and D(G(z)) < 0.1; NS, "
    "minimax, LS losses); 0: not seen",
    "d_wins_from_start": "1: D was already winning in the first quarter of the rows (so nothing is measured "
    "against the start)",
    "d_real_late": "D's output on real data late, as a probability (D(x); ~0.5: D cannot tell; near 1: sure)",
    "d_fake_late": "D's output on G's samples late, as a probability (D(G(z)); near 0: D sees through G)",
    "d_loss_below_start_late": "share of late rows with D's loss under its value at the start (near 1: D keeps winning)",
    "g_loss_above_start_late": "share of late rows with G's loss over its value at the start (near 1: G keeps losing)",
    "g_loss_cycle_rows": "period in rows of a slow cycle in G's late loss (G hopping between modes); 0: none stands out",
    "g_spread_late_over_early": "spread of G's samples late, against early on (far under 1: bunched up)",
    "g_spread_late_over_data": "spread of G's samples late, against the data's (~1: like the data; far under 1: collapsed)",
    "g_move_late": "how far G's fixed-noise samples move per evaluation, late (near 0: still; high: hopping modes)",
    "diverged_at": "the step at which a value turned NaN or infinite",
}


def evidence_meaning(name: str) -> str:
    """The plain-words meaning of an evidence name ("" for a name without one)."""
    return EVIDENCE_MEANINGS.get(name, "")


def _num(v: Any) -> str:
    if v is None:
        return "-"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "-"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.3g}"


def _pairs(title: str, items: list[tuple[str, str]]) -> Text:
    line = Text(f"  {title:<14}", style="dim")
    for i, (k, v) in enumerate(items):
        line.append("  " if i else "")
        line.append(f"{k} ")
        line.append(v, style="bold")
    return line


def render_text(name: str, d: Diagnosis, notes: Sequence[str] = ()) -> Group:
    """One diagnosis as a few lines: label and confidence, probabilities, evidence (each with its
    meaning in words), advice, and the reader's notes (e.g. a step counter renumbered)."""
    head = Text()
    head.append(f"{name}: ", style="bold")
    # the verdict in the words `ganstab train` and the search print too (Diagnosis.verdict)
    head.append(d.verdict, style="bold" if d.uncertain else LABEL_STYLES.get(d.label, "bold"))
    if d.label == DIVERGED:
        head.append(f" ({d.diverged_why or 'a NaN/Inf in the losses'})")
    details = [f"{d.rows} rows"] + ([f"model {d.model}"] if d.model else [])
    head.append(f"  ({', '.join(details)})", style="dim")
    lines: list[Text] = [head]
    if d.uncertain:
        lines += [Text(f"  {line}", style="yellow") for line in uncertain_lines(d)]
    if d.label == "converging" and d.evidence.get("d_wins") == 1:  # the evidence must not go unsaid
        lines.append(
            Text(
                "  but: the evidence says D is winning, which few converging runs show (2 % of the corpus's): "
                "look at the samples before trusting `converging`.",
                style="yellow",
            )
        )
    if d.probabilities:
        probs = sorted(d.probabilities.items(), key=lambda kv: -kv[1])
        lines.append(_pairs("probabilities", [(k, f"{v:.2f}") for k, v in probs]))
    if d.evidence:
        lines.append(Text("  evidence", style="dim"))
        width = max(len(k) for k in d.evidence)
        for k, v in d.evidence.items():
            line = Text(f"    {k:<{width}}  ")
            line.append(f"{_num(v):>7}", style="bold")
            if meaning := evidence_meaning(k):
                line.append(f"  {meaning}", style="dim")
            lines.append(line)
    if d.advice:
        # what the advice was conditioned on (a ganstab run's config, or --data/--arch/--loss)
        where = describe_context(d.context) if getattr(d, "context", None) else ""
        lines.append(Text(f"  advice (for {where})" if where else "  advice", style="dim"))
        for item in d.advice:
            lines.append(Text(f"    - {item}"))
    for note in notes:
        lines.append(Text(f"  note: {note}", style="yellow"))
    return Group(*lines)


# What tells each pair of labels apart where the losses do not (docs/labels.md's rules).
LOOK_AT = {
    frozenset(("converging", "collapsing")): "mode coverage: on a sample grid or scatter against the data, "
    "does G reach every mode (converging) or only some, however sharp (collapsing)?",
    frozenset(("converging", "oscillating")): "the same fixed-noise sample grid at successive evaluations: "
    "does it stay put (converging) or hop between modes (oscillating)?",
    frozenset(("collapsing", "oscillating")): "which modes G covers at successive evaluations: the same few "
    "(collapsing) or other ones each time (oscillating)?",
}


def uncertain_lines(d: Diagnosis) -> list[str]:
    """What "uncertain" means for this diagnosis, which two labels the log cannot separate, and
    what to look at (or give: --samples) to decide."""
    from ganstab.diagnose.model_files import fitted

    first, second = d.top_two
    bar = fitted("CALIBRATION").get(d.model, {}).get("uncertain_below")
    why = f"under {bar:.2f}, the confidence above which 95 % of" if bar else "too low for"
    if len(d.named) == 3:
        cannot = f"the log cannot rule out any of the three ({', '.join(d.named)})"
        look = f"{LOOK_AT[frozenset((first, second))]} And {LOOK_AT[frozenset(d.named[1:])]}"
    else:
        cannot, look = f"the log cannot separate {first} from {second}", LOOK_AT[frozenset((first, second))]
    return [
        f"uncertain: the likeliest label, {first}, is at confidence {d.confidence:.2f}, {why} the "
        f"corpus's diagnoses of logs like this were right; {cannot}.",
        f"to decide, look at {look} Or give G's samples: "
        "`ganstab diagnose LOG --samples SAMPLES.npy --real REAL.npy` (docs/diagnosis.md).",
    ]


def samples_line(found: dict) -> Text:
    """The label decided from G's samples (`ganstab diagnose --samples`), with the rules' signals."""
    sig = ", ".join(f"{k} {_num(v)}" for k, v in found["signals"].items())
    label = found["label"]
    line = Text("  decided from G's samples: ", style="bold")
    line.append(label, style=LABEL_STYLES.get(label, "bold"))
    line.append(f"  ({sig}; {found['modes']} modes found in the real data; docs/labels.md's rules)")
    if label == "ambiguous":
        line.append(" - the samples meet no label's rule: neither settled on every mode nor collapsed nor hopping")
    return line


def jsonable(v: Any) -> Any:
    """Plain JSON values: NaN/Inf -> None, numpy scalars and arrays -> Python numbers and lists."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy scalar or array
        return jsonable(v.tolist())
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v


def to_json(results: Sequence[tuple]) -> str:
    """The `--json` output, one object per log: {"name", **Diagnosis.to_dict(), "notes"} (notes
    only where the reader made some), or {"name", "label": null, "error"} for a log that could not
    be labelled. `results` holds (name, Diagnosis or error text[, notes]); NaN/Inf become null."""
    out = []
    for name, d, *rest in results:
        notes = list(rest[0]) if rest else []
        if isinstance(d, str):
            item = {"name": name, "label": None, "error": d}
        else:
            item = {"name": name, **d.to_dict()}
        out.append(jsonable(item | ({"notes": notes} if notes else {})))
    return json.dumps(out, indent=2, allow_nan=False)

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
    "d_wins": "1: D is beating G (D's loss fell, G's rose; NS, minimax, LS losses); 0: not seen",
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
    head.append(d.label.upper(), style=LABEL_STYLES.get(d.label, "bold"))
    if d.label == DIVERGED:
        at = f" at step {_num(d.diverged_at)}" if d.diverged_at is not None else ""
        head.append(f"{at} ({d.diverged_why or 'a NaN/Inf in the losses'})")
    elif getattr(d, "uncertain", False):  # under the corpus-chosen threshold: name the two likeliest
        first, second = sorted(d.probabilities, key=lambda k: -d.probabilities[k])[:2]
        head.append(f"  UNCERTAIN: {first} or {second}  (confidence {d.confidence:.2f})")
    else:
        head.append(f"  confidence {d.confidence:.2f}")
    details = [f"{d.rows} rows"] + ([f"model {d.model}"] if d.model else [])
    head.append(f"  ({', '.join(details)})", style="dim")
    lines: list[Text] = [head]
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


def _jsonable(v: Any) -> Any:
    """Plain JSON values: NaN/Inf -> None, numpy scalars and arrays -> Python numbers and lists."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy scalar or array
        return _jsonable(v.tolist())
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
        out.append(_jsonable(item | ({"notes": notes} if notes else {})))
    return json.dumps(out, indent=2, allow_nan=False)

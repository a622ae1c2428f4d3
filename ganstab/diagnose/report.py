"""How `ganstab diagnose` shows a diagnosis: rich text for people, JSON for scripts (`--json`).

The text is a few plain lines with colour as decoration only, so it reads the same in a pipe
(rich drops the styles there) as in a terminal. JSON has no NaN, so NaN/Inf become null.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Group
from rich.text import Text

from ganstab.diagnose.result import DIVERGED, Diagnosis

LABEL_STYLES = {
    "converging": "bold green",
    "collapsing": "bold red",
    "oscillating": "bold yellow",
    DIVERGED: "bold white on red",
}


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


def render_text(name: str, d: Diagnosis) -> Group:
    """One diagnosis as a few lines: label and confidence, probabilities, evidence, advice."""
    head = Text()
    head.append(f"{name}: ", style="bold")
    head.append(d.label.upper(), style=LABEL_STYLES.get(d.label, "bold"))
    if d.label == DIVERGED:
        at = f" at step {_num(d.diverged_at)}" if d.diverged_at is not None else ""
        head.append(f"{at} (a NaN/Inf in the losses)")
    else:
        head.append(f"  confidence {d.confidence:.2f}")
    details = [f"{d.rows} rows"] + ([f"model {d.model}"] if d.model else [])
    head.append(f"  ({', '.join(details)})", style="dim")
    lines: list[Text] = [head]
    if d.probabilities:
        probs = sorted(d.probabilities.items(), key=lambda kv: -kv[1])
        lines.append(_pairs("probabilities", [(k, f"{v:.2f}") for k, v in probs]))
    if d.evidence:
        lines.append(_pairs("evidence", [(k, _num(v)) for k, v in d.evidence.items()]))
    if d.advice:
        lines.append(Text("  advice", style="dim"))
        for item in d.advice:
            lines.append(Text(f"    - {item}"))
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


def to_json(results: list[tuple[str, Diagnosis]]) -> str:
    """The `--json` output: a list of {"name", **Diagnosis.to_dict()}, NaN/Inf as null."""
    out = [{"name": name, **_jsonable(d.to_dict())} for name, d in results]
    return json.dumps(out, indent=2, allow_nan=False)

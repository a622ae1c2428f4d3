"""A recommendation for a person: the chosen config as a commented YAML, and the CLI's report."""

from __future__ import annotations

import math
import textwrap

from ganstab.engine.config import dump_yaml
from ganstab.formatting import short_value
from ganstab.recommend.candidates import Recommendation, mean_std, ranked

__all__ = ["format_report", "write_config"]


def _wrap(text: str, width: int = 96) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def _cell(value: object) -> str:
    """A table cell; '-' for no value (a robust score of -inf: no seed finished)."""
    return short_value(value, hide_inf=True)


def write_config(rec: Recommendation) -> None:
    """The chosen config as YAML with a comment header (load_yaml and `ganstab train --config`
    ignore comments)."""
    best = rec.best
    header = [
        f"# ganstab recommend --dataset {rec.dataset} ({rec.source}): {best.label}",
        *(f"# {line}" for line in _wrap(rec.message)),
        f"# score over seeds {rec.seeds}: {mean_std(best, 'score')} (robust score mean - std = "
        f"{best.robust_score:.3g}; {best.failed} failed seed(s))",
        *(f"# {line}" for text in [*score_meaning(rec), *dropped_modes(rec)] for line in _wrap(text)),
        f"# train it: ganstab train --config {rec.out}",
    ]
    rec.out.parent.mkdir(parents=True, exist_ok=True)
    rec.out.write_text("\n".join(header) + "\n" + dump_yaml(rec.config))


def score_meaning(rec: Recommendation) -> list[str]:
    """A line saying what the score is where the metrics alone would not: a points file's (modes
    found by clustering), or images scored by the offline proxy rather than FID."""
    from ganstab.engine.metrics import SCORE_WORDS  # torch: only when a report is written

    names = set(rec.best.mean)
    if "coverage" in names:
        return [f"Score: {SCORE_WORDS['points']}."]
    if "fd_proxy" in names and not any(math.isfinite(c.mean.get("fid", math.nan)) for c in rec.candidates):
        return [f"Score: {SCORE_WORDS['images_proxy']}."]
    return []


def dropped_modes(rec: Recommendation) -> list[str]:
    """A warning when the chosen configuration covered fewer modes on some new seed than the most
    any retrained seed covered: the seed check saw it drop a mode, which a mean can hide."""
    every = [v for c in rec.candidates for v in c.per_seed.get("modes", []) if v is not None]
    chosen = rec.best.per_seed.get("modes", [])
    short = [(s, v) for s, v in zip(rec.seeds, chosen) if v is not None and v < max(every, default=0)]
    if not short:
        return []
    seeds = ", ".join(f"seed {s}: {v:.0f}" for s, v in short)
    return [
        f"Warning: the chosen configuration covered fewer modes on some new seeds ({seeds}) than the "
        f"{max(every):.0f} that the best retrained seed reached; it may drop a mode (retrain with more --reseed, or search longer)."
    ]


def format_report(rec: Recommendation) -> str:
    """Plain-text report for the CLI: the message, one row per candidate (chosen one marked `*`),
    mean ± std per metric over the seeds, the rule and where the YAML went."""
    metrics = [m for m in rec.best.mean if m != "score"] + ["score"]
    head = ["", "candidate", "history", "runs", "failed", *metrics, "mean-std"]
    # one order, the rule's, for the table and the parameter lines under it
    order = ranked(rec.candidates)
    rows = []
    for i in order:
        c = rec.candidates[i]
        rows.append(
            [
                "*" if i == rec.chosen else "",
                c.label,
                _cell(c.history_score),
                str(c.history_runs),
                f"{c.failed}/{len(c.seeds)}",
                *(mean_std(c, m) for m in metrics),
                _cell(c.robust_score),
            ]
        )
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    lines = [f"recommend {rec.dataset} from {rec.storage} ({rec.source})", *_wrap(rec.message), ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("")
    for c in (rec.candidates[i] for i in order):
        params = ", ".join(f"{k.split('.')[-1]}={_cell(v)}" for k, v in c.params.items())
        lines.append(f"  {c.label}: {params}")
    lines += [
        "",
        f"Seeds {rec.seeds} (new to the history), trained in {rec.run_dir}.",
        "Rule: fewest failed seeds, then the highest mean - std of the score (sample std).",
        *score_meaning(rec),
        *dropped_modes(rec),
        f"Chosen: {rec.best.label}. Config written to {rec.out}: ganstab train --config {rec.out}",
    ]
    if rec.studies:
        lines.append(
            f"The dashboard shows it in the note and user attributes of study "
            f"{', '.join(map(repr, rec.studies))}."
        )
    lines += [f"note: {n}" for n in rec.notes]
    return "\n".join(lines)

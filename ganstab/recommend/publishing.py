"""Showing a recommendation in optuna-dashboard.

Every study that holds runs on the data set gets the recommendation as user attributes
(STUDY_ATTRS: the chosen trial, the seeds' mean and spread, the YAML's path, when) and as the last
section of its optuna-dashboard note, under the heading NOTE_HEADING: what a person wrote in the
note above that heading is kept, the section itself is rewritten by each recommendation. The
values are short: the dashboard's attribute table does not wrap them well.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ganstab.formatting import short_value
from ganstab.links import trial_page_path
from ganstab.recommend.candidates import SOURCE_LESSONS, SOURCE_SHIPPED, Recommendation, mean_std, ranked

__all__ = ["NOTE_HEADING", "STUDY_ATTRS", "publish", "recommendation_note"]

# study user attributes of the latest recommendation: what each holds
STUDY_ATTRS = {
    "recommended": "the chosen trial, 'STUDY #N' (or 'lessons default')",
    "recommended_score": "the score's mean ± std over the new seeds, and the seeds",
    "recommended_yaml": "the absolute path of the YAML written",
    "recommended_at": "when, UTC",
}
NOTE_HEADING = "### ganstab recommendation"  # the study note's section that recommend rewrites


def _attrs(rec: Recommendation) -> dict[str, str]:
    """The STUDY_ATTRS values: short strings, as the dashboard shows them."""
    best = rec.best
    values = {
        "recommended": best.label,
        "recommended_score": f"{mean_std(best, 'score')} (seeds {', '.join(map(str, rec.seeds))})",
        "recommended_yaml": str(rec.out.resolve()),
        "recommended_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    assert set(values) == set(STUDY_ATTRS)
    return values


def _break_path(path: str) -> str:
    """A long path as text that a narrow note box can wrap after each '/' (a zero-width space;
    the code block below keeps the path to copy)."""
    return path.replace("/", "/\u200b")


def recommendation_note(rec: Recommendation, study_ids: dict[str, int] | None = None) -> str:
    """The recommendation as the Markdown section of a study's dashboard note: the chosen trial
    (a link to its page where its study is known), the seeds' mean and spread, the YAML's path and
    how to train it, and the candidates. Lines are short: the note box does not scroll sideways."""
    best = rec.best
    chosen = f"**{best.label}**"
    if best.study_name is not None and best.trial_number is not None and study_ids:
        sid = study_ids.get(best.study_name)
        if sid is not None:
            chosen = f"[**{best.label}**]({trial_page_path(sid, best.trial_number)})"
    if rec.source in (SOURCE_LESSONS, SOURCE_SHIPPED):
        chosen += " (no converging trial in the history)"
    yaml_path = str(rec.out.resolve())
    lines = [
        NOTE_HEADING,
        "",
        f"For **{rec.dataset}**, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "(`ganstab recommend` rewrites this section).",
        "",
        f"- Chosen: {chosen}",
        f"- Score over seeds {', '.join(map(str, rec.seeds))}: **{mean_std(best, 'score')}** (mean ± std)",
        f"- Mean - std: {short_value(best.robust_score, hide_inf=True)}; failed seeds: {best.failed} of "
        f"{len(best.seeds)}",
        f"- YAML: {_break_path(yaml_path)}",
        "",
        "Train it:",
        "",
        "```",
        "ganstab train --config \\",
        f"  {yaml_path}",
        "```",
        "",
        "| candidate | score (seeds) | failed |",
        "|---|---|---|",
    ]
    for i in ranked(rec.candidates):
        c = rec.candidates[i]
        name = f"**{c.label}**" if i == rec.chosen else c.label
        lines.append(f"| {name} | {mean_std(c, 'score')} | {c.failed}/{len(c.seeds)} |")
    lines += ["", rec.message]
    return "\n".join(lines)


def _merge_note(old: str, section: str) -> str:
    """A person's note above NOTE_HEADING kept, the section replaced (or added at the end)."""
    keep = old.split(NOTE_HEADING, 1)[0].rstrip()
    return f"{keep}\n\n{section}" if keep else section


def publish(rec: Recommendation, storage: str, studies: Sequence[str]) -> None:
    """Show `rec` in the dashboard: the STUDY_ATTRS user attributes and the note section of each
    study in `studies` (those holding runs on its data set). A study that cannot be written is
    named in `rec.notes`: the YAML is written already, and a dashboard note is no reason to fail."""
    import optuna

    from ganstab.storage.studies import open_optuna_storage

    if not studies:
        return
    opened = open_optuna_storage(storage)
    try:
        loaded = [optuna.load_study(study_name=name, storage=opened) for name in studies]
        section = recommendation_note(rec, {s.study_name: s._study_id for s in loaded})
        attrs = _attrs(rec)
        for study in loaded:
            try:
                for key, value in attrs.items():
                    study.set_user_attr(key, value)
                _save_study_note(study, section)
            except Exception as e:  # a locked or read-only database: said, not raised
                rec.notes.append(f"could not write the recommendation into study {study.study_name!r}: {e}")
                continue
            rec.studies.append(study.study_name)
    finally:
        opened.engine.dispose()


def _save_study_note(study: Any, section: str) -> None:
    try:  # optional: without optuna-dashboard the user attribute alone carries it
        from optuna_dashboard import get_note, save_note
    except ImportError:
        return
    save_note(study, _merge_note(get_note(study), section))

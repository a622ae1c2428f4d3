"""The recommendation in optuna-dashboard: the study note's section below a person's words, the
link to the chosen trial, and short user attributes."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from ganstab.links import trial_page_path
from ganstab.recommend import NOTE_HEADING, format_report, recommend, recommendation_note
from ganstab.recommend.publishing import _merge_note
from tests.recommend._fixtures import STUDY, a_recommendation, copy_db

pytestmark = pytest.mark.usefixtures("one_thread")


def _get_json(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200, url
        return json.loads(r.read())


def test_the_dashboard_shows_the_recommendation_in_the_study(history_url: str, tmp_path: Path) -> None:
    """Through optuna-dashboard's HTTP API on the real SQLite file: the study's note has the
    recommendation section (chosen trial, linked; mean ± std; the YAML's path) below what a person
    wrote there, and short user attributes; a second recommendation replaces the section."""
    from optuna_dashboard import save_note

    from ganstab.dashboard.server import start
    from ganstab.links import trial_page_path
    from ganstab.recommend import NOTE_HEADING, STUDY_ATTRS

    url = copy_db(history_url, tmp_path / "copy.db")
    study = optuna.load_study(study_name=STUDY, storage=url)
    save_note(study, "My own words about this study.")
    out = tmp_path / "ring8.yaml"
    for _ in range(2):
        rec = recommend("ring8", storage=url, reseed=2, top=1, out=out, runs_dir=tmp_path / "runs")
    assert rec.studies == [STUDY] and "note and user attributes of study 'quick-ring8'" in format_report(rec)
    best = rec.best
    assert (best.study_name, best.trial_number) == (STUDY, int(best.label.split("#")[1]))
    (tmp_path / "art").mkdir()
    with start(url, port=0, artifact_dir=tmp_path / "art") as server:
        base = f"http://127.0.0.1:{server.port}"
        (summary,) = _get_json(base + "/api/studies")["study_summaries"]
        detail = _get_json(f"{base}/api/studies/{summary['study_id']}")
    note = detail["note"]["body"]
    assert note.startswith("My own words about this study.\n\n" + NOTE_HEADING)
    assert note.count(NOTE_HEADING) == 1  # the second recommendation replaced the first's section
    link = trial_page_path(summary["study_id"], best.trial_number)
    assert f"- Chosen: [**{best.label}**]({link})" in note
    mean, std = best.mean["score"], best.std["score"]
    assert f"**{mean:.3g} ± {std:.2g}** (mean ± std)" in note and "seeds 1, 2:" in note
    assert f"  {out.resolve()}\n" in note  # the command to copy: ganstab train --config PATH
    attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
    assert set(STUDY_ATTRS) <= set(attrs)
    assert attrs["recommended"] == best.label and attrs["recommended_yaml"] == str(out.resolve())
    assert attrs["recommended_score"] == f"{mean:.3g} ± {std:.2g} (seeds 1, 2)"
    # short enough for the dashboard's attribute table (a path is as long as it is)
    assert all(len(attrs[k]) <= 40 for k in STUDY_ATTRS if k != "recommended_yaml")


def test_the_note_section_replaces_its_old_self_below_a_persons_words(tmp_path: Path) -> None:
    rec = a_recommendation(tmp_path)
    section = recommendation_note(rec, {"s": 7})
    assert section.startswith(NOTE_HEADING + "\n")
    assert f"- Chosen: [**s #1**]({trial_page_path(7, 1)})" in section
    assert "| **s #1** | 0.7 ± 0.05 | 0/2 |" in section and "| s #2 | - | 2/2 |" in section
    assert "**s #1**" in recommendation_note(rec) and "](" not in recommendation_note(rec)  # no id: no link
    once = _merge_note("My words.", section)
    assert once == f"My words.\n\n{section}"
    assert _merge_note(once, "### ganstab recommendation\nnew") == "My words.\n\n### ganstab recommendation\nnew"
    assert _merge_note("", section) == section

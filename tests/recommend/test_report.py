"""The recommendation for a person: the YAML (the chosen config under a comment header, loadable as
it is) and the CLI's report (the chosen row marked, a dash where no seed finished)."""

from __future__ import annotations

from pathlib import Path

from ganstab.engine.config import load_yaml, to_dict
from ganstab.recommend import format_report, write_config
from tests.recommend._fixtures import a_recommendation


def test_the_yaml_is_the_chosen_config_under_a_comment_header(tmp_path: Path) -> None:
    rec = a_recommendation(tmp_path)
    write_config(rec)
    text = rec.out.read_text()
    assert text.splitlines()[:2] == ["# ganstab recommend --dataset ring8 (history): s #1", "# 2 finished runs."]
    assert "# score over seeds [1, 2]: 0.7 ± 0.05 (robust score mean - std = 0.65; 0 failed seed(s))" in text
    assert to_dict(load_yaml(rec.out)) == to_dict(rec.config)


def test_the_report_marks_the_chosen_and_shows_a_dash_where_no_seed_finished(tmp_path: Path) -> None:
    rec = a_recommendation(tmp_path)
    lines = format_report(rec).splitlines()
    assert lines[0] == "recommend ring8 from sqlite:///x.db (history)"
    head = next(i for i, line in enumerate(lines) if "candidate" in line)
    assert lines[head].split() == ["candidate", "history", "runs", "failed", "modes", "score", "mean-std"]
    assert lines[head + 1].split() == ["*", "s", "#1", "0.9", "1", "0/2", "8", "±", "0", "0.7", "±", "0.05", "0.65"]
    assert lines[head + 2].split() == ["s", "#2", "0.45", "1", "2/2", "-", "-", "-"]
    assert "  s #1: lr_d=0.0004" in lines and "  s #2: lr_d=0.0008" in lines
    assert lines[-1] == f"Chosen: s #1. Config written to {rec.out}: ganstab train --config {rec.out}"


def test_a_seed_that_dropped_a_mode_is_named_in_the_report_and_the_yaml(tmp_path: Path) -> None:
    """The seed check in words: the chosen configuration covered 5 modes on one new seed where 6
    were reached; a mean of 5.67 would hide it."""
    rec = a_recommendation(tmp_path)
    rec.best.per_seed = {"modes": [6.0, 5.0], "score": [0.9, 0.75]}
    rec.candidates[1].per_seed = {"modes": [None, None], "score": [None, None]}
    warning = "Warning: the chosen configuration covered fewer modes on some new seeds (seed 2: 5) than the 6"
    assert any(line.startswith(warning) for line in format_report(rec).splitlines())
    write_config(rec)
    assert "# Warning: the chosen configuration covered fewer modes" in rec.out.read_text()
    rec.best.per_seed["modes"] = [6.0, 6.0]
    assert "Warning" not in format_report(rec)


def test_a_points_files_score_and_the_image_proxy_are_named(tmp_path: Path) -> None:
    rec = a_recommendation(tmp_path)
    rec.best.mean.update(coverage=0.9)
    assert "Score: modes covered / modes found x HQ fraction, where the modes are the k-means clusters" in format_report(rec)
    rec = a_recommendation(tmp_path)
    rec.best.mean.update(fd_proxy=3.0, fid=float("nan"))
    assert "Score: minus fd_proxy, an offline proxy" in format_report(rec)
    write_config(rec)
    assert "# Score: minus fd_proxy, an offline proxy" in rec.out.read_text()

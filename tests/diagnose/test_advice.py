"""advice_for: every item comes from a lesson (or says it does not), and each label gets its lessons."""

from __future__ import annotations

import re

import pytest

from ganstab.diagnose.advice import advice_for
from ganstab.diagnose.result import DIVERGED, LABELS

LESSON = re.compile(r"\(lesson (\d+)\)\.?$")
BASIC = "(a basic check, not one of the lessons)."


def _lessons(items: list[str]) -> list[int]:
    return [int(m.group(1)) for m in map(LESSON.search, items) if m]


@pytest.mark.parametrize("label", [*LABELS, DIVERGED])
@pytest.mark.parametrize("d_wins", [0.0, 1.0])
def test_every_item_names_its_lesson_and_is_listed_once(label: str, d_wins: float) -> None:
    items = advice_for(label, {"d_wins": d_wins})
    assert items and len(items) == len(set(items))
    for item in items:
        assert LESSON.search(item) or item.endswith(BASIC), item
    assert all(1 <= n <= 10 for n in _lessons(items))


def test_collapsing_lower_lr_and_restart() -> None:
    items = advice_for("collapsing", {})
    assert "lower the learning rate" in items[0].lower() and "restart from scratch" in items[0]
    assert _lessons(items) == [5, 5, 5]
    assert any("feature matching" in i and "minibatch discrimination" in i for i in items)


def test_oscillating_stabilisers_and_no_stop_on_a_spike() -> None:
    items = advice_for("oscillating", {"d_wins": 0.0})
    assert set(_lessons(items)) == {10, 7, 6, 9, 2}
    assert "spectral normalization" in items[0].lower()  # lesson 10: the most helpful technique first


def test_d_wins_advises_sn_and_ttur_not_more_filters() -> None:
    items = advice_for("collapsing", {"d_wins": 1.0})
    assert _lessons(items)[:3] == [1, 10, 9]
    assert "rarely help" in items[0] and "filters" in items[0]
    assert not any(re.search(r"\badd (more )?filters\b", i, re.I) for i in items)
    assert advice_for("collapsing", {"d_wins": 0.5}) == advice_for("collapsing", {})  # threshold is > 0.5
    assert advice_for("collapsing", {"d_wins": float("nan")}) == advice_for("collapsing", {})
    both = advice_for("oscillating", {"d_wins": 1.0})
    assert _lessons(both).count(10) == 1 and _lessons(both).count(9) == 1


def test_diverged_lower_lr_data_scaling_and_nan_checks() -> None:
    items = advice_for(DIVERGED, {"d_wins": 1.0})  # "D wins" means nothing once the losses are NaN
    assert 1 not in _lessons(items)
    assert "lower the learning rate" in items[0].lower()
    assert any("[-1, 1]" in i for i in items) and any("NaN" in i for i in items)


def test_converging_keep_going_and_judge_by_samples() -> None:
    (item,) = advice_for("converging", {})
    assert "keep training" in item.lower() and "samples" in item and _lessons([item]) == [2]


def test_unknown_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="No advice for label 'exploding'; expected one of: converging"):
        advice_for("exploding", {})

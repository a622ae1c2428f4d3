"""What the commands show while they run: times left as a person reads them, the training's live
line and the search's progress."""

from __future__ import annotations

import time

from ganstab.engine import config as C

FAST = ["--set", "train.device=cpu", "--set", "model.hidden=32"]


def test_duration_reads_as_a_person_says_it():
    from ganstab.cli.display import duration

    assert [duration(s) for s in (0.2, 42, 185, 3599.6, 7620, float("nan"), -1)] == [
        "0 s",
        "42 s",
        "3 min 05 s",
        "1 h 00 min",
        "2 h 07 min",
        "?",
        "?",
    ]


def test_train_progress_line_shows_the_time_left():
    from io import StringIO

    from rich.console import Console

    from ganstab.cli.display import LiveDisplay, duration
    from ganstab.engine.trainer import CohortTrainer

    cfg = C.apply_overrides(C.preset("lessons"), ["train.steps=40", "train.eval_every=0", *FAST[1::2]])
    trainer = CohortTrainer([cfg], None)
    display = LiveDisplay(Console(file=StringIO()), trainer)
    seen = []
    trainer.train(on_log=lambda t: seen.append((t.step, t.wall_time, display._line())))
    assert [step for step, _, _ in seen] == [10, 20, 30, 40]
    for step, wall, line in seen:
        rate = step / max(wall, 1e-9)
        assert f"  {duration((40 - step) / rate)} left  " in line, line
    assert "  0 s left  " in seen[-1][2]


def test_search_progress_counts_the_trials_done_and_estimates_the_time_left():
    from io import StringIO

    from rich.console import Console

    from ganstab.cli.display import SearchProgress
    from ganstab.search.cohort_job import MemberResult
    from ganstab.search.events import SearchEvent

    out = StringIO()
    progress = SearchProgress(Console(file=out, width=200), n_trials=7, done_before=3)
    progress(SearchEvent("cohort", "cohort 1: trials [4, 5, 6]", {"trials": [4, 5, 6]}))
    progress(
        SearchEvent("trial", "trial 4: COMPLETE", {"result": MemberResult(4, "COMPLETE", "finished", 0.5)})
    )
    progress(SearchEvent("trial", "trial 5: FAIL", {"result": MemberResult(5, "FAIL", "error", None)}))
    time.sleep(0.2)
    progress(SearchEvent("trial", "trial 6: PRUNED", {"result": MemberResult(6, "PRUNED", "pruned", None)}))
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["cohort 1: trials [4, 5, 6]", "trial 4: COMPLETE  [4/7 done]", "trial 5: FAIL"]
    # the cohort has reported: 2 counted trials in >= 0.2 s, 2 to go -> about as long again
    assert lines[3].startswith("trial 6: PRUNED  [5/7 done, about ") and lines[3].endswith(" s left]")
    assert 0 <= int(lines[3].split("about ")[1].split(" s")[0]) <= 5

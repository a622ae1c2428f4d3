"""Progress events: a caller hears each event as a SearchEvent; no listener, no work."""

from __future__ import annotations

import dataclasses

import pytest

from ganstab.search.events import SearchEvent, emit


def test_emit_tells_the_listener_and_nothing_without_one() -> None:
    heard: list[SearchEvent] = []
    emit(heard.append, "cohort", "cohort 0: trials [0, 1]", cohort=0, trials=[0, 1])
    emit(None, "done", "nobody listens")  # no error, nothing to tell
    assert heard == [SearchEvent("cohort", "cohort 0: trials [0, 1]", {"cohort": 0, "trials": [0, 1]})]
    with pytest.raises(dataclasses.FrozenInstanceError):
        heard[0].kind = "done"  # type: ignore[misc]
    assert SearchEvent("done", "x").data == {}

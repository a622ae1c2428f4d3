"""Progress events of long ganstab jobs (a search, a recommendation's retraining): what a caller
is told as the job goes on. A light module (no optuna, no torch), so any job can emit them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventFn", "SearchEvent", "emit"]


@dataclass(frozen=True)
class SearchEvent:
    """Progress for a caller (the CLI prints `message`): kind is one of recovered, cohort, placed,
    trial, waiting, done (a search) and history, cohort, done (a recommendation)."""

    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


EventFn = Callable[[SearchEvent], None]


def emit(on_event: EventFn | None, kind: str, message: str, **data: Any) -> None:
    """Tell `on_event` (if any) of a `kind` event."""
    if on_event is not None:
        on_event(SearchEvent(kind, message, data))

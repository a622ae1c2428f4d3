"""The error of a search that cannot go on. A light module (no optuna, no torch), so the CLI can
catch it before it imports the search."""

from __future__ import annotations

__all__ = ["SearchError"]


class SearchError(ValueError):
    """A search cannot go on; the message names the value or setting at fault. `key` is the
    `SearchSettings` field the error is about (None when it is about no single one), so a caller
    can name its own spelling of that option (`n_trials` is the CLI's `--trials`)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

"""Name -> implementation registries.

Losses, data sets and metrics register themselves by name; the configuration checks, the CLI's
choices and its error messages are all read from these registries, so a new entry needs no edit
anywhere else.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name no entry is registered under. A KeyError for lookups, a ValueError so that the CLI
    reports it as bad input; its text is the message itself (a KeyError's would be quoted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """An ordered mapping of names to objects, with a one-line description per name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice.")
            self._items[name] = obj
            self._help[name] = help
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            close = difflib.get_close_matches(str(name), list(self._items), n=2)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise UnknownName(f"Unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(self._items)}.")
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def describe(self) -> str:
        """One line per entry, for CLI help."""
        return "\n".join(f"  {n:<10} {self._help[n]}" for n in self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

"""Checks of user-given values shared by every layer (no torch, no optuna): one wording per rule."""

from __future__ import annotations

import numbers
from typing import Any


def whole_number(
    name: str, value: Any, minimum: int = 1, *, unit: str = "", error: type[Exception] = ValueError
) -> int:
    """`value` as an int if it is a whole number >= `minimum` (bools are not), else `error` naming
    `name` and the value: "`--trials` must be a whole number >= 1, but got 0."."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise error(f"{name} must be a whole number{unit} >= {minimum}, but got {value!r}.")
    return int(value)

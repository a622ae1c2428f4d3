"""Numbers as tables show them (no torch, no optuna): one short form for the CLI's tables and
the recommendation's report."""

from __future__ import annotations

import math
from typing import Any


def short_value(value: Any, digits: int = 3, *, hide_inf: bool = False) -> str:
    """`value` in a table cell: a float to `digits` significant digits, anything else as str;
    "-" for None and NaN (no value), and with `hide_inf` for an infinity too, where one only
    stands for "none" (the recommendation's robust score of a candidate with no finished seed).
    Without it an infinite loss reads "inf": a run that blew up, worth showing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if hide_inf and math.isinf(value):
            return "-"
        return f"{value:.{digits}g}"
    return str(value)

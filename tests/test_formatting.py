"""Numbers as tables show them: significant digits, a dash for no value, and an infinity shown
or hidden as the caller says."""

from __future__ import annotations

import math

import numpy as np

from ganstab.formatting import short_value


def test_short_value_reads_as_the_tables_show_it() -> None:
    assert [short_value(v) for v in (0.123456, 1234567.0, 3, "ns", True, None, math.nan)] == [
        "0.123", "1.23e+06", "3", "ns", "True", "-", "-",
    ]  # fmt: skip
    assert short_value(np.float64(0.5)) == "0.5" and short_value(2 / 3, digits=5) == "0.66667"


def test_an_infinity_is_shown_unless_it_only_means_none() -> None:
    assert (short_value(math.inf), short_value(-math.inf)) == ("inf", "-inf")
    assert (short_value(math.inf, hide_inf=True), short_value(-math.inf, hide_inf=True)) == ("-", "-")

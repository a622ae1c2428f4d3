"""Registry: names in order, one line of help each, and errors that offer the close names."""

from __future__ import annotations

import pytest

from ganstab.engine.registry import Registry, UnknownName


def _registry() -> Registry[int]:
    r: Registry[int] = Registry("widget")
    r.register("alpha", "the first")(1)
    r.register("beta", "the second")(2)
    return r


def test_entries_keep_their_order_and_help():
    r = _registry()
    assert r.names() == ["alpha", "beta"] and list(r) == ["alpha", "beta"]
    assert r.get("beta") == 2 and "alpha" in r and "gamma" not in r
    assert r.describe().splitlines() == ["  alpha      the first", "  beta       the second"]


def test_a_name_registered_twice_is_refused():
    r = _registry()
    with pytest.raises(ValueError, match="widget 'alpha' is registered twice"):
        r.register("alpha", "again")(3)


def test_an_unknown_name_is_a_key_and_value_error_with_a_guess():
    r = _registry()
    with pytest.raises(UnknownName) as e:
        r.get("alpah")
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)
    assert str(e.value) == "Unknown widget 'alpah' (did you mean 'alpha'?); choose one of: alpha, beta."
    with pytest.raises(UnknownName, match=r"^Unknown widget 'zzz'; choose one of: alpha, beta\.$"):
        r.get("zzz")

"""`ConfigError`, in a module of its own so that what the config imports to check a value (a
user's metric, engine/metrics/user.py) can raise it without importing the config back."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value or file is invalid; the message names the key and the value."""

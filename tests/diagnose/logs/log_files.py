"""Log files for the reader's tests: a CSV of made-up losses, and a match pattern for its errors."""

from __future__ import annotations

import re
from pathlib import Path


def _write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _rows(n: int, fmt: str = "{s},{d},{g}") -> list[str]:
    return [fmt.format(s=s, d=1.0 + s / 100, g=0.5 + s / 50) for s in range(1, n + 1)]


def _err(path: Path, problem: str) -> str:
    """A `match` pattern: the message names the file, then states the problem."""
    return re.escape(path.name) + ".*" + problem

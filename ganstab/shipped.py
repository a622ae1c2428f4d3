"""Where ganstab's shipped files live: the search spaces and the dashboard configuration.

In a source checkout (and an editable install) they are the top-level folders `search_spaces/`
and `dashboards/`, the only copies in the repository. A wheel carries them inside the package as
`ganstab/_shipped/<folder>/` (setup.py's build step copies them), so an installed ganstab finds
them with no checkout around.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["shipped_dir"]

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(folder: str) -> Path:
    """The folder `folder` ("search_spaces" or "dashboards") of this installation: the copy inside
    an installed package, else the checkout's top-level folder (which may not exist)."""
    packaged = _PACKAGE / "_shipped" / folder
    return packaged if packaged.is_dir() else _PACKAGE.parent / folder

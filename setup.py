"""Build step for the wheel: ship `search_spaces/*.yaml` and `dashboards/ganstab.toml` inside the
package (as `ganstab/_shipped/...`), so an installed ganstab finds them without a checkout. The
top-level folders stay the only copies in the repository; everything else is in pyproject.toml.
An editable install needs no copy: `ganstab.shipped` falls back to the checkout's folders."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"search_spaces": "*.yaml", "dashboards": "ganstab.toml"}  # folder -> files it ships


class BuildPyWithShipped(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder, pattern in SHIPPED.items():
            files = sorted((ROOT / folder).glob(pattern))
            if not files:  # a wheel without them would fail only when a user names a space
                raise SystemExit(f"setup.py: no {folder}/{pattern} to ship (building outside the source tree?)")
            for src in files:
                dest = Path(self.build_lib) / "ganstab" / "_shipped" / folder / src.name
                self.mkpath(str(dest.parent))
                self.copy_file(str(src), str(dest))


setup(cmdclass={"build_py": BuildPyWithShipped})

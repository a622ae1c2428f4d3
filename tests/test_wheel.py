"""ganstab installed from a wheel, not only checked out: the wheel carries the search spaces and the
dashboard config (copies of the top-level folders, byte for byte) and the zoo's configurations, and an installation outside the
source tree runs a named-space search, a diagnose and finds the dashboard config by name.

The installed copy runs with `python -S` and PYTHONPATH = the install target + this venv's
site-packages (for the dependencies): -S skips site-packages' .pth files, among them the editable
install's hook that maps `ganstab` to this checkout, so only the wheel's ganstab can be imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ganstab.dashboard.settings import DashboardError, find_config, load_config
from ganstab.search.space import SPACES_DIR, SpaceError, find_space
from ganstab.shipped import shipped_dir

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {"search_spaces": "*.yaml", "dashboards": "ganstab.toml"}  # as setup.py ships them
TINY = ["train.steps=200", "train.eval_every=100", "model.hidden=16"]
# What a build needs from the checkout (the rest, .venv, corpus/, runs/..., only slows the copy).
BUILD_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "runs", "corpus", "bench", "tests", "*.egg-info", "__pycache__",
    "*.db", ".ruff_cache", ".pytest_cache",
)  # fmt: skip


def test_names_find_the_shipped_files_in_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # names, not paths relative to the checkout
    assert SPACES_DIR == shipped_dir("search_spaces") == REPO / "search_spaces"
    for name in ("quick", "quick.yaml", "search_spaces/quick.yaml"):
        assert find_space(name) == REPO / "search_spaces" / "quick.yaml"
    with pytest.raises(SpaceError, match=r"quik: no such search-space file.*Did you mean 'quick'\?"):
        find_space("quik")
    for name in ("ganstab", "ganstab.toml", "dashboards/ganstab.toml"):
        assert find_config(name) == REPO / "dashboards" / "ganstab.toml"
    assert load_config("dashboards/ganstab.toml")["storage"] == "sqlite:///ganstab.db"
    with pytest.raises(DashboardError, match=r"'nope.toml' does not exist \(shipped configs, by name: ganstab\)"):
        load_config("nope.toml")
    (tmp_path / "ganstab.toml").write_text('[optuna_dashboard]\nport = 9999\n')
    assert load_config("ganstab.toml") == {"port": 9999}  # a file of the working folder comes first


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_checkout(tmp_path: Path) -> None:
    """Build the wheel (`pip wheel --no-deps`, from a copy of the checkout so that no stale build/
    folder leaks in), install it into a fresh target, and from a folder outside the repository run
    `ganstab search --space quick` (local executor, tiny trials) and `ganstab diagnose`."""
    src, wheels, target, work = (tmp_path / d for d in ("src", "wheels", "target", "work"))
    shutil.copytree(REPO, src, ignore=BUILD_IGNORE)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # --no-build-isolation: build with this venv's setuptools, offline (CI fetches nothing)
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
                   cwd=src, check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("ganstab-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for folder, pattern in SHIPPED.items():
            files = sorted((REPO / folder).glob(pattern))
            assert files, f"nothing to ship in {folder}/"
            for f in files:  # the shipped copies are the top-level files, byte for byte
                assert zf.read(f"ganstab/_shipped/{folder}/{f.name}") == f.read_bytes(), f
        zoo = sorted((REPO / "ganstab" / "zoo").glob("*.yaml"))
        assert zoo, "nothing in the zoo"
        for f in zoo:  # the zoo's configurations are package data
            assert zf.read(f"ganstab/zoo/{f.name}") == f.read_bytes(), f
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip

    work.mkdir()
    env = {
        **os.environ,
        # the dependencies: this interpreter's site-packages folders (never the checkout)
        "PYTHONPATH": os.pathsep.join([str(target), *(p for p in sys.path if p.endswith("site-packages"))]),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("RAY_ADDRESS", None)

    def ganstab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-S", str(target / "bin" / "ganstab"), *args],
            cwd=work, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    where = subprocess.run(
        [sys.executable, "-S", "-c", "import ganstab, ganstab.search.space as s; print(ganstab.__file__, s.SPACES_DIR)"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert where.stdout.split() == [
        str(target / "ganstab" / "__init__.py"), str(target / "ganstab" / "_shipped" / "search_spaces")
    ], where.stderr[-2000:]  # fmt: skip

    sets = [a for kv in TINY for a in ("--set", kv)]
    search = ganstab("search", "--space", "quick", "--trials", "2", "--cohort-size", "2", "--executor", "local",
                     "--no-recommend", "--no-diagnose", "--storage", "sqlite:///s.db", "--runs", "runs", *sets)  # fmt: skip
    assert search.returncode == 0, search.stdout[-2000:] + search.stderr[-3000:]
    assert "Search quick-default: space quick, 2 trials" in search.stdout
    dry = ganstab("train", "--config", "zoo:ring8", "--dry-run")
    assert dry.returncode == 0 and "name: ring8" in dry.stdout, dry.stderr[-2000:]
    diagnose = ganstab("diagnose", "runs/quick-default/cohort-000", "--json")
    assert diagnose.returncode == 0, diagnose.stderr[-3000:]
    assert {"converging", "collapsing", "oscillating", "diverged"} & set(diagnose.stdout.replace('"', " ").split())

    config = subprocess.run(
        [sys.executable, "-S", "-c", "from ganstab.dashboard.settings import find_config, load_config; "
         "print(find_config('dashboards/ganstab.toml')); print(load_config('ganstab')['port'])"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert config.returncode == 0, config.stderr[-2000:]
    assert config.stdout.split() == [str(target / "ganstab" / "_shipped" / "dashboards" / "ganstab.toml"), "8080"]

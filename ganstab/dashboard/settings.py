"""What `ganstab dashboard` runs with: its settings, merged from the arguments, a TOML file and the
defaults, each checked so that a mistake is one clear error before anything listens.

Settings come from, in this order: the arguments, a TOML file (`dashboards/ganstab.toml`, the
format of `optuna-dashboard --from-config`, so one file serves both tools), the defaults below.
Relative paths are relative to the working directory, as in optuna-dashboard. The shipped config
is found by name (`ganstab`, `ganstab.toml` or `dashboards/ganstab.toml`) in an installed
package as in a checkout (`find_config`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganstab.shipped import shipped_dir

DEFAULT_STORAGE = "sqlite:///ganstab.db"  # the search's default database
DEFAULT_HOST = "127.0.0.1"  # loopback: the dashboard has no login and can edit and delete studies
DEFAULT_PORT = 8080  # optuna-dashboard's default
DEFAULT_ARTIFACT_DIR = Path("runs/artifacts")  # FileSystemArtifactStore root the search uploads to

# [optuna_dashboard] keys of optuna-dashboard's TOML that ganstab honours, and their types.
_CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "storage": str,
    "host": str,
    "port": int,
    "artifact_dir": str,
    "quiet": bool,
}
# Keys optuna-dashboard knows but `ganstab dashboard` does not act on: refused, never ignored.
_FOREIGN_KEYS = {"storage_class", "server", "allow_unsafe"}


class DashboardError(ValueError):
    """A dashboard setting is wrong (storage, artifact folder, config file, host or port), or
    optuna-dashboard is not installed. The message names the value and what to do."""


@dataclass(frozen=True)
class DashboardSettings:
    """What `serve` runs with, after arguments, config file and defaults are merged."""

    storage: str = DEFAULT_STORAGE  # SQLAlchemy URL of the study database
    host: str = DEFAULT_HOST  # interface to listen on; 127.0.0.1 keeps it on this machine
    port: int = DEFAULT_PORT  # TCP port; 0 picks a free one (printed at start)
    artifact_dir: Path = DEFAULT_ARTIFACT_DIR  # FileSystemArtifactStore root with sample images
    quiet: bool = False  # True: no line per HTTP request on stderr


def find_config(name_or_path: str | Path) -> Path:
    """A config file as given if it exists, else the shipped config of that name (`ganstab`,
    `ganstab.toml` or `dashboards/ganstab.toml`): dashboards/ of a checkout, or its copy inside the
    installed package. Anything else is returned as given (load_config names it)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if path.parent in (Path("."), Path("dashboards")):
        shipped = shipped_dir("dashboards") / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
        if shipped.is_file():
            return shipped
    return path


def load_config(path: str | Path) -> dict[str, Any]:
    """The settings in an optuna-dashboard TOML file, checked: `[optuna_dashboard]` with `storage`,
    `host`, `port`, `artifact_dir`, `quiet`, or the artifact folder as
    `[artifact_store.filesystem] base_path`. Anything else is an error naming the key, so that a
    misspelt key is not silently ignored. Returns only the keys the file sets."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10; optuna-dashboard depends on tomli there
        import tomli as tomllib

    file = find_config(path)
    try:
        with file.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError as e:
        shipped = sorted(p.stem for p in shipped_dir("dashboards").glob("*.toml"))
        raise DashboardError(
            f"dashboard config {str(file)!r} does not exist (shipped configs, by name: "
            f"{', '.join(shipped) or 'none found'})."
        ) from e
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DashboardError(f"dashboard config {str(file)!r} is not valid TOML: {e}") from e

    for section in doc:
        if section not in ("optuna_dashboard", "artifact_store"):
            raise DashboardError(
                f"dashboard config {str(file)!r}: section [{section}] is not supported by ganstab "
                f"dashboard (supported: [optuna_dashboard], [artifact_store.filesystem])."
            )
    table = doc.get("optuna_dashboard", {})
    if not isinstance(table, Mapping):
        raise DashboardError(f"dashboard config {str(file)!r}: optuna_dashboard must be a table.")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in _FOREIGN_KEYS:
            raise DashboardError(
                f"dashboard config {str(file)!r}: optuna_dashboard.{key} is not supported by "
                f"`ganstab dashboard`; remove it (or run optuna-dashboard --from-config)."
            )
        if key not in _CONFIG_KEYS:
            raise DashboardError(
                f"dashboard config {str(file)!r}: unknown key optuna_dashboard.{key}; known keys: "
                f"{', '.join(_CONFIG_KEYS)}."
            )
        expected = _CONFIG_KEYS[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise DashboardError(
                f"dashboard config {str(file)!r}: optuna_dashboard.{key} must be "
                f"{getattr(expected, '__name__', expected)}, but got {value!r}."
            )
        out[key] = value

    stores = doc.get("artifact_store")
    if stores is not None:
        base_path = _artifact_dir(file, stores)
        if "artifact_dir" in out:
            raise DashboardError(
                f"dashboard config {str(file)!r} gives the artifact folder twice "
                f"(optuna_dashboard.artifact_dir and artifact_store.filesystem.base_path); keep one."
            )
        out["artifact_dir"] = base_path
    return out


def _artifact_dir(file: Path, stores: Any) -> str:
    """The artifact folder of the file's [artifact_store.filesystem] table (the only store
    ganstab serves), checked."""
    if not isinstance(stores, Mapping) or set(stores) != {"filesystem"}:
        raise DashboardError(
            f"dashboard config {str(file)!r}: ganstab dashboard supports only "
            f"[artifact_store.filesystem] (base_path = DIR), but got "
            f"{sorted(stores) if isinstance(stores, Mapping) else stores!r}."
        )
    fs = stores["filesystem"]
    if not isinstance(fs, Mapping) or set(fs) != {"base_path"} or not isinstance(fs["base_path"], str):
        raise DashboardError(
            f"dashboard config {str(file)!r}: [artifact_store.filesystem] must hold exactly "
            f'base_path = "DIR", but got {dict(fs) if isinstance(fs, Mapping) else fs!r}.'
        )
    return fs["base_path"]


def resolve_settings(
    storage: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    artifact_dir: str | Path | None = None,
    config: str | Path | None = None,
    quiet: bool | None = None,
) -> DashboardSettings:
    """Merge the arguments (None: not given) over the config file over the defaults, and check
    host and port, so that `serve` fails before binding anything."""
    given = {"storage": storage, "host": host, "port": port, "artifact_dir": artifact_dir, "quiet": quiet}
    merged: dict[str, Any] = load_config(config) if config is not None else {}
    merged.update({k: v for k, v in given.items() if v is not None})
    settings = DashboardSettings(
        storage=merged.get("storage", DEFAULT_STORAGE),
        host=merged.get("host", DEFAULT_HOST),
        port=merged.get("port", DEFAULT_PORT),
        artifact_dir=Path(merged.get("artifact_dir", DEFAULT_ARTIFACT_DIR)),
        quiet=bool(merged.get("quiet", False)),
    )
    if not isinstance(settings.host, str) or not settings.host.strip():
        raise DashboardError(f"host must be a host name or IP address, but got {settings.host!r}.")
    if (
        not isinstance(settings.port, int)
        or isinstance(settings.port, bool)
        or not 0 <= settings.port <= 65535
    ):
        raise DashboardError(
            f"port must be a whole number in 0..65535 (0: any free port), but got {settings.port!r}."
        )
    return settings

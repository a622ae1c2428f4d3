"""ganstab's zoo: configurations ganstab's own search found and measured, shipped in the package.

Each entry is a YAML file in this folder (`ring8.yaml`, `grid25.yaml`, ...) whose comment header says
how it was found (the command, the space, the wall time), when, and what it measured on seeds the
search never saw; `bench/zoo.py` retrains every entry and prints its row beside the published ones.
An entry is named after the data set it is for, so `ganstab recommend --dataset NAME` can offer it
when no search history exists.

`zoo:NAME` names an entry wherever a config file is read (`ganstab train --config zoo:ring8`); an
unknown name is a `ConfigError` that lists the entries. The files sit inside the package, so a
wheel ships them (pyproject.toml's package data) and a checkout reads them in place.
"""

from __future__ import annotations

from pathlib import Path

from ganstab.engine.config import Config, ConfigError, did_you_mean, load_yaml

__all__ = [
    "PREFIX",
    "ZOO_DIR",
    "config_path",
    "entry_header",
    "is_zoo_name",
    "shipped_for",
    "zoo_config",
    "zoo_names",
]

PREFIX = "zoo:"
ZOO_DIR = Path(__file__).resolve().parent


def zoo_names() -> list[str]:
    """The shipped entries, by name (the file names without `.yaml`), sorted."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.yaml"))


def is_zoo_name(text: str | Path) -> bool:
    """Whether `text` is a `zoo:NAME` reference rather than a path."""
    return str(text).startswith(PREFIX)


def _entry(name: str) -> Path:
    path = ZOO_DIR / f"{name}.yaml"
    if not name or "/" in name or not path.is_file():
        names = zoo_names()
        raise ConfigError(
            f"Unknown zoo config {PREFIX}{name!s}{did_you_mean(name, names)}; "
            f"shipped: {', '.join(PREFIX + n for n in names) or 'none'}."
        )
    return path


def config_path(text: str | Path) -> Path:
    """The file a `--config` value means: the shipped entry for `zoo:NAME`, else the path itself."""
    if is_zoo_name(text):
        return _entry(str(text)[len(PREFIX) :])
    return Path(text)


def zoo_config(name: str) -> Config:
    """The entry `name` (with or without the `zoo:` prefix) as a Config."""
    return load_yaml(config_path(name if is_zoo_name(name) else PREFIX + name))


def entry_header(name: str) -> list[str]:
    """The entry's leading comment lines, without the `# `: how it was found and what it measured."""
    lines = []
    for line in _entry(name).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return lines


def shipped_for(dataset: str) -> str | None:
    """The name of the entry shipped for `dataset` (an entry named after it whose data.name is
    that data set), or None."""
    if dataset not in zoo_names():
        return None
    return dataset if zoo_config(dataset).data.name == dataset else None

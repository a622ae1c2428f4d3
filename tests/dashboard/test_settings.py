"""The dashboard's settings: arguments over a TOML file over the defaults, the shipped file valid,
and a bad file an error naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ganstab.dashboard.settings import DashboardError, load_config, resolve_settings

REPO = Path(__file__).resolve().parents[2]


def test_settings_merge_arguments_over_config_over_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        '[optuna_dashboard]\nstorage = "sqlite:///x.db"\nport = 9001\n\n'
        '[artifact_store.filesystem]\nbase_path = "art"\n'
    )
    assert load_config(cfg) == {"storage": "sqlite:///x.db", "port": 9001, "artifact_dir": "art"}
    s = resolve_settings(config=cfg, port=9002)
    assert (s.storage, s.host, s.port, s.artifact_dir) == ("sqlite:///x.db", "127.0.0.1", 9002, Path("art"))
    s = resolve_settings()
    assert (s.storage, s.host, s.port, s.artifact_dir) == (
        "sqlite:///ganstab.db",
        "127.0.0.1",
        8080,
        Path("runs/artifacts"),
    )


def test_shipped_config_is_valid_and_points_at_the_defaults() -> None:
    cfg = load_config(REPO / "dashboards" / "ganstab.toml")
    assert cfg["storage"] == "sqlite:///ganstab.db" and cfg["artifact_dir"] == "runs/artifacts"
    assert cfg["host"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[optuna_dashboard]\nprot = 8080\n", "optuna_dashboard.prot"),
        ('[optuna_dashboard]\nport = "8080"\n', "'8080'"),
        ('[optuna_dashboard]\nserver = "gunicorn"\n', "optuna_dashboard.server"),
        ('[artifact_store.boto3]\nbucket_name = "b"\n', "artifact_store.filesystem"),
        ("[optuna_dashboard\n", "not valid TOML"),
    ],
)
def test_bad_config_is_an_error_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(DashboardError, match=re.escape(named)):
        load_config(cfg)

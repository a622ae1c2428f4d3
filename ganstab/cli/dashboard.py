"""`ganstab dashboard`: optuna-dashboard on the study database, with the trials' sample images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstab.cli._base import _BaseCommand


class DashboardCommand(_BaseCommand):
    help = "optuna-dashboard on the study database, with the trials' sample images"
    description = (
        "Serves optuna-dashboard (pip install optuna-dashboard plotly) on --storage with the "
        "search's artifact store, on 127.0.0.1 unless --host says otherwise. Settings come from the "
        "options, then --config (e.g. dashboards/ganstab.toml), then the defaults."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # None: not given, so that --config or the default decides (dashboard.resolve_settings)
        parser.add_argument("--storage", default=None, help="SQLAlchemy URL (default sqlite:///ganstab.db)")
        parser.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=None, help="TCP port (default 8080; 0: any free port)")
        parser.add_argument(
            "--artifact-dir", type=Path, default=None, help="artifact folder (default runs/artifacts)"
        )
        parser.add_argument(
            "--config", type=Path, default=None, help="TOML settings, e.g. dashboards/ganstab.toml"
        )
        parser.add_argument("--quiet", action="store_true", default=None, help="no line per HTTP request")

    def take_action(self, args: argparse.Namespace) -> int:
        from ganstab.dashboard.server import serve

        serve(args.storage, host=args.host, port=args.port, artifact_dir=args.artifact_dir,
              config=args.config, quiet=args.quiet)  # fmt: skip
        return 0

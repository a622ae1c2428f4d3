"""The search service's dashboard: optuna-dashboard on the study database, with the artifact store.

A search writes everything a person needs to judge a trial where optuna-dashboard can show it:
parameters, `eval_score` curves (intermediate values), user attributes (diagnosis, metrics, run
folder), a Markdown note and the sample images (artifacts). So ganstab ships no web front end of its
own; it only opens the storage the way ganstab does (one SQLAlchemy URL, `postgresql://` meaning
psycopg 3) and hands optuna-dashboard the artifact store, with a clear error when either is wrong.

`serve(...)` runs it (`ganstab dashboard`); `make_app(...)` gives the WSGI app for tests and for
production WSGI servers; `start(...)` runs it on a background thread. optuna-dashboard is optional:
`pip install optuna-dashboard plotly`.
"""

from __future__ import annotations

from ganstab.dashboard.server import (
    DashboardServer,
    make_app,
    open_artifact_store,
    open_dashboard_storage,
    serve,
    start,
)
from ganstab.dashboard.settings import (
    DEFAULT_ARTIFACT_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_STORAGE,
    DashboardError,
    DashboardSettings,
    load_config,
    resolve_settings,
)
from ganstab.links import trial_page_path

__all__ = [
    "DEFAULT_ARTIFACT_DIR",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_STORAGE",
    "DashboardError",
    "DashboardServer",
    "DashboardSettings",
    "load_config",
    "make_app",
    "open_artifact_store",
    "open_dashboard_storage",
    "resolve_settings",
    "serve",
    "start",
    "trial_page_path",
]

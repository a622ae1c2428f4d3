"""Run optuna-dashboard on ganstab's study database with the search's artifact store.

Why a wrapper at all: optuna-dashboard guesses the storage class from the URL (and under
SQLAlchemy 2.0 `postgresql://` means psycopg2, which ganstab does not install); without an artifact
store it silently hides every trial's Artifacts section; a missing artifact folder gives broken
images; and a typo'd SQLite path leaves an empty file behind and a server whose every API call
fails with "no such table". Here the storage is opened the way the rest of ganstab opens it
(`ganstab.storage.normalize_url`), a missing database or artifact folder is an error that names
it before anything listens, and the server is a threaded wsgiref server that can be stopped
(tests, notebooks) and prints where it listens. What it runs with: `ganstab.dashboard.settings`.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from types import ModuleType
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ganstab.dashboard.settings import DEFAULT_STORAGE, DashboardError, DashboardSettings, resolve_settings

if TYPE_CHECKING:
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

INSTALL_HINT = "pip install optuna-dashboard plotly"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# ------------------------------------------------------------------------------------- pieces


def _import_dashboard() -> ModuleType:
    """optuna-dashboard, imported only when a dashboard is really started (it is optional)."""
    try:
        import optuna_dashboard
    except ImportError as e:
        raise DashboardError(
            f"`ganstab dashboard` needs optuna-dashboard, which is not installed: {INSTALL_HINT}"
        ) from e
    return optuna_dashboard


def _relative_note(path: Path) -> str:
    """Where a relative path was looked for: the usual cause is running from another folder."""
    return "" if path.is_absolute() else f" (relative to {str(Path.cwd())!r})"


def open_dashboard_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on `url`, opened as ganstab opens it (`postgresql://` means psycopg 3).

    A SQLite file that does not exist is an error rather than a new empty database: a dashboard on
    a typo'd path would otherwise show no studies and leave a stray file behind.
    """
    from ganstab.storage.studies import open_optuna_storage
    from ganstab.storage.urls import StorageError, is_memory_sqlite, mask_url, normalize_url, why_empty

    try:
        sa_url = normalize_url(url)
    except StorageError as e:
        raise DashboardError(f"bad storage URL: {e}") from e
    shown = mask_url(sa_url)
    if why_empty(sa_url) is not None:  # the dashboard's own words for SQLite's two cases
        if is_memory_sqlite(sa_url):
            raise DashboardError(
                f"storage {shown!r} is an in-memory database, which holds no studies; give the "
                f"search's database, e.g. {DEFAULT_STORAGE!r}."
            )
        database = str(sa_url.database)
        raise DashboardError(
            f"storage {shown!r}: there is no SQLite database at {database!r}"
            f"{_relative_note(Path(database))}; run a search first or pass the search's "
            f"--storage URL."
        )
    try:  # unknown dialect, driver missing, server unreachable, not a database
        return open_optuna_storage(url, immediate=False)  # its reads must not hold a search's lock
    except StorageError as e:
        raise DashboardError(str(e)) from e


def open_artifact_store(artifact_dir: str | Path) -> FileSystemArtifactStore:
    """The FileSystemArtifactStore the search uploads sample images to. A missing folder is an
    error (the dashboard would otherwise show broken images), naming any `*/artifacts` folders
    beside it, since the search may have written per-study ones."""
    from optuna.artifacts import FileSystemArtifactStore

    path = Path(artifact_dir).expanduser()
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        hint = ""
        parent = path.parent if str(path.parent) else Path(".")
        if parent.is_dir():
            found = sorted(str(p) for p in parent.glob("*/artifacts") if p.is_dir())[:5]
            if found:
                hint = f" Artifact folders found beside it: {', '.join(found)}."
        raise DashboardError(
            f"artifact folder {str(path)!r} {what}{_relative_note(path)}; pass the search's "
            f"artifact folder with --artifact-dir.{hint}"
        )
    return FileSystemArtifactStore(path)


def make_app(
    storage: str | optuna.storages.BaseStorage,
    *,
    artifact_dir: str | Path | None = None,
) -> WSGIApp:
    """optuna-dashboard's WSGI app on `storage` (a URL, or an opened Optuna storage) serving the
    artifacts under `artifact_dir` (None: no artifact store). For tests, and for production WSGI
    servers (gunicorn, uWSGI), which the built-in wsgiref server of `serve` is not meant to be."""
    opened = open_dashboard_storage(storage) if isinstance(storage, str) else storage
    store = open_artifact_store(artifact_dir) if artifact_dir is not None else None
    return _import_dashboard().wsgi(opened, artifact_store=store)


# ------------------------------------------------------------------------------------- server


class _ThreadedWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a browser loads the 6 MB bundle and several API calls at once."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DashboardServer:
    """A started dashboard: where it listens, and `stop()`. Use as a context manager."""

    def __init__(self, settings: DashboardSettings, app: WSGIApp) -> None:
        server_class: type[WSGIServer] = _ThreadedWSGIServer
        if ":" in settings.host:  # an IPv6 literal such as ::1

            class _V6(_ThreadedWSGIServer):
                address_family = socket.AF_INET6

            server_class = _V6
        handler = _QuietHandler if settings.quiet else WSGIRequestHandler
        try:
            self._httpd = make_server(
                settings.host, settings.port, app, server_class=server_class, handler_class=handler
            )
        except OSError as e:
            raise DashboardError(
                f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e}; pick another "
                f"--port (0: any free port) or --host."
            ) from e
        self.settings = settings
        self.host = settings.host
        self.port = int(self._httpd.server_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The dashboard's start page."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/dashboard"

    def serve_forever(self) -> None:
        """Serve on this thread until `stop()` (from another thread) or Ctrl-C."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()

    def start_thread(self) -> DashboardServer:
        """Serve on a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="ganstab-dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        else:
            self._httpd.server_close()

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _build(
    storage: str | None,
    host: str | None,
    port: int | None,
    artifact_dir: str | Path | None,
    config: str | Path | None,
    quiet: bool | None,
) -> DashboardServer:
    settings = resolve_settings(
        storage, host=host, port=port, artifact_dir=artifact_dir, config=config, quiet=quiet
    )
    app = make_app(settings.storage, artifact_dir=settings.artifact_dir)
    return DashboardServer(settings, app)


def start(
    storage: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    artifact_dir: str | Path | None = None,
    config: str | Path | None = None,
    quiet: bool | None = True,
) -> DashboardServer:
    """`serve` on a background thread (tests, notebooks): returns the running server, whose
    `url` gives the port chosen when `port=0`; call `stop()` or use it as a context manager."""
    return _build(storage, host, port, artifact_dir, config, quiet).start_thread()


def serve(
    storage: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    artifact_dir: str | Path | None = None,
    config: str | Path | None = None,
    quiet: bool | None = None,
) -> None:
    """Run optuna-dashboard on `storage` with the artifact store until Ctrl-C (`ganstab dashboard`).

    None means "from `config`, else the default" (DEFAULT_STORAGE, 127.0.0.1, port 8080,
    runs/artifacts). Every setting is checked, the storage opened and the artifact folder found
    before the port is bound, so a mistake is one clear error. Prints `Listening on URL` to stderr.
    """
    server = _build(storage, host, port, artifact_dir, config, quiet)
    from ganstab.storage import mask_url

    settings = server.settings
    if not _is_loopback(settings.host):
        print(
            f"warning: the dashboard listens on {settings.host}, not loopback; it has no login and "
            f"anyone who can reach it can edit notes and delete studies.",
            file=sys.stderr,
        )
    print(
        f"ganstab dashboard: storage {mask_url(settings.storage)}, artifacts {settings.artifact_dir}\n"
        f"Listening on {server.url} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever()

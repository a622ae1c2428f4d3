"""Every log at a path (`read_logs`): a run folder gives one per member, a folder of TensorBoard
logs one per folder that holds event files, a file one."""

from __future__ import annotations

from pathlib import Path

from ganstab.diagnose.logs.columns import check_tags
from ganstab.diagnose.logs.ganstab_runs import member_name, read_member, run_context
from ganstab.diagnose.logs.results import FORMATS, LoadedLog, LogError, Parsed
from ganstab.diagnose.logs.tensorboard import TB_PREFIX, event_files, read_tensorboard
from ganstab.diagnose.logs.text_formats import read_file


def read_logs(
    path: str | Path,
    *,
    tags: dict[str, str] | None = None,
    min_rows: int = 20,
    keep_going: bool = False,
) -> list[LoadedLog]:
    """Every log at `path` in the trace schema (a run folder gives one per member).

    `tags` maps a schema column to its name in the log (a TensorBoard tag, a CSV column or a
    JSON key), e.g. {"d_loss": "train/lossD"}, overriding the aliases. With `keep_going`, a log
    in a folder of several that cannot be read comes back with `error` set instead of raising.
    """
    path = Path(path)
    tags = check_tags(tags or {})
    if not path.exists():
        raise LogError(f"`{path}` does not exist; expected {FORMATS}.")
    if path.is_dir():
        return _read_folder(path, tags, min_rows, keep_going)
    if path.name == "trace.csv":
        return [_loaded(_file_name(path), path, read_member(path, tags, min_rows))]
    return [_loaded(_file_name(path), path, read_file(path, tags, min_rows))]


def _loaded(name: str, path: Path, parsed: Parsed) -> LoadedLog:
    context = run_context(path) if path.name == "trace.csv" else {}
    return LoadedLog(name, path, parsed.trace, parsed.diverged_at, parsed.diverged_why, parsed.notes, context=context)


def _read_each(items: list[tuple[str, Path]], read, keep_going: bool) -> list[LoadedLog]:
    """One LoadedLog per (name, path); with `keep_going` a log that fails carries its error."""
    out = []
    for name, p in items:
        try:
            out.append(_loaded(name, p, read(p)))
        except LogError as e:
            if not keep_going or len(items) == 1:
                raise
            out.append(LoadedLog(name, p, {}, error=str(e)))
    return out


def _read_folder(path: Path, tags: dict[str, str], min_rows: int, keep_going: bool) -> list[LoadedLog]:
    def member(p: Path) -> Parsed:
        return read_member(p, tags, min_rows)

    members = path / "members"
    if members.is_dir():
        traces = sorted(
            (p for p in members.glob("*/trace.csv") if p.parent.name.isdigit()),
            key=lambda p: int(p.parent.name),
        )
        if not traces:
            raise LogError(f"`{path}` has a `members` folder but no members/NNN/trace.csv in it.")
        return _read_each([(member_name(p), p) for p in traces], member, keep_going)
    if (path / "trace.csv").is_file():
        p = path / "trace.csv"
        return [_loaded(member_name(p), p, member(p))]
    if event_files(path):
        return [_loaded(str(path), path, read_tensorboard(path, tags, min_rows))]
    folders = sorted({p.parent for p in path.rglob(TB_PREFIX + "*") if p.is_file()})
    if folders:
        return _read_each(
            [(str(f), f) for f in folders], lambda f: read_tensorboard(f, tags, min_rows), keep_going
        )
    raise LogError(
        f"`{path}` is a folder without trace.csv, members/NNN/trace.csv or TensorBoard event files; "
        f"expected {FORMATS}."
    )


def _file_name(path: Path) -> str:
    if path.name == "trace.csv":
        return member_name(path)
    return str(path)

"""What a ganstab run folder adds to a member's trace.csv: its summary.json (a divergence between
logged steps, a member the run stopped), its name (`RUN/member NNN`) and its config (the advice
context: `run_context`, `context_for`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ganstab.diagnose.logs.results import LogError, Parsed
from ganstab.diagnose.logs.rows import step_text
from ganstab.diagnose.logs.text_formats import read_file


def run_context(trace_csv: Path) -> dict:
    """What a ganstab run's config says of the run, for the advice: the kind of data ("2-D
    mixtures" for the mixture data sets, "images"; a points file says nothing of its shape), G's
    architecture (ganstab's G is an MLP without BatchNorm on points, a conv net with BatchNorm on
    images: engine/networks.py; a `model.generator` of the user's is "user") and the loss. Read from
    the member's config.yaml, else the run's; {} when there is none (a trace.csv outside a run
    folder) or it cannot be read. A `data.factory`'s kind is told by the trace's metric columns."""
    import yaml

    member = trace_csv.resolve().parent
    for cfg_path in (member / "config.yaml", member.parent.parent / "config.yaml"):
        if cfg_path.is_file():
            break
    else:
        return {}
    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
        name = str(cfg["data"]["name"])
        train = cfg.get("train") or {}
        loss = train.get("loss")
        generator = (cfg.get("model") or {}).get("generator")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return {}
    data_kind = _factory_kind(trace_csv, cfg["data"]) if name == "factory" else None
    context = context_for(name, loss, generator=generator, data_kind=data_kind)
    if uses := _config_uses(train):  # what the run has, so the advice never adds it again
        context["uses"] = uses
    return context


IMAGE_COLUMNS = ("eval_fid", "eval_kid", "eval_fd_proxy")  # engine/metrics: the images family's


def _factory_kind(trace_csv: Path, data: dict) -> str | None:
    """The kind, points or images, of a `data.factory` run (its shape is known only once built): digits
    scoring is for images; else the trace's metric columns say which family scored it."""
    if data.get("factory_metric") == "digits":
        return "images"
    try:
        with open(trace_csv) as f:
            header = f.readline().strip().split(",")
    except OSError:
        return None
    if any(c in header for c in IMAGE_COLUMNS):
        return "images"
    return "points" if any(c.startswith("eval_") for c in header) else None


def _config_uses(train: dict) -> dict:
    """The `uses` advice context of a ganstab run's `train` config (ganstab's optimizer is Adam)."""
    from ganstab.diagnose.context import USES, check_uses

    uses = {k: train[k] for k in USES if k in train and train[k] is not None}
    try:
        return check_uses({"optimizer": "adam", **uses})
    except ValueError:  # a config this ganstab cannot read: say nothing of it
        return {}


def context_for(
    name: str, loss: str | None, *, generator: str | None = None, data_kind: str | None = None
) -> dict:
    """The advice context of a ganstab run on data set `name` with `loss` (see `run_context`).
    `generator`: the config's `model.generator` (the user's own G: "user"); `data_kind`: "points"
    or "images" for a `data.factory` data set, whose registered kind ("user") does not say."""
    from ganstab.diagnose.context import LOSS_KINDS
    from ganstab.engine.dataset_registry import DATASETS

    if name not in DATASETS.names():  # a data set this ganstab does not know: say nothing of it
        return {"loss": loss} if loss in LOSS_KINDS else {}
    kind = DATASETS.get(name).kind
    if kind == "user":  # data.factory: points or images, known once built; None = not known
        kind = data_kind if data_kind in ("points", "images") else None
    context: dict = {}
    if generator:
        context["g"] = "user"
    elif kind is not None:
        context["g"] = "conv" if kind == "images" else "mlp"
    if kind == "images":
        context["data"] = "images"
    elif kind == "points" and name not in ("points", "factory"):  # ring8, grid25, mixture: 2-D mixtures
        context["data"] = "2-D mixtures"
    if loss in LOSS_KINDS:
        context["loss"] = loss
    return context


def read_member(path: Path, tags: dict[str, str], min_rows: int) -> Parsed:
    """A trace.csv, with what its ganstab run's summary.json says of the member: a divergence the
    rows may not show, or (in an error for too few rows) that the run stopped the member early."""
    entry = _summary_entry(path)
    try:
        return read_file(path, tags, min_rows, _summary_divergence(entry))
    except LogError as e:
        if entry is None or entry.get("status") != "stopped" or "rows (distinct steps)" not in str(e):
            raise
        at = entry.get("steps_trained", "?")
        raise LogError(f"{e} (summary.json: the run stopped this member at step {at}, e.g. pruned)") from e


def _summary_entry(trace_csv: Path) -> dict[str, Any] | None:
    """This member's object in its ganstab run's summary.json (None: not a member, or no summary,
    as for a run still going or killed)."""
    member = trace_csv.resolve().parent
    if member.parent.name != "members" or not member.name.isdigit():
        return None
    try:
        items = json.loads((member.parent.parent / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("member") == int(member.name):
            return item
    return None


def _summary_divergence(entry: dict[str, Any] | None) -> tuple[float, str] | None:
    """(step, words) when summary.json says the member diverged: the engine stops a member at the
    step its loss or gradient turned non-finite, which is often between logged steps (a member
    that diverged at step 2 with log_every 10 has no rows at all)."""
    if entry is None or entry.get("status") != "diverged":
        return None
    at = entry.get("diverged_at")
    at = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else math.nan
    return at, f"summary.json says it diverged at step {step_text(at)}"


def member_name(trace_csv: Path) -> str:
    """`RUN/member NNN` for a ganstab member trace, else the folder holding the trace."""
    member = trace_csv.resolve().parent
    if member.parent.name == "members" and member.name.isdigit():
        return f"{member.parent.parent.name}/member {member.name}"
    return member.name

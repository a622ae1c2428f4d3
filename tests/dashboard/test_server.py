"""The dashboard end to end: a finished ganstab search (a real, tiny one: 2 trials of the quick
space on ring8) in a real SQLite file, `serve` in its own process with the search's artifact
store, optuna-dashboard's HTTP API, and the trial page in headless Chromium showing the trial's
sample image and its loss plot (SVG).

Why a real browser: the dashboard is a single-page app, so "the trial's sample image is on its
page" can only be checked by running its JavaScript. The screenshot is searched for the scatter's
own red centre crosses (the pattern of every pure-red pixel of the trial's sample image; the
trial's loss plot has the samples' blue, but no red), and where they are the page must hold the
trial's image, pixel for pixel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from PIL import Image

from ganstab.curves import TRACE_STYLE
from ganstab.dashboard.server import (
    DashboardError,
    make_app,
)
from ganstab.links import trial_page_path
from ganstab.search.cohort_run import TRACE_PLOT

STUDY = "quick-ring8"
# tiny training; data.std=0.15 (ring8's own is 0.02) spreads the generated points beside the
# centre crosses, where at 0.02 they hide under them
OVERRIDES = ["train.steps=200", "train.eval_every=100", "model.hidden=16", "data.std=0.15"]
SAMPLE = "step_000200.png"  # the trial's last sample image, which the search uploads
CROSS = (214, 39, 40)  # ganstab.engine.samples.save_scatter: true centres
POINT = (31, 119, 180)  # ganstab.engine.samples.save_scatter: samples
G_LOSS = TRACE_STYLE.colours[1]  # the trial's loss plot: g_loss, orange
# optuna-dashboard 0.21 shows image artifacts in a tile 150 CSS px high; at 3.2 device pixels per
# CSS pixel the 480-px scatter is drawn pixel for pixel, so it can be compared exactly.
DEVICE_SCALE = 3.2
# The search's note (parameters, metrics, run folder) pushes the Artifacts section down to
# about 1500 CSS px; the window holds the whole page (a screenshot shows the viewport only).
WINDOW = (1400, 1800)  # CSS px
REPO = Path(__file__).resolve().parents[2]
SVG_NS = "{http://www.w3.org/2000/svg}"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("headless Chromium is needed for this test: apt-get install -y chromium")


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read(), r.headers.get("Content-Type", "")


def _get_json(url: str) -> Any:
    status, body, _ = _get(url)
    assert status == 200, url
    return json.loads(body)


def _exactly(img: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """Mask of the pixels of exactly this colour (uint8 image: no large int copies)."""
    return (img == np.array(rgb, dtype=np.uint8)).all(axis=-1)


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A finished ganstab search: run_search over the quick space, 2 trials in one cohort, the
    in-process executor, a SQLite file, run folders and artifacts under runs/. The trial shown is
    the first that finished (COMPLETE, with its sample image)."""
    from ganstab.search.driver import run_search
    from ganstab.search.settings import SearchSettings
    from ganstab.search.space import find_space, load_space

    root = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{root / 'ganstab.db'}"
    runs = root / "runs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a loaded machine: torch's intra-op threads only slow tiny models
    try:
        study = run_search(
            load_space(find_space("quick")),
            SearchSettings(
                n_trials=2,
                storage=url,
                study_name=STUDY,
                cohort_size=2,
                diagnose=False,
                extra_overrides=OVERRIDES,
                runs_dir=runs,
            ),
            executor=None,
        )
    finally:
        torch.set_num_threads(threads)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 2 and {t.user_attrs["cohort"] for t in trials} == {0}
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert finished, f"no trial of the search finished: {[t.user_attrs.get('status') for t in trials]}"
    shown = finished[0]
    sample = Path(shown.user_attrs["run_dir"]) / "samples" / SAMPLE
    assert sample.is_file(), f"the finished trial has no {SAMPLE}"
    artifacts = runs / "artifacts"
    del study  # the server opens the file itself, as a dashboard does beside a running search
    config = root / "dashboard.toml"
    config.write_text(
        "[optuna_dashboard]\n"
        f"storage = {json.dumps(url)}\nartifact_dir = {json.dumps(str(artifacts))}\nport = 0\nquiet = true\n"
    )
    return {
        "url": url,
        "artifacts": artifacts,
        "config": config,
        "root": root,
        "shown": shown,  # its FrozenTrial
        "sample": sample,  # its last sample image in its run folder
    }


@pytest.fixture(scope="module")
def dashboard(finished_study: dict[str, Any]) -> Iterator[str]:
    """`ganstab.dashboard.serve` in a subprocess (as `ganstab dashboard` runs it), on a free
    loopback port it picks itself (port = 0 in the config) and prints; stopped with SIGINT."""
    log = finished_study["root"] / "serve.log"
    code = textwrap.dedent(
        f"""
        from ganstab.dashboard.server import serve
        serve(config={str(finished_study["config"])!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with log.open("w") as err:
        # -X faulthandler: if serve ever hangs on Ctrl-C, SIGABRT below writes every thread's stack.
        # SIGINT back to its default in the child: a shell ignores it for background jobs
        # (`bash .ci/run &`), the child would inherit that, and Python then ignores Ctrl-C too.
        proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-c", code],
            stderr=err,
            stdout=err,
            env=env,
            cwd=REPO,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        base = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and base is None:
            assert proc.poll() is None, f"serve exited early:\n{log.read_text()}"
            for line in log.read_text().splitlines():
                if line.startswith("Listening on http://"):
                    base = line.split()[2].removesuffix("/dashboard")
            time.sleep(0.1)
        assert base is not None, f"serve did not start in 30 s:\n{log.read_text()}"
        assert base.startswith("http://127.0.0.1:"), base  # loopback by default
        assert _get_json(base + "/api/meta")["artifact_is_available"] is True
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # the stacks go to the log, shown by the assert
            proc.wait()
    assert proc.returncode == 0, log.read_text()


def _shown_trial(base: str, number: int) -> tuple[int, dict[str, Any]]:
    studies = _get_json(base + "/api/studies")["study_summaries"]
    (study_id,) = [s["study_id"] for s in studies if s["study_name"] == STUDY]
    detail = _get_json(f"{base}/api/studies/{study_id}")
    (trial,) = [t for t in detail["trials"] if t["number"] == number]
    return study_id, trial


def _as_sent(value: Any) -> str:
    """An attribute value as optuna-dashboard 0.21 sends it: every value is a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def test_http_api_returns_user_attributes_note_curve_and_artifact(
    dashboard: str, finished_study: dict[str, Any]
) -> None:
    shown = finished_study["shown"]
    study_id, trial = _shown_trial(dashboard, shown.number)
    assert trial["state"] == "Complete"
    attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
    # every attribute the search set, as it set it: status, steps, the final eval_* metrics, ...
    assert attrs == {k: _as_sent(v) for k, v in shown.user_attrs.items()}
    assert attrs["status"] == "finished" and attrs["steps_trained"] == "200" and attrs["cohort"] == "0"
    assert float(attrs["eval_score"]) == shown.value == trial["values"][0]
    metrics = {k for k in attrs if k.startswith("eval_")}
    assert {"eval_score", "eval_modes", "eval_hq"} <= metrics, metrics
    assert attrs["run_dir"] == str(finished_study["sample"].parents[1])
    assert [v["step"] for v in trial["intermediate_values"]] == [100, 200]
    assert trial["note"]["body"].startswith(f"### Trial {shown.number}: Finished")
    by_name = {a["filename"]: a for a in trial["artifacts"]}
    assert sorted(by_name) == [SAMPLE, TRACE_PLOT]
    artifact = by_name[SAMPLE]
    assert artifact["mimetype"] == "image/png"
    status, body, ctype = _get(
        f"{dashboard}/artifacts/{study_id}/{trial['trial_id']}/{artifact['artifact_id']}"
    )
    assert (status, ctype) == (200, "image/png")
    assert body == finished_study["sample"].read_bytes()
    # the loss plot is SVG: served as an image (the page shows it in an <img>), a document that parses
    plot = by_name[TRACE_PLOT]
    assert plot["mimetype"] == "image/svg+xml"
    status, body, ctype = _get(f"{dashboard}/artifacts/{study_id}/{trial['trial_id']}/{plot['artifact_id']}")
    assert status == 200 and ctype.startswith("image/svg+xml")
    svg = ET.fromstring(body)
    assert [t.text for t in svg.iter(SVG_NS + "text")][-1] == f"trial {shown.number} (finished)"


def _place(page: np.ndarray, image: np.ndarray) -> list[tuple[int, int]]:
    """Every (top, left) where each pure-red pixel of `image` (its centre crosses) is pure red on
    `page` as well."""
    page_red = _exactly(page, CROSS)
    coords = np.argwhere(_exactly(image, CROSS))
    first, rel = coords[0], coords - coords[0]
    (h, w), (ph, pw) = image.shape[:2], page.shape[:2]
    found = []
    for y, x in np.argwhere(page_red):
        top, left = int(y - first[0]), int(x - first[1])
        if top < 0 or left < 0 or top + h > ph or left + w > pw:
            continue
        if page_red[rel[:, 0] + y, rel[:, 1] + x].all():
            found.append((top, left))
    return found


def test_trial_page_in_headless_chromium_shows_the_sample_image(
    dashboard: str, finished_study: dict[str, Any], tmp_path: Path
) -> None:
    number = finished_study["shown"].number
    study_id, _ = _shown_trial(dashboard, number)
    shot = tmp_path / "trial.png"
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--force-device-scale-factor={DEVICE_SCALE}",
        "--virtual-time-budget=20000",  # virtual ms for the app to fetch the study and the image
        f"--screenshot={shot}",
        dashboard + trial_page_path(study_id, number),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert shot.is_file(), f"no screenshot (rc {run.returncode}):\n{run.stderr[-3000:]}"
    if os.environ.get("GANSTAB_KEEP_SCREENSHOT"):  # to look at it: GANSTAB_KEEP_SCREENSHOT=/tmp/x.png
        shutil.copy(shot, os.environ["GANSTAB_KEEP_SCREENSHOT"])
    page = np.asarray(Image.open(shot).convert("RGB"))
    assert page.shape[:2] == (round(WINDOW[1] * DEVICE_SCALE), round(WINDOW[0] * DEVICE_SCALE))
    image = np.asarray(Image.open(finished_study["sample"]).convert("RGB"))
    assert _exactly(image, CROSS).any() and _exactly(image, POINT).any()  # crosses and points

    # Where the image's red crosses are on the page places the image; there it must be the
    # trial's own scatter, pixel for pixel. The same page without the images has neither colour
    # (checked with a dashboard started without an artifact store, which hides the Artifacts
    # section); the trial's loss plot beside it has the blue, not the red.
    assert _exactly(page, CROSS).any(), "no red on the trial page: the sample image is not shown"
    assert _exactly(page, POINT).sum() >= _exactly(image, POINT).sum(), "blue sample points missing"
    places = _place(page, image)
    assert len(places) == 1, (
        f"the sample image's crosses are found at {places or 'no place'} on the page; drawn at another "
        f"scale than {DEVICE_SCALE}x its tile?"
    )
    (top, left), (h, w) = places[0], image.shape[:2]
    shown = page[top : top + h, left : left + w].astype(np.int16)
    same = (np.abs(shown - image).max(axis=-1) <= 8).mean()
    assert same >= 0.99, f"only {same:.1%} of the sample image matches the screenshot"
    points = _exactly(page[top : top + h, left : left + w], POINT).sum()
    assert points == _exactly(image, POINT).sum(), "the blue sample points differ from the image's"
    # The loss plot (trace.svg, shown in an <img> like the PNG) is drawn: its orange g_loss line
    # and legend are on the page (anti-aliased, so near that colour; the page has no other orange).
    orange = (np.abs(page.astype(np.int16) - np.array(G_LOSS)).max(axis=-1) <= 24).sum()
    assert orange >= 50, f"{orange} orange pixels: the SVG loss plot is not rendered"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("not a url", "'not a url'"),
        ("nosuchdialect://host/db", "nosuchdialect://host/db"),
        ("sqlite:///{tmp}/missing.db", "missing.db"),
        ("sqlite://", "in-memory"),
        (
            "postgresql://ganstab:secret@127.0.0.1:1/none",
            "postgresql+psycopg://ganstab:***@127.0.0.1:1/none",
        ),
    ],
)
def test_make_app_with_a_bad_storage_url_names_it(tmp_path: Path, url: str, named: str) -> None:
    with pytest.raises(DashboardError, match=re.escape(named)) as err:
        make_app(url.replace("{tmp}", str(tmp_path)), artifact_dir=tmp_path)
    assert "secret" not in str(err.value)


def test_missing_artifact_folder_is_an_error_naming_it(
    finished_study: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "quick" / "artifacts").mkdir(parents=True)
    missing = tmp_path / "artifacts"
    with pytest.raises(DashboardError, match=r"artifact folder .*artifacts' does not exist.*quick/artifacts"):
        make_app(finished_study["url"], artifact_dir=missing)


def test_port_in_use_is_an_error_naming_it(finished_study: dict[str, Any]) -> None:
    from ganstab.dashboard.server import start

    with start(finished_study["url"], port=0, artifact_dir=finished_study["artifacts"]) as first:
        assert _get_json(f"http://127.0.0.1:{first.port}/api/meta")["artifact_is_available"] is True
        with pytest.raises(DashboardError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            start(finished_study["url"], port=first.port, artifact_dir=finished_study["artifacts"])


def test_trial_note_keeps_its_table_cells_short(dashboard: str, finished_study: dict[str, Any]) -> None:
    """Numbers to 4 significant digits, strings unquoted: a wide cell widens the note."""
    shown = finished_study["shown"]
    _, trial = _shown_trial(dashboard, shown.number)
    note = trial["note"]["body"]
    for key, value in shown.params.items():
        assert f"| `{key}` | {format(value, '.4g') if isinstance(value, float) else value} |" in note
    rows = [line for line in note.splitlines() if line.startswith("|")]
    assert len(rows) >= 4 + len(shown.params) and max(map(len, rows)) <= 60, rows


# One line per attribute at most this long (key, space, value) fits beside the 200-px label in a
# 1400-px window (about 8 px a character).
ATTRIBUTE_LINE = 100


def test_trial_user_attributes_fit_a_1400_px_page(dashboard: str, finished_study: dict[str, Any]) -> None:
    """optuna-dashboard 0.21 shows each user attribute as one `key value` line in a box that does
    not wrap (white-space: nowrap), and the trial page grows as wide as its longest line: one long
    value pushes the note and every box past the right edge of the window (seen in headless
    Chromium at 1400 and 3000 px)."""
    _, trial = _shown_trial(dashboard, finished_study["shown"].number)
    lines = {a["key"]: len(a["key"]) + 1 + len(a["value"]) for a in trial["user_attrs"]}
    assert {k: n for k, n in lines.items() if n > ATTRIBUTE_LINE} == {}

"""The dashboard end to end: a finished study in a real SQLite file, `serve` in its own process,
optuna-dashboard's HTTP API, and the trial page in headless Chromium showing the sample image.

Why a real browser: the dashboard is a single-page app, so "the trial's sample image is on its
page" can only be checked by running its JavaScript. The screenshot is searched for the scatter's
own colours (red crosses over the true centres, blue generated points; no other part of the page
has them), and where the crosses are it must hold the trial's image, pixel for pixel.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from PIL import Image

from ganstab.dashboard.server import (
    DashboardError,
    load_config,
    make_app,
    resolve_settings,
    trial_page_path,
)

STUDY = "ring8-dashboard"
SHOWN = 1  # the trial whose page is opened
CROSS = (214, 39, 40)  # ganstab.engine.samples.save_scatter: true centres
POINT = (31, 119, 180)  # ganstab.engine.samples.save_scatter: samples
# optuna-dashboard 0.21 shows image artifacts in a tile 150 CSS px high; at 3.2 device pixels per
# CSS pixel the 480-px scatter is drawn pixel for pixel, so it can be compared exactly.
DEVICE_SCALE = 3.2
REPO = Path(__file__).resolve().parents[2]


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
    """Three finished trials with parameters, eval_score curves, user attributes, a note and a
    real ring8 scatter (save_scatter of data drawn from the ring8 data set) as an artifact."""
    from optuna_dashboard import save_note

    from ganstab.engine.config import Config, apply_overrides, resolve
    from ganstab.engine.data import build_dataset
    from ganstab.engine.samples import save_scatter

    root = tmp_path_factory.mktemp("dash")
    db = root / "ganstab.db"
    artifacts = root / "artifacts"
    artifacts.mkdir()
    url = f"sqlite:///{db}"
    # ring8 with a wider spread than its 0.02, like a half-trained generator's samples: at 0.02
    # the points hide under the centre crosses.
    ds = build_dataset(resolve(apply_overrides(Config(), ["data.std=0.15"])).data)
    store = optuna.artifacts.FileSystemArtifactStore(artifacts)
    study = optuna.create_study(
        study_name=STUDY, storage=url, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    images: dict[int, Path] = {}
    for k in range(3):
        trial = study.ask()
        lr_d = trial.suggest_float("lr_d", 1e-5, 1e-3, log=True)
        trial.suggest_categorical("loss", ["ns", "hinge"])
        for step, score in ((500, 0.2), (1000, 0.5), (1500, 0.7 + 0.05 * k)):
            trial.report(score, step)
        trial.set_user_attr("diagnosis_label", ["converged", "mode_collapse", "converged"][k])
        trial.set_user_attr("eval_hq", 0.9 - 0.1 * k)
        trial.set_user_attr("run_dir", f"runs/{STUDY}/cohort-000/members/{k:03d}")
        save_note(trial, f"### Trial {k}: Finished\n\nring8 with `lr_d` = {lr_d:.2e}.")
        points = ds.draw(500, torch.Generator().manual_seed(k))
        png = root / f"samples-{k}.png"
        save_scatter(points, png, centres=ds.centres)
        optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(png), study_or_trial=trial)
        images[k] = png
        study.tell(trial, 0.7 + 0.05 * k)
    del study  # the server opens the file itself, as a dashboard does beside a running search
    config = root / "dashboard.toml"
    config.write_text(
        "[optuna_dashboard]\n"
        f"storage = {json.dumps(url)}\nartifact_dir = {json.dumps(str(artifacts))}\nport = 0\nquiet = true\n"
    )
    return {"url": url, "artifacts": artifacts, "images": images, "config": config, "root": root}


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
        proc = subprocess.Popen([sys.executable, "-c", code], stderr=err, stdout=err, env=env, cwd=REPO)
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
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()


def _shown_trial(base: str) -> tuple[int, dict[str, Any]]:
    studies = _get_json(base + "/api/studies")["study_summaries"]
    (study_id,) = [s["study_id"] for s in studies if s["study_name"] == STUDY]
    detail = _get_json(f"{base}/api/studies/{study_id}")
    (trial,) = [t for t in detail["trials"] if t["number"] == SHOWN]
    return study_id, trial


def test_http_api_returns_user_attributes_note_curve_and_artifact(
    dashboard: str, finished_study: dict[str, Any]
) -> None:
    study_id, trial = _shown_trial(dashboard)
    assert trial["state"] == "Complete"
    attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
    assert attrs == {
        "diagnosis_label": "mode_collapse",
        "eval_hq": "0.8",  # optuna-dashboard sends every attribute value as a string
        "run_dir": f"runs/{STUDY}/cohort-000/members/001",
    }
    assert [v["step"] for v in trial["intermediate_values"]] == [500, 1000, 1500]
    assert trial["note"]["body"].startswith("### Trial 1: Finished")
    (artifact,) = trial["artifacts"]
    assert artifact["filename"] == "samples-1.png" and artifact["mimetype"] == "image/png"
    status, body, ctype = _get(
        f"{dashboard}/artifacts/{study_id}/{trial['trial_id']}/{artifact['artifact_id']}"
    )
    assert (status, ctype) == (200, "image/png")
    assert body == finished_study["images"][SHOWN].read_bytes()


def test_trial_page_in_headless_chromium_shows_the_sample_image(
    dashboard: str, finished_study: dict[str, Any], tmp_path: Path
) -> None:
    study_id, _ = _shown_trial(dashboard)
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
        "--window-size=1400,1000",
        f"--force-device-scale-factor={DEVICE_SCALE}",
        "--virtual-time-budget=20000",  # virtual ms for the app to fetch the study and the image
        f"--screenshot={shot}",
        dashboard + trial_page_path(study_id, SHOWN),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert shot.is_file(), f"no screenshot (rc {run.returncode}):\n{run.stderr[-3000:]}"
    if os.environ.get("GANSTAB_KEEP_SCREENSHOT"):  # to look at it: GANSTAB_KEEP_SCREENSHOT=/tmp/x.png
        shutil.copy(shot, os.environ["GANSTAB_KEEP_SCREENSHOT"])
    page = np.asarray(Image.open(shot).convert("RGB"))
    assert page.shape[:2] == (round(1000 * DEVICE_SCALE), round(1400 * DEVICE_SCALE))
    image = np.asarray(Image.open(finished_study["images"][SHOWN]).convert("RGB"))

    # Where the red crosses are on the page places the image; there it must be the trial's own
    # scatter, pixel for pixel. The same page without the image has neither colour (checked with
    # a dashboard started without an artifact store, which hides the Artifacts section).
    page_red, image_red = _exactly(page, CROSS), _exactly(image, CROSS)
    assert page_red.any(), "no red centre crosses on the trial page: the sample image is not shown"
    assert _exactly(page, POINT).sum() >= _exactly(image, POINT).sum(), "blue sample points missing"
    (py, px), (iy, ix) = (np.argwhere(page_red).min(axis=0), np.argwhere(image_red).min(axis=0))
    top, left = py - iy, px - ix
    h, w = image.shape[:2]
    assert 0 <= top and top + h <= page.shape[0] and 0 <= left and left + w <= page.shape[1], (
        f"the image is drawn at another scale than {DEVICE_SCALE}x its tile (top-left {top},{left})"
    )
    shown = page[top : top + h, left : left + w].astype(np.int16)
    same = (np.abs(shown - image).max(axis=-1) <= 8).mean()
    assert same >= 0.99, f"only {same:.1%} of the sample image matches the screenshot"


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

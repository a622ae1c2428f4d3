"""`ganstab diagnose` as a user meets it: a log that cannot be labelled costs only its own label,
divergence is read from every column, --min-rows is honest, and every evidence name is explained
in words, in the output and in docs/diagnosis.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ganstab.cli import main
from ganstab.diagnose.classifier import diagnose_trace
from ganstab.diagnose.report import EVIDENCE_MEANINGS, render_text, to_json
from ganstab.diagnose.result import LABELS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "diagnosis.md"


def _log(path: Path, n: int, seed: int = 0, extra: str = "") -> Path:
    """A converging-looking loss log of n rows (smooth losses with a little noise)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1) * 10
    d = 1.3 + 0.05 * rng.standard_normal(n)
    g = 0.8 + 0.05 * rng.standard_normal(n)
    header = "step,d_loss,g_loss" + (",grad_norm_d" if extra else "")
    rows = [f"{s},{a},{b}" + (f",{extra if i == n // 2 else 1.0}" if extra else "") for i, (s, a, b) in
            enumerate(zip(steps, d, g))]  # fmt: skip
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _run_folder(root: Path, rows: dict[str, int]) -> Path:
    for member, n in rows.items():
        (root / "members" / member).mkdir(parents=True)
        _log(root / "members" / member / "trace.csv", n, seed=int(member))
    return root


def test_a_member_too_short_costs_only_its_own_label(tmp_path: Path, capsys) -> None:
    run = _run_folder(tmp_path / "run", {"000": 40, "001": 5, "002": 40})
    assert main(["diagnose", str(run)]) == 1  # some labelled, some not
    captured = capsys.readouterr()
    assert "run/member 000: " in captured.out and "run/member 002: " in captured.out
    assert "member 001" not in captured.out
    assert re.search(r"error: .*001/trace.csv` has 5 rows .*at least 20", captured.err)
    assert "1 of 3 logs not labelled" in captured.err
    assert main(["diagnose", str(run), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [o["label"] in LABELS for o in out] == [True, False, True]
    assert out[1]["label"] is None and "has 5 rows" in out[1]["error"]
    # a bad path among several: the others are still labelled; nothing labelled at all is exit 2
    assert main(["diagnose", str(tmp_path / "nope.csv"), str(run / "members" / "000"), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out[0]["label"] is None and "nope.csv` does not exist" in out[0]["error"]
    assert out[1]["label"] in LABELS
    assert main(["diagnose", str(run / "members" / "001")]) == 2


def test_an_inf_outside_the_losses_is_reported_as_divergence(tmp_path: Path, capsys) -> None:
    path = _log(tmp_path / "log.csv", 40, extra="inf")
    assert main(["diagnose", str(path), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["label"] == "diverged" and out["diverged_at"] == 210
    assert out["diverged_why"] == "grad_norm_d is inf at step 210"
    assert main(["diagnose", str(path)]) == 0
    assert "diverged at step 210 (grad_norm_d is inf at step 210)" in capsys.readouterr().out


def test_min_rows_below_the_classifiers_minimum_is_refused_with_it(tmp_path: Path, capsys) -> None:
    path = _log(tmp_path / "log.csv", 12)
    assert main(["diagnose", str(path), "--min-rows", "10"]) == 2
    err = capsys.readouterr().err
    assert "--min-rows must be at least 20 (the fewest rows the classifier reads), but got 10." in err
    long = _log(tmp_path / "long.csv", 30)
    assert main(["diagnose", str(long), "--min-rows", "31"]) == 2  # above 20 it is honoured
    assert "has 30 rows (distinct steps); diagnosis needs at least 31" in capsys.readouterr().err
    assert main(["diagnose", str(long), "--min-rows", "30"]) == 0


def test_a_restarting_step_counter_is_said_in_the_output(tmp_path: Path, capsys) -> None:
    rows = [f"{s},{1.3 + 0.01 * ((s * 7 + e) % 5)},{0.8}" for e in range(4) for s in range(50)]
    path = tmp_path / "epochs.csv"
    path.write_text("step,d_loss,g_loss\n" + "\n".join(rows) + "\n")
    assert main(["diagnose", str(path)]) == 0
    text = capsys.readouterr().out
    assert "(200 rows, model losses)" in text and "note: " in text and "starts again 3 time(s)" in text
    assert main(["diagnose", str(path), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["rows"] == 200 and "numbered on" in out["notes"][0]


def _rich_trace() -> dict[str, np.ndarray]:
    """A trace with every column evidence reads, so that every evidence name is produced."""
    rng = np.random.default_rng(1)
    n = 60
    trace = {"step": np.arange(1, n + 1) * 10.0}
    for col, level in (
        ("d_loss", 1.3),
        ("g_loss", 0.8),
        ("d_real", 0.5),
        ("d_fake", -0.5),
        ("grad_norm_d", 1.0),
        ("grad_norm_g", 1.0),
        ("g_spread", 0.5),
        ("g_drift", 0.1),
    ):
        trace[col] = level + 0.05 * rng.standard_normal(n)  # fmt: skip
    trace["data_spread"] = np.full(n, 0.6)
    trace["g_move"] = np.where(np.arange(n) % 5 == 4, 0.05, np.nan)
    return trace


def test_every_evidence_name_is_explained_in_the_output_and_the_docs(capsys) -> None:
    d = diagnose_trace(_rich_trace())
    assert d.model == "rich" and set(d.evidence) <= set(EVIDENCE_MEANINGS)
    assert {"d_loss_late_wobble", "d_wins", "g_spread_late_over_data", "g_move_late"} <= set(d.evidence)
    from rich.console import Console

    console = Console(width=300)
    with console.capture() as cap:
        console.print(render_text("run", d))
    text = cap.get()
    for name, meaning in EVIDENCE_MEANINGS.items():
        if name in d.evidence:
            line = next(ln for ln in text.splitlines() if ln.strip().startswith(name + " "))
            assert meaning in line  # the words stand beside the name
    docs = DOCS.read_text()
    for name in EVIDENCE_MEANINGS:
        assert f"`{name}`" in docs, f"docs/diagnosis.md does not explain {name}"


def test_json_keeps_its_shape_and_has_no_nan() -> None:
    d = diagnose_trace(_rich_trace())
    out = json.loads(to_json([("a", d), ("b", "`b.csv` has 3 rows", ["a note"])]))
    assert out[0]["name"] == "a" and out[0]["label"] == d.label and "notes" not in out[0]
    assert out[1] == {"name": "b", "label": None, "error": "`b.csv` has 3 rows", "notes": ["a note"]}
    d.evidence["g_move_late"] = float("nan")
    assert json.loads(to_json([("a", d)]))[0]["evidence"]["g_move_late"] is None  # JSON has no NaN

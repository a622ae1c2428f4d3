"""The accounting of bench/search_efficiency.py, on synthetic pools whose answer is known: the
figures in bench/RESULTS.md come from these functions."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

import pytest

_PATH = Path(__file__).parents[2] / "bench" / "search_efficiency.py"
_spec = importlib.util.spec_from_file_location("search_efficiency", _PATH)
se = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(se)

PASS = {"seeds": [{"modes": 8, "hq": 95.0}] * 3}
FAIL = {"seeds": [{"modes": 8, "hq": 95.0}, {"modes": 7, "hq": 95.0}, {"modes": 8, "hq": 95.0}]}


def _pool(n: int, candidates: dict[int, dict], method: str = "random", rep: int = 0) -> dict:
    trials = [{"number": i, "steps": 100, "candidate": i in candidates, "cohort": "c"} for i in range(n)]
    verified = {str(i): v for i, v in candidates.items()}
    return {
        "method": method,
        "dataset": "ring8",
        "rep": rep,
        "steps": 100,
        "cohort_size": 96,
        "trials": trials,
        "verified": verified,
    }


def test_a_pool_is_walked_in_rounds_with_verification_counted():
    # one passing candidate among 16 trials, rounds of 8: found in round 1 or 2 with equal chance,
    # 800 or 1,600 member-steps, plus its verification (3 x 100)
    s = se.summarize(_pool(16, {3: PASS}), round_size=8, orders=4000)
    assert all(s["found"])
    assert set(s["member_steps"]) == {1100, 1900}
    assert statistics.fmean(s["member_steps"]) == pytest.approx(1500, abs=40)


def test_a_failing_candidate_costs_its_verification_and_a_pool_without_success_is_censored():
    s = se.summarize(_pool(16, {3: FAIL}), round_size=8, orders=200)
    assert not any(s["found"])
    assert set(s["member_steps"]) == {1600 + 300}  # the whole pool and one verification


def test_ganstab_runs_are_counted_in_their_recorded_order():
    run = _pool(24, {12: FAIL, 20: PASS}, method="ganstab")
    run["cohort_size"] = 8
    s = se.summarize(run, round_size=99)  # a run's own cohort size wins over the pools' rounds
    assert s["found"] == [True] and s["member_steps"] == [2400 + 300 + 300]


def test_a_ganstab_run_that_found_may_leave_later_candidates_unverified():
    run = _pool(24, {12: FAIL, 20: PASS}, method="ganstab")
    run.update(cohort_size=8, found=20)
    run["trials"][22]["candidate"] = True  # same round as the find: the search stopped before it
    assert se._unverified(run) == 0
    run["verified"].pop("12")  # a candidate before the find must have been verified
    assert se._unverified(run) == 1
    pool = _pool(16, {3: PASS})
    pool["verified"] = {}
    assert se._unverified(pool) == 1  # every candidate of a pool
    run["verified"]["12"] = FAIL
    # the rate counts the trials the run went through (0-20), and its one find
    u = se.uncertainty(se.merge_pools([run])[0])
    assert (u["passed"], u["trials"]) == (1, 21)


def test_pools_of_several_seeds_merge_into_one():
    merged = se.merge_pools([_pool(8, {1: PASS}, rep=0), _pool(8, {1: FAIL}, rep=1)])
    assert len(merged) == 1 and len(merged[0]["trials"]) == 16
    assert se._verified_ok(merged[0], "0:1") and not se._verified_ok(merged[0], "1:1")


def test_pass_rate_interval_and_expected_cost():
    rate, low, high = se.pass_rate(1, 96)
    assert rate == pytest.approx(1 / 96) and 0 < low < rate < high < 0.06
    # none found: the estimate is 0 and the interval still admits a few per cent (rule of three)
    rate, low, high = se.pass_rate(0, 96)
    assert rate == 0 and low == 0 and high == pytest.approx(3.7 / 96, rel=0.1)
    assert se.pass_rate(5, 5)[2] == 1.0
    with pytest.raises(ValueError, match="passed=3, trials=2"):
        se.pass_rate(3, 2)
    # a tenth of the trials are finds, a trial trains 100 and a fifth are candidates (3 x 100 each)
    assert se.expected_cost(0.1, 100, 0.2, 100) == pytest.approx(1600)
    assert se.expected_cost(0.0, 100, 0.2, 100) == float("inf")


def test_uncertainty_of_a_pool_counts_its_verified_finds():
    u = se.uncertainty(_pool(16, {3: PASS, 5: FAIL}))
    assert (u["passed"], u["trials"]) == (1, 16)
    assert u["estimate"] == pytest.approx((100 + 2 / 16 * 300) * 16)
    assert u["at_high_rate"] < u["estimate"] < u["at_low_rate"]


def test_the_bar_is_the_one_the_result_was_run_at(tmp_path):
    # seeds at 85 % HQ pass a result run at an 80 % bar, and fail at the default 90 %
    near = {"seeds": [{"modes": 8, "hq": 85.0}] * 3}
    at_80 = _pool(16, {3: near})
    at_80["hq_min"] = 80.0
    assert all(se.summarize(at_80, round_size=8, orders=50)["found"])
    assert not any(se.summarize(_pool(16, {3: near}), round_size=8, orders=50)["found"])
    assert not se.passes({"eval_modes": 8, "eval_hq": 85.0}, "ring8")
    assert se.passes({"eval_modes": 8, "eval_hq": 85.0}, "ring8", hq_min=80.0)
    # a folder that mixes bars is refused: its methods would not be measured alike
    import json

    for name, bar in (("a", 80.0), ("b", 90.0)):
        result = _pool(8, {}, rep=0 if name == "a" else 1)
        result.update(hq_min=bar, extra=["data.name=ring8"])
        (tmp_path / f"{name}.json").write_text(json.dumps(result))
    with pytest.raises(SystemExit, match="differ in their bar"):
        se.report(tmp_path)


def test_the_ratio_to_random_search_comes_with_a_bootstrap_interval():
    # random: 4 finds in 40 trials of 100 steps, no failing candidate: 1,000 trained + 300 verified
    # per find at the rate 0.1 -> (100 + 0.1 x 300) / 0.1 = 1,300 member-steps expected
    rnd = _pool(40, {i: PASS for i in (3, 13, 23, 33)})
    assert se.expected_spend(rnd) == pytest.approx(1300)
    runs = []
    for rep, find in enumerate((2, 4, 3, 2, 5)):  # ganstab runs that found at trial `find`
        run = _pool(8, {find: PASS}, method="ganstab", rep=rep)
        run.update(cohort_size=1, found=find)
        runs.append(run)
    spends = [se.expected_spend(r) for r in runs]
    assert spends == [100 * (f + 1) + 300 for f in (2, 4, 3, 2, 5)]
    point, low, high = se.ratio_interval(rnd, runs, draws=500)
    assert point == pytest.approx(1300 / statistics.fmean(spends))
    assert low < point < high and low > 1.0  # finds in 4 of 40 random trials: wide, yet above 1x


def test_a_random_pool_without_finds_leaves_the_ratio_unbounded():
    rnd = _pool(20, {5: FAIL})
    run = _pool(4, {1: PASS}, method="ganstab")
    run.update(cohort_size=1, found=1)
    point, low, high = se.ratio_interval(rnd, [run], draws=50)
    assert point == high == float("inf")


def test_a_grid_rep_trains_the_same_points_from_another_seed():
    import argparse

    def extra(method, rep):
        args = argparse.Namespace(method=method, rep=rep, dataset="ring8", steps=2000, set=["train.g_ema=0.99"])
        return se._extra(args)

    # rep 0 keeps the default seed, so earlier grid results stay comparable
    assert not any(e.startswith("train.seed=") for e in extra("grid", 0))
    assert "train.seed=3" in extra("grid", 3)
    # a random pool's rep seeds its sampler, not its training
    assert not any(e.startswith("train.seed=") for e in extra("random", 3))
    # the trial trains from that seed; verification still retrains on its own seeds
    params = {"train.lr_d": 1e-3, "train.lr_g": 1e-3, "train.loss": "ns", "train.sn_d": False,
              "train.n_dis": 1, "train.beta1": 0.5}  # fmt: skip
    assert se.trial_config(params, extra("grid", 3)).train.seed == 3


def test_grid_reps_of_other_seeds_are_one_bar_and_a_cut_run_is_named(tmp_path, capsys):
    import json

    for rep in (0, 1):
        result = _pool(8, {3: PASS}, method="grid", rep=rep)
        seed = [f"train.seed={rep}"] if rep else []
        result.update(hq_min=80.0, extra=["data.name=ring8", *seed, "train.g_ema=0.99"])
        (tmp_path / f"grid-{rep}.json").write_text(json.dumps(result))
    cut = _pool(8, {}, method="ganstab", rep=0)
    cut.update(hq_min=80.0, extra=["data.name=ring8", "train.g_ema=0.99"], found=None, finished=False)
    (tmp_path / "ganstab-0.json").write_text(json.dumps(cut))
    se.report(tmp_path)  # the grid's seeds do not split the folder
    out = capsys.readouterr().out
    assert "| ring8 | grid | 1 (16) | 2 (2) |" in out  # one pool of 16 trials, both finds
    assert "Cut short before they ended" in out and "ganstab-ring8-rep0" in out


def test_results_judged_at_a_lower_bar_keep_their_trials_and_move_a_find_earlier(tmp_path):
    import json

    src, dst = tmp_path / "at80", tmp_path / "at75"
    src.mkdir()
    run = {"method": "ganstab", "dataset": "ring8", "rep": 0, "steps": 100, "cohort_size": 4,
           "hq_min": 80.0, "extra": [], "found": 4}  # fmt: skip
    hqs = [50.0, 77.0, 78.0, 60.0, 85.0, 90.0]
    run["trials"] = [
        {"number": i, "state": "COMPLETE", "modes": 8, "hq": h, "steps": 100, "candidate": h >= 80, "cohort": "c"}
        for i, h in enumerate(hqs)
    ]
    near = {"seeds": [{"modes": 8, "hq": 78.0}] * 3}
    run["verified"] = {"4": PASS}  # at 80 %, trial 4 was the first candidate and passed
    (src / "ganstab-asha-ring8-rep0.json").write_text(json.dumps(run))
    with pytest.raises(SystemExit, match="lower bar only"):
        se.rebar(src, tmp_path / "at90", 90.0)
    se.rebar(src, dst, 75.0)
    judged = json.loads((dst / "ganstab-asha-ring8-rep0.json").read_text())
    assert judged["hq_min"] == 75.0 and judged["judged_from"] == 80.0
    assert [t["candidate"] for t in judged["trials"]] == [False, True, True, False, True, True]
    assert judged["found"] == 4 and se._unverified(judged) == 2  # trials 1 and 2 need verifying
    # verified: trial 1 misses a seed at 75 %, trial 2 passes: the search would have stopped at 2
    judged["verified"].update({"1": {"seeds": [{"modes": 8, "hq": 76.0}, {"modes": 7, "hq": 80.0}, {"modes": 8, "hq": 80.0}]},
                               "2": near})  # fmt: skip
    assert se._first_find(judged) == 2
    # the original result is untouched
    assert json.loads((src / "ganstab-asha-ring8-rep0.json").read_text())["hq_min"] == 80.0
    # judging the folder again keeps what was verified there
    (dst / "ganstab-asha-ring8-rep0.json").write_text(json.dumps(judged))
    se.rebar(src, dst, 75.0)
    assert json.loads((dst / "ganstab-asha-ring8-rep0.json").read_text())["verified"].keys() == {"1", "2", "4"}
    # report counts the verifications of the trials searched up to the new find, not the old find's
    judged["found"] = se._first_find(judged)
    (dst / "ganstab-asha-ring8-rep0.json").write_text(json.dumps(judged))
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        se.report(dst, round_size=4)
    assert "| ring8 | ganstab | 1 (6) | 2 (1) |" in out.getvalue()

"""BatchedWrites and StudySnapshot on a real SQLite study: a round's writes land together, a refused
one alone, and a snapshot reads the study once."""

from __future__ import annotations

import optuna

from ganstab.search.batched_writes import BatchedWrites, StudySnapshot, final_values

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_batched_writes_commit_together_and_fall_back_one_by_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    study = optuna.create_study(storage=url, study_name="w", direction="maximize")
    a, b = study.ask(), study.ask()
    writes = BatchedWrites(study._storage)
    writes.set_trial_user_attr(a._trial_id, "status", "finished")
    writes.set_trial_intermediate_value(a._trial_id, 10, 0.5)
    writes.set_trial_state_values(a._trial_id, optuna.trial.TrialState.COMPLETE, [0.5])
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING  # nothing before the flush
    writes.flush()
    first = optuna.load_study(study_name="w", storage=url).trials[0]
    assert first.state == optuna.trial.TrialState.COMPLETE and first.value == 0.5
    assert first.user_attrs == {"status": "finished"} and first.intermediate_values == {10: 0.5}

    # a write to a finished trial fails the transaction; the others still land, one by one
    writes.set_trial_user_attr(a._trial_id, "late", 1)
    writes.set_trial_user_attr(b._trial_id, "status", "pruned")
    writes.flush()
    second = optuna.load_study(study_name="w", storage=url).trials
    assert "late" not in second[0].user_attrs and second[1].user_attrs == {"status": "pruned"}


def test_a_snapshot_reads_once_and_sees_the_writes_it_passes_on(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    a = study.ask()
    writes = BatchedWrites(study._storage)
    snapshot = StudySnapshot(study, writes)
    b = study.ask()  # after the read: not in the snapshot
    assert [t.number for t in snapshot.get_trials()] == [a.number]
    snapshot.own([a._trial_id])
    snapshot._storage.set_trial_system_attr(a._trial_id, "rung", 1)  # as a pruner records a rung value
    assert snapshot.trials_by_id[a._trial_id].system_attrs["rung"] == 1  # at once, in the snapshot
    assert "rung" not in study._storage.get_trial(a._trial_id).system_attrs  # not yet in the study
    writes.flush()
    assert study._storage.get_trial(a._trial_id).system_attrs["rung"] == 1
    assert snapshot.study_name == "s" and b.number == 1


def test_final_values_follow_optunas_rules(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'f.db'}", direction="maximize")
    trial = study.ask()
    trial.report(0.25, 10)
    trial.report(float("nan"), 20)
    frozen = study._storage.get_trial(trial._trial_id)
    State = optuna.trial.TrialState
    assert final_values(frozen, State.COMPLETE, 0.5) == [0.5]
    assert final_values(frozen, State.PRUNED, None) is None  # the last intermediate value is NaN
    trial.report(0.75, 30)
    frozen = study._storage.get_trial(trial._trial_id)
    assert final_values(frozen, State.PRUNED, None) == [0.75] and final_values(frozen, State.FAIL, None) is None

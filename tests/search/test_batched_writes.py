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


def _round_of_writes(study, trials, writes):
    """A settling round as a cohort writes it: attributes, intermediate values (one NaN, one
    rewritten), a note, a first heartbeat, then the final states with their values."""
    State = optuna.trial.TrialState
    for k, t in enumerate(trials):
        writes.set_trial_user_attr(t._trial_id, "status", f"s{k}")
        writes.set_trial_user_attr(t._trial_id, "status", f"s{k}!")  # the last write wins
        writes.set_trial_system_attr(t._trial_id, "artifact", {"id": k})
        writes.set_trial_intermediate_value(t._trial_id, 10, 0.1 * k)
        writes.set_trial_intermediate_value(t._trial_id, 20, float("nan") if k == 1 else 0.2 * k)
        writes.set_study_system_attr(study._study_id, f"note:{k}", f"body {k}")
        writes.record_heartbeat(t._trial_id)
    for k, t in enumerate(trials):
        state = [State.COMPLETE, State.PRUNED, State.FAIL][k % 3]
        writes.set_trial_state_values(t._trial_id, state, [float(k)] if state != State.FAIL else None)


def test_a_bulk_round_stores_what_one_by_one_writes_store(tmp_path, monkeypatch):
    """The one-statement-per-table path (rdb_bulk) against Optuna's own per-write helpers."""
    import ganstab.search.batched_writes as bw

    stored = {}
    for name, bulk in (("bulk", True), ("one", False)):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        study = optuna.create_study(storage=url, study_name="w", direction="maximize")
        trials = [study.ask() for _ in range(5)]
        monkeypatch.setattr(bw, "bulk_ok", lambda rdb, ops, bulk=bulk: bulk)
        writes = BatchedWrites(study._storage)
        _round_of_writes(study, trials, writes)
        writes.flush()
        again = optuna.load_study(study_name="w", storage=url)
        stored[name] = (
            [(t.state, t.values, t.user_attrs, t.system_attrs, t.intermediate_values) for t in again.trials],
            again._storage.get_study_system_attrs(again._study_id),
            [t.datetime_complete is not None for t in again.trials],
        )
        hb = again._storage._backend if hasattr(again._storage, "_backend") else again._storage
        from optuna.storages._rdb import models
        with hb.scoped_session() as session:
            assert session.query(models.TrialHeartbeatModel).count() == 5
    bulk_trials, one_trials = stored["bulk"][0], stored["one"][0]
    for b, o in zip(bulk_trials, one_trials):
        assert b[:4] == o[:4]
        assert b[4].keys() == o[4].keys() and all(
            (x == y) or (x != x and y != y) for x, y in zip(b[4].values(), o[4].values())
        )
    assert stored["bulk"][1:] == stored["one"][1:]
    assert bulk_trials[0][2] == {"status": "s0!"} and bulk_trials[3][1] == [3.0]


def test_bulk_ok_only_when_every_state_is_final_and_last():
    State = optuna.trial.TrialState

    class Rdb:
        class engine:
            name = "sqlite"

    from ganstab.search.rdb_bulk import bulk_ok

    attr, done = ("trial_user_attr", (1, "k", 1)), ("state", (1, State.COMPLETE, [1.0]))
    assert bulk_ok(Rdb, [attr, done])
    assert not bulk_ok(Rdb, [done, attr])  # an attribute after its trial's state
    assert not bulk_ok(Rdb, [("state", (1, State.RUNNING, None))])
    Rdb.engine.name = "mysql"
    assert not bulk_ok(Rdb, [attr])


def test_a_picture_uploads_as_a_hard_link_on_one_file_system_and_as_a_copy_across_two(tmp_path):
    """A file-system artifact store takes a sample picture as a hard link (a copy cost 0.6 ms of CPU
    per trial); across file systems (/dev/shm is a tmpfs, tmp_path is not) it copies. Either way
    the artifact reads the picture's bytes and outlives the run folder's file."""
    import tempfile

    from optuna.artifacts import FileSystemArtifactStore, download_artifact

    from ganstab.search.batched_writes import upload_artifact

    url = f"sqlite:///{tmp_path / 'a.db'}"
    study = optuna.create_study(storage=url, study_name="a")
    trial = study.ask()
    picture = tmp_path / "step_000100.png"
    picture.write_bytes(b"\x89PNG fake picture bytes")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other_fs:
        for base, linked in ((tmp_path / "artifacts", True), (tmp_path.__class__(other_fs), False)):
            base.mkdir(exist_ok=True)
            store = FileSystemArtifactStore(base)
            writes = BatchedWrites(study._storage)
            artifact_id = upload_artifact(store, writes, trial._trial_id, picture)
            writes.flush()
            assert (picture.stat().st_ino == (base / artifact_id).stat().st_ino) is linked
            out = tmp_path / f"out-{linked}.png"
            download_artifact(artifact_store=store, artifact_id=artifact_id, file_path=str(out))
            assert out.read_bytes() == b"\x89PNG fake picture bytes"
            if linked:
                linked_id = artifact_id
    picture.unlink()  # the run folder keeps the newest picture only: the linked artifact stays
    assert (tmp_path / "artifacts" / linked_id).read_bytes() == b"\x89PNG fake picture bytes"

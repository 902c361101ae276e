"""The repository on a real SQLite file: compare-and-set, forward-only status, migrations."""

from __future__ import annotations

import pytest

from cosmos_core.config import SyncConfig
from cosmos_core.lifecycle import RunStatus
from cosmos_core.repository import DataRepository
from cosmos_core.rerun import again
from cosmos_core.store import dbcopy, tables
from cosmos_core.store.host_states import backoff_seconds, backoff_start
from cosmos_core.store.queries import InvalidInput, NotFound

SYNC = SyncConfig(min_interval_seconds=2, lost_after_seconds=120, download_budget_seconds=3)


@pytest.fixture
def repo(tmp_path):
    db = tables.connect(f"sqlite:///{tmp_path}/db/cosmos.db")
    yield DataRepository(tmp_path / "outputs", SYNC)
    db.close()


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(b"\x00")
    return path


def test_sqlite_runs_in_wal_mode(repo, tmp_path):
    assert tables.database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert tables.database.execute_sql("PRAGMA busy_timeout").fetchone()[0] > 0


def test_compare_and_set_applies_a_transition_once(repo, video):
    prompt = repo.create_prompt("hello", video)
    run = repo.create_run("rs_1", prompt.id, "inference", "gpu1", {})
    assert repo.transition(run.id, RunStatus.PENDING, status="uploading")
    assert not repo.transition(run.id, RunStatus.PENDING, status="uploading")
    assert repo.transition(run.id, RunStatus.UPLOADING, status="running")
    assert repo.transition(run.id, RunStatus.RUNNING, status="completed", completed_at=5.0)
    assert not repo.transition(run.id, RunStatus.RUNNING, status="failed", completed_at=6.0)
    with pytest.raises(ValueError, match="cannot move"):
        repo.transition(run.id, RunStatus.COMPLETED, status="failed")
    with pytest.raises(ValueError, match="cannot move"):
        repo.transition(run.id, RunStatus.RUNNING, status="uploading")
    stored = repo.get_run(run.id)
    assert (stored.status, stored.completed_at) == ("completed", 5.0)


def test_prompt_validation(repo, video, tmp_path):
    with pytest.raises(InvalidInput, match="prompt is empty"):
        repo.create_prompt(" \n", video)
    with pytest.raises(InvalidInput, match="NUL"):
        repo.create_prompt("a\x00b", video)
    with pytest.raises(InvalidInput, match="does not exist"):
        repo.create_prompt("ok", tmp_path / "missing.mp4")
    prompt = repo.create_prompt("  a   long\nprompt  ", video)
    assert prompt.text == "a   long\nprompt" and prompt.name == "a long prompt"
    with pytest.raises(NotFound):
        repo.get_prompt("ps_missing")


def test_filters_search_and_paging(repo, video):
    red = repo.create_prompt("a red robot", video, name="robot")
    lake = repo.create_prompt("a calm lake", video, name="lake")
    runs = [repo.create_run(f"rs_{i}", p.id, kind, "gpu1", {})
            for i, (p, kind) in enumerate(((red, "inference"), (lake, "enhance"), (red, "inference")))]
    ids = [r.id for r in repo.list_runs()]
    assert ids == [r.id for r in sorted(runs, key=lambda r: (-r.created_at, r.id))]
    assert {r.id for r in repo.list_runs(search="lake")} == {runs[1].id}
    assert {r.id for r in repo.list_runs(kind="inference")} == {runs[0].id, runs[2].id}
    assert [r.id for r in repo.list_runs(limit=1, offset=1)] == ids[1:2]
    assert repo.count_by_status() == {"pending": 3}
    swept = repo.create_run("rs_swept", red.id, "inference", "gpu1", {}, sweep_id="sw_1")
    assert [r.id for r in repo.list_runs(search="sw_1")] == [swept.id]  # the table's search finds a sweep
    assert [r.id for r in repo.list_runs(sweep="sw_1")] == [swept.id] and repo.sweep_counts("sw_1") == {"pending": 1}


def test_migrations_are_recorded_and_a_newer_database_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/m.db"
    db = tables.connect(url)
    assert tables.SchemaVersion.get_by_id(1).version == tables.SCHEMA_VERSION
    tables.migrate(db)  # opening again changes nothing
    assert tables.SchemaVersion.select().count() == 1
    tables.SchemaVersion.update(version=tables.SCHEMA_VERSION + 1).execute()
    with pytest.raises(RuntimeError, match="newer than this program"):
        tables.migrate(db)
    db.close()


def test_terminal_statuses_are_final():
    for status in RunStatus:
        if status.is_terminal():
            assert not any(status.can_move_to(other) for other in RunStatus)


def _new_database(tmp_path, video, name: str, text: str):
    """A new database file with one prompt, for a migration test: its URL, the database (connected and
    migrated), a repository on it and the prompt."""
    url = f"sqlite:///{tmp_path}/{name}.db"
    db = tables.connect(url)
    repo = DataRepository(tmp_path / "outputs", SYNC)
    return url, db, repo, repo.create_prompt(text, video)


def test_an_older_database_is_migrated_and_keeps_its_rows(tmp_path, video):
    url, db, repo, prompt = _new_database(tmp_path, video, "old", "kept")
    repo.create_run("rs_old", prompt.id, "inference", "gpu1", {})
    for column in ("launched_on", "model", "progress"):  # what a version-1 database looks like
        db.execute_sql(f"ALTER TABLE run DROP COLUMN {column}")
    for column in ("failures", "retry_at"):
        db.execute_sql(f"ALTER TABLE hoststate DROP COLUMN {column}")
    db.execute_sql("DROP TABLE downloadlease")
    db.execute_sql("DROP TABLE notification")
    tables.SchemaVersion.update(version=1).execute()
    db.close()
    db = tables.connect(url)
    assert tables.SchemaVersion.get_by_id(1).version == tables.SCHEMA_VERSION == 10
    assert {"launched_on", "model", "progress", "metrics_status", "metrics", "metrics_state", "thumbnail",
            "starred", "note"} <= {c.name for c in db.get_columns("run")}
    assert {"failures", "retry_at"} <= {c.name for c in db.get_columns("hoststate")}
    assert db.table_exists("downloadlease") and db.table_exists("notification")
    old = repo.get_run("rs_old")
    assert old.launched_on is None and old.model == "transfer1" and old.progress is None
    assert old.metrics_status == "none" and old.metrics is None and old.thumbnail is None  # never scored by itself
    assert repo.get_prompt(prompt.id).text == "kept"
    db.close()


def test_migration_8_gives_a_queued_run_its_queued_time_instead_of_a_start(tmp_path, video):
    """Before queued_at, a queued run's started_at held when it joined the queue."""
    url, db, repo, prompt = _new_database(tmp_path, video, "v7", "queued then")
    for run_id, status, at in (("rs_q", RunStatus.QUEUED, 100.0), ("rs_r", RunStatus.RUNNING, 200.0)):
        repo.create_run(run_id, prompt.id, "inference", "gpu1", {})
        assert repo.transition(run_id, RunStatus.PENDING, status=status.value, started_at=at)
    db.execute_sql("ALTER TABLE run DROP COLUMN queued_at")
    tables.SchemaVersion.update(version=7).execute()
    db.close()
    db = tables.connect(url)
    tables.MIGRATIONS[7](db)  # a second process migrating at once changes nothing more
    assert [(r.queued_at, r.started_at) for r in map(repo.find_run, ("rs_q", "rs_r"))] == [(100.0, None),
                                                                                             (None, 200.0)]
    db.close()


def _as_version_8(db):
    """The database as version 8 left it: no scores, no thumbnail, no star, no note."""
    for index in ("run_starred", "run_metrics_status"):
        db.execute_sql(f"DROP INDEX {index}")
    for column in (*V9_COLUMNS, "starred", "note"):
        db.execute_sql(f"ALTER TABLE run DROP COLUMN {column}")
    tables.SchemaVersion.update(version=8).execute()
    db.close()


V9_COLUMNS = ("metrics_status", "metrics", "metrics_state", "thumbnail")


def test_migration_10_gives_old_runs_no_star_and_no_note_and_runs_in_any_order(tmp_path, video):
    url, db, repo, prompt = _new_database(tmp_path, video, "v8", "before stars")
    repo.create_run("rs_old", prompt.id, "inference", "gpu1", {})
    _as_version_8(db)
    db = tables.connect(url)
    assert tables.SchemaVersion.get_by_id(1).version == tables.SCHEMA_VERSION
    assert {*V9_COLUMNS, "starred", "note"} <= {c.name for c in db.get_columns("run")}
    assert {"run_starred", "run_metrics_status"} <= {i.name for i in db.get_indexes("run")}
    old = repo.find_run("rs_old")
    assert (old.starred, old.note) == (False, None)
    assert [r.id for r in repo.list_runs(starred=True)] == []
    tables.MIGRATIONS[9](db)  # a second process migrating at once changes nothing more
    _as_version_8(db)
    db = tables._open(url)  # not migrated yet
    tables.database.initialize(db)
    db.connect()
    tables.MIGRATIONS[9](db)  # star and note first (the lead may order the branches' migrations either way),
    tables.MIGRATIONS[8](db)  # then the one before: each adds only what is missing
    assert {*V9_COLUMNS, "starred", "note"} <= {c.name for c in db.get_columns("run")}
    assert (repo.find_run("rs_old").starred, repo.find_run("rs_old").metrics_status) == (False, "none")
    db.close()


def test_counts_are_recounted_only_after_a_status_changed(tmp_path, video):
    tables.connect(f"sqlite:///{tmp_path}/c.db")
    repo = DataRepository(tmp_path / "outputs", SYNC)
    prompt = repo.create_prompt("p", video)
    repo.create_run("rs_1", prompt.id, "inference", "gpu1", {})
    assert repo.count_by_status() == {"pending": 1}
    tables.Run.update(status="running").where(tables.Run.id == "rs_1").execute()  # behind the repository's back
    assert repo.count_by_status() == {"pending": 1}  # nothing counted again: no status change was recorded
    assert repo.transition("rs_1", RunStatus.RUNNING, status="completed")
    assert repo.count_by_status() == {"completed": 1}
    other = DataRepository(tmp_path / "outputs", SYNC)  # another process's view moves with it
    repo.create_run("rs_2", prompt.id, "inference", "gpu1", {})
    assert other.count_by_status() == {"completed": 1, "pending": 1}


def test_the_tick_queries_use_indexes(tmp_path):
    db = tables.connect(f"sqlite:///{tmp_path}/i.db")
    plans = {
        "page": "SELECT id FROM run ORDER BY created_at DESC, id LIMIT 51",
        "downloads": "SELECT id FROM run WHERE download_status IN ('pending', 'downloading')",
        "cleanup": "SELECT id FROM run WHERE container_removed = 0 AND status IN ('completed')",
    }
    for name, sql in plans.items():
        plan = " ".join(row[-1] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}").fetchall())
        assert "INDEX run_" in plan, (name, plan)  # not a scan of every run


def test_a_download_lease_is_one_installs_until_it_expires(tmp_path):
    tables.connect(f"sqlite:///{tmp_path}/l.db")
    repo = DataRepository(tmp_path / "outputs", SYNC)
    assert repo.take_lease("rs_1", "in_a", 60)
    assert repo.take_lease("rs_1", "in_a", 70)  # renewed by its holder
    assert not repo.take_lease("rs_1", "in_b", 80)  # held by another install
    tables.DownloadLease.update(expires_at=0.0).execute()  # expired: taken over
    assert not repo.renew_lease("rs_1", "in_a", 60)  # its holder cannot renew it any more
    assert repo.take_lease("rs_1", "in_b", 60) and not repo.take_lease("rs_1", "in_a", 60)
    assert not repo.release_lease("rs_1", "in_a")  # not its holder: nothing happens
    assert not repo.take_lease("rs_1", "in_a", 60)
    assert repo.renew_lease("rs_1", "in_b", 60) and repo.release_lease("rs_1", "in_b")
    assert repo.take_lease("rs_1", "in_a", 60)


def test_a_failing_host_backs_off_for_every_process_until_it_answers(tmp_path):
    tables.connect(f"sqlite:///{tmp_path}/b.db")
    now = [1000.0]
    repo = DataRepository(tmp_path / "outputs", SYNC, clock=lambda: now[0])
    other_process = DataRepository(tmp_path / "outputs", SYNC, clock=lambda: now[0])
    assert repo.claim_probe("gpu2", now[0], force=False)
    repo.record_host("gpu2", "host gpu2: no answer")
    repo.record_host("gpu2", "host gpu2: no answer")  # twice in a row
    waited = backoff_seconds(2, SYNC.min_interval_seconds)
    now[0] += waited - 0.5
    assert not other_process.claim_probe("gpu2", now[0], force=False)
    assert other_process.claim_probe("gpu2", now[0], force=True)  # the Refresh button still asks
    now[0] += 1.0 + SYNC.min_interval_seconds
    assert other_process.claim_probe("gpu2", now[0], force=False)
    other_process.record_host("gpu2", None)
    assert repo.host_state("gpu2").failures == 0 and repo.host_state("gpu2").retry_at == 0


@pytest.mark.parametrize("interval", [0.0, 2.0, 7.5, 40.0])
def test_the_database_counts_failures_and_backs_off_as_backoff_seconds_says(tmp_path, interval):
    tables.connect(f"sqlite:///{tmp_path}/b.db")
    repo = DataRepository(tmp_path / "outputs", SyncConfig(interval, 120, 3), clock=lambda: 1000.0)
    for failures in range(1, 9):
        repo.record_host("gpu2", "host gpu2: no answer")
        state = repo.host_state("gpu2")
        assert (state.failures, state.retry_at) == (failures, 1000.0 + backoff_seconds(failures, interval))


def test_backoff_doubles_from_where_it_starts_up_to_a_cap():
    assert [backoff_seconds(n, 2.0) for n in (1, 2, 3, 4, 5, 6)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert [backoff_seconds(n, 15.0) for n in (1, 2, 3)] == [15.0, 30.0, 30.0]
    assert [backoff_seconds(n, 45.0) for n in (1, 2)] == [45.0, 45.0]  # never shorter than its start
    assert backoff_seconds(1, 0.0) == 1.0


@pytest.mark.parametrize(("interval", "timeout", "timed_out", "start"), [
    (2.0, 15.0, False, 2.0),
    (2.0, 15.0, True, 15.0),  # a probe that timed out cost a whole probe timeout: wait at least that
    (20.0, 15.0, True, 20.0),  # never sooner than the probe interval
    (0.0, 3.0, True, 3.0),
    (0.0, 3.0, False, 0.0),
])
def test_backoff_starts_at_the_probe_interval_or_after_a_timeout_the_probe_timeout(interval, timeout, timed_out,
                                                                                 start):
    assert backoff_start(SyncConfig(interval, 120, 3, timeout), timed_out) == start


def test_a_database_url_with_a_bad_port_is_one_line_naming_the_port(tmp_path):
    url = "postgresql://u:secret@h:abc/db"
    with pytest.raises(ValueError, match=r"^has port 'abc'; a port must be a number from 1 to 65535$"):
        tables._open(url)
    source = f"sqlite:///{tmp_path}/cosmos.db"
    tables.connect(source).close()
    with pytest.raises(dbcopy.CopyError) as refused:
        dbcopy.copy_history(source, url)
    assert str(refused.value) == ("target database URL postgresql://u:****@h:abc/db has port 'abc'; "
                                  "a port must be a number from 1 to 65535")


RUN_AGAIN_PARAMS = {"num_steps": 12, "seed": 7, "weights": [0.0, 0.4, 0.6, 0.0]}


@pytest.fixture
def files(tmp_path):
    paths = {name: tmp_path / f"{name}.mp4" for name in ("video", "depth", "other")}
    for path in paths.values():
        path.write_bytes(b"\x00")
    return paths


def test_the_same_text_and_files_give_back_the_stored_prompt(repo, files):
    first = repo.create_prompt("a street at dusk", files["video"], depth=files["depth"], negative_prompt="blur")
    assert repo.create_prompt("a street at dusk", files["video"], depth=files["depth"], negative_prompt="blur").id \
        == first.id
    assert repo.create_prompt("a street at dusk", files["video"], depth=files["depth"], negative_prompt="blur",
                              name=first.name).id == first.id  # the name it has, given
    different = [
        repo.create_prompt("a street at dawn", files["video"], depth=files["depth"], negative_prompt="blur"),
        repo.create_prompt("a street at dusk", files["other"], depth=files["depth"], negative_prompt="blur"),
        repo.create_prompt("a street at dusk", files["video"], negative_prompt="blur"),
        repo.create_prompt("a street at dusk", files["video"], seg=files["depth"], negative_prompt="blur"),
        repo.create_prompt("a street at dusk", files["video"], depth=files["depth"]),
        repo.create_prompt("a street at dusk", files["video"], depth=files["depth"], negative_prompt="blur",
                           name="another name"),
    ]
    assert len({p.id for p in different} | {first.id}) == 7
    assert len(repo.list_prompts()) == 7


def test_again_refuses_an_unknown_run_another_kind_and_a_missing_input(repo, files):
    with pytest.raises(NotFound, match="no run with id 'rs_nope'"):
        again(repo, "rs_nope", {})
    prompt = repo.create_prompt("p", files["video"], depth=files["depth"])
    repo.create_run("rs_up", prompt.id, "upscale", "gpu1", {"control_weight": 0.5})
    with pytest.raises(InvalidInput, match="rs_up is an upscale run; only an inference run"):
        again(repo, "rs_up", {})
    repo.create_run("rs_1", prompt.id, "inference", "gpu1", RUN_AGAIN_PARAMS)
    plan = again(repo, "rs_1", {"seed": 8}, model_name=None)
    assert (plan.prompt_id, plan.model, plan.host, plan.params.seed, plan.params.num_steps) == (
        prompt.id, "transfer1", "gpu1", 8, 12)
    assert again(repo, "rs_1", {}, host="gpu9").host == "gpu9"
    files["depth"].unlink()
    with pytest.raises(InvalidInput, match=f"rs_1's depth video {files['depth']} is no longer on this machine"):
        again(repo, "rs_1", {})
    assert again(repo, "rs_1", {"weights": (0.0, 1.0, 0.0, 0.0)}).params.active_controls() == ["edge"]

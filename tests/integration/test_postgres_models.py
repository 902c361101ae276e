"""The tables and migrations of cosmos_core.store.tables on both backends: each test runs on a SQLite file
and on a fresh database of a real PostgreSQL 15 server (tests/pgkit.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import peewee as pw
import pytest

from cosmos_core.store import tables
from cosmos_core.store.tables import RUN_INDEXES, SCHEMA_VERSION, Changes, HostState, Prompt, Run, SchemaVersion

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {"prompt", "run", "hoststate", "changes", "schemaversion"}


@pytest.fixture
def db(database_url):
    db = tables.connect(database_url)
    yield db
    db.close()


def add_run(run_id: str = "rs_1", **fields) -> Run:
    if not Prompt.get_or_none(Prompt.id == "ps_1"):
        Prompt.create(id="ps_1", name="p", text="a red robot", video_path="/v.mp4", created_at=1.5)
    return Run.create(**{"id": run_id, "prompt": "ps_1", "kind": "inference", "host": "gpu1", "status": "pending",
                         "created_at": 2.5, **fields})


def python(snippet: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", snippet, *args], cwd=REPO_ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_together(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Let processes that print 'ready' and then read a line go at once; return what each printed after."""
    for p in processes:
        assert p.stdout is not None and p.stderr is not None, "python() pipes them"
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in processes:
        assert p.stdin is not None, "python() pipes it"
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = []
    for p in processes:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outputs.append(out)
    return outputs


def index_sql(db: pw.Database) -> dict[str, str]:
    return {i.name: i.sql for i in db.get_indexes("run")}


def page_plan(db: pw.Database) -> str:
    sql = "SELECT id FROM run ORDER BY created_at DESC, id LIMIT 51"
    if isinstance(db, pw.PostgresqlDatabase):
        with db.atomic():  # a handful of rows: forbid the scan-and-sort a tiny table gets, for this transaction
            db.execute_sql("SET LOCAL enable_seqscan = off")
            return " ".join(row[0] for row in db.execute_sql(f"EXPLAIN {sql}").fetchall())
    return " ".join(row[-1] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}").fetchall())


def test_a_new_database_gets_the_current_schema_and_the_run_indexes(db):
    assert TABLES <= set(db.get_tables())
    assert SchemaVersion.get_by_id(1).version == SCHEMA_VERSION
    assert [(c.id, c.count) for c in Changes.select()] == [(1, 0)]
    indexes = index_sql(db)
    for name, columns in RUN_INDEXES.items():
        assert f"({columns})" in indexes[name], indexes[name]  # PostgreSQL: "... USING btree (created_at DESC, id)"
    for n in range(5):
        add_run(f"rs_{n}", created_at=float(n))
    plan = page_plan(db)
    assert "run_created_at_id" in plan and "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_an_older_database_is_migrated_to_the_current_version_and_keeps_its_rows(db, database_url):
    add_run("rs_old")
    for column in ("launched_on", "model", "progress"):  # what a version-1 database looks like
        db.execute_sql(f"ALTER TABLE run DROP COLUMN {column}")
    for name in RUN_INDEXES:
        db.execute_sql(f"DROP INDEX {name}")
    db.execute_sql("DROP TABLE changes")
    SchemaVersion.update(version=1).execute()
    db.close()

    db = tables.connect(database_url)
    assert SchemaVersion.get_by_id(1).version == SCHEMA_VERSION
    assert {"launched_on", "model", "progress"} <= {c.name for c in db.get_columns("run")}
    old = Run.get_by_id("rs_old")
    assert (old.launched_on, old.model, old.progress, old.prompt.text) == (None, "transfer1", None, "a red robot")
    assert set(RUN_INDEXES) <= set(index_sql(db))
    assert [(c.id, c.count) for c in Changes.select()] == [(1, 0)]
    for step in tables.MIGRATIONS:  # every step is safe to run again (two processes may both run it)
        with db.atomic():
            step(db)
    assert Changes.select().count() == 1 and Run.select().count() == 1
    db.close()


def test_reopening_an_up_to_date_database_writes_nothing(db, database_url, request):
    db.close()
    if isinstance(db, pw.PostgresqlDatabase):  # every new session refuses writes
        server = request.getfixturevalue("postgres_server")
        with server.admin() as conn, conn.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{db.database}" SET default_transaction_read_only = on')
        writer = None
    else:  # another process holds SQLite's write lock; tables.connect would wait 30 s for it to write
        writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
    try:
        db = tables.connect(database_url)
        assert SchemaVersion.get_by_id(1).version == SCHEMA_VERSION
        if writer is None:
            with pytest.raises(pw.InternalError, match="read-only transaction"):
                HostState.create(name="gpu1")  # the database really refused writes
        db.close()
    finally:
        if writer is not None:
            writer.close()


def test_compare_and_set_lets_one_of_two_connections_win(db, database_url):
    add_run("rs_1")
    add_run("rs_2")
    other = tables._open(database_url)
    other.connect()
    cas = lambda run_id: Run.update(status="running").where(Run.id == run_id, Run.status == "pending")
    assert cas("rs_1").execute() == 1
    assert cas("rs_1").execute(other) == 0  # the other connection sees the committed change

    results = {}

    def second_writer() -> None:  # its own thread: its own connection of `other`
        results["n"] = cas("rs_2").execute(other)
        other.close()

    with db.atomic():  # rs_2: the first writer has not committed when the second tries
        assert cas("rs_2").execute() == 1
        second = threading.Thread(target=second_writer)
        second.start()
        second.join(0.5)
        assert second.is_alive(), "the second writer should wait for the first one's transaction"
    second.join(60)
    assert results == {"n": 0}
    assert [r.status for r in Run.select().order_by(Run.id)] == ["running", "running"]
    other.close()


CAS_SNIPPET = """
import sys
from cosmos_core.store import tables
from cosmos_core.store.tables import Run
url, me, ids = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
tables.connect(url)
print("ready", flush=True)
sys.stdin.readline()
for run_id in ids:
    won = Run.update(status="running", host=me).where(Run.id == run_id, Run.status == "pending").execute()
    print(run_id, won)
"""


def test_compare_and_set_across_processes_lets_exactly_one_win(db, database_url):
    ids = [f"rs_{n}" for n in range(20)]
    for run_id in ids:
        add_run(run_id)
    names = [f"proc{n}" for n in range(4)]
    outputs = run_together([python(CAS_SNIPPET, database_url, name, ",".join(ids)) for name in names])
    winners: dict[str, list[str]] = {run_id: [] for run_id in ids}
    for name, out in zip(names, outputs, strict=True):
        for line in out.splitlines():
            run_id, won = line.split()
            assert won in ("0", "1")
            if won == "1":
                winners[run_id].append(name)
    assert all(len(w) == 1 for w in winners.values()), winners
    assert {r.id: r.host for r in Run.select()} == {run_id: w[0] for run_id, w in winners.items()}
    assert all(r.status == "running" for r in Run.select())


OPEN_SNIPPET = """
import sys
from cosmos_core.store import tables
print("ready", flush=True)
sys.stdin.readline()
tables.connect(sys.argv[1])
print(tables.SchemaVersion.get_by_id(1).version)
"""


def test_processes_opening_a_new_database_at_once_all_succeed(database_url):
    """On a brand-new SQLite file `PRAGMA journal_mode = wal` answers 'database is locked' at once, without
    the busy timeout, when another process switches it at the same moment: the connect waits it out."""
    outputs = run_together([python(OPEN_SNIPPET, database_url) for _ in range(3)])
    assert [out.strip() for out in outputs] == [str(SCHEMA_VERSION)] * 3


FLOATS = [1754400000.123456, 0.1, 1 / 3, 2.0**-1074, 1e-300, 1.7976931348623157e308, -2.5e-7, 0.0]
BIGINTS = [0, 2**31, 2**53 + 1, 2**63 - 1, -(2**62) - 3]  # stored as b and -b: within a signed 64 bits


def test_doubles_bigints_and_booleans_round_trip_exactly(db, database_url):
    for n, (f, b) in enumerate(zip(FLOATS, BIGINTS * 2, strict=False)):
        add_run(f"rs_{n}", created_at=f, started_at=-f, missing_since=f / 7, bytes_done=b, bytes_total=-b,
                container_removed=bool(n % 2))
    Changes.update(count=2**63 - 1).execute()
    db.close()

    db = tables.connect(database_url)
    for n, (f, b) in enumerate(zip(FLOATS, BIGINTS * 2, strict=False)):
        run = Run.get_by_id(f"rs_{n}")
        assert (run.created_at, run.started_at, run.missing_since) == (f, -f, f / 7)
        assert type(run.created_at) is float and repr(run.missing_since) == repr(f / 7)
        assert (run.bytes_done, run.bytes_total) == (b, -b) and type(run.bytes_done) is int
        assert run.container_removed is bool(n % 2)
    assert Changes.get_by_id(1).count == 2**63 - 1
    page = [r.id for r in Run.select().order_by(Run.created_at.desc(), Run.id)]
    assert page == [f"rs_{n}" for n in sorted(range(len(FLOATS)), key=lambda n: -FLOATS[n])]

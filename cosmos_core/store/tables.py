"""Database tables (peewee) on a deferred database, and the schema migrations.

Timestamps are UTC seconds since the epoch (floats): portable across SQLite and
PostgreSQL, and cheap to compare in compare-and-set updates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as migrate_schema

from cosmos_core.config_schema import database_url_problem

database = pw.DatabaseProxy()

BUSY_TIMEOUT_SECONDS = 30.0  # default of how long SQLite waits for another process's write lock before giving up
SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1,
                  "synchronous": "normal"}


class SchemaError(RuntimeError):
    """The database was written by a newer version of this program."""


class BaseModel(pw.Model):
    class Meta:
        database = database


class Prompt(BaseModel):
    id = pw.CharField(primary_key=True, max_length=40)
    name = pw.CharField(max_length=200)
    text = pw.TextField()
    negative_prompt = pw.TextField(default="")
    video_path = pw.TextField()
    depth_path = pw.TextField(null=True)
    seg_path = pw.TextField(null=True)
    created_at = pw.DoubleField()


class Run(BaseModel):
    id = pw.CharField(primary_key=True, max_length=40)
    prompt = pw.ForeignKeyField(Prompt, column_name="prompt_id", backref="runs")
    prompt_id: str  # the prompt's id without loading it: peewee's accessor of `prompt`, declared for type checkers
    kind = pw.CharField(max_length=20)
    host = pw.CharField(max_length=100, index=True)
    parent_run_id = pw.CharField(max_length=40, null=True)
    params = pw.TextField(default="{}")  # JSON
    status = pw.CharField(max_length=20, index=True)
    exit_code = pw.IntegerField(null=True)
    error = pw.TextField(null=True)
    container_id = pw.CharField(max_length=100, null=True)
    remote_run_dir = pw.TextField(null=True)
    missing_since = pw.DoubleField(null=True)  # container first seen gone, no marker
    container_removed = pw.BooleanField(default=False)
    download_status = pw.CharField(max_length=20, default="none")
    download_error = pw.TextField(null=True)
    download_attempts = pw.IntegerField(default=0)
    remote_files = pw.TextField(default="{}")  # JSON {name relative to the run dir: [size, sha256]}
    bytes_done = pw.BigIntegerField(default=0)
    bytes_total = pw.BigIntegerField(default=0)
    files = pw.TextField(default="[]")  # JSON list of absolute local paths
    output_path = pw.TextField(null=True)
    enhanced_text = pw.TextField(null=True)
    created_at = pw.DoubleField(index=True)
    queued_at = pw.DoubleField(null=True)  # when its job joined the host's queue (waiting for GPUs)
    started_at = pw.DoubleField(null=True)  # when its job got its GPUs and began
    completed_at = pw.DoubleField(null=True)
    launched_on = pw.CharField(max_length=255, null=True)  # the machine whose process started the run
    model = pw.CharField(max_length=40, default="transfer1")  # upstream.models.MODELS key
    progress = pw.TextField(null=True)  # while running: the stage and progress figure its log shows
    gpus = pw.CharField(max_length=100, null=True)  # the GPU slots its job holds ("0,1"), on a host with a queue
    queue_position = pw.IntegerField(null=True)  # while queued: its place in the host's queue
    sweep_id = pw.CharField(max_length=40, null=True, index=True)  # the sweep it belongs to, if any
    # Control-fidelity scores (cosmos_core/scoring.py): none | pending (due once its output is verified)
    # | done | failed; the scores (or the error) as JSON; while pending, the totals so far (resumable).
    metrics_status = pw.CharField(max_length=10, default="none")
    metrics = pw.TextField(null=True)
    metrics_state = pw.TextField(null=True)
    thumbnail = pw.TextField(null=True)  # absolute path of one frame of the output, once made
    starred = pw.BooleanField(default=False)  # marked by the user (`star`, the page's star)
    note = pw.CharField(max_length=200, null=True)  # the user's one-line note (`note`); judging.MAX_NOTE_CHARS


# The indexes a quiet dashboard tick needs so that its time does not grow with the history: the
# page (newest first), the downloads due and the containers left to remove. Created by migration 4.
RUN_INDEXES = {
    "run_created_at_id": "created_at DESC, id",
    "run_download_status": "download_status",
    "run_container_removed": "container_removed",
}


class Changes(BaseModel):
    """A single row (id 1) counting the changes of run statuses, in the transaction of each:
    a reader keeps what it computed over all runs (counts per status) until the count moves."""

    id = pw.IntegerField(primary_key=True)
    count = pw.BigIntegerField(default=0)


class HostState(BaseModel):
    """Per host: when it was last probed (the cross-process throttle) and how that went."""

    name = pw.CharField(primary_key=True, max_length=100)
    last_probe_at = pw.DoubleField(default=0.0)
    last_ok_at = pw.DoubleField(null=True)
    last_error = pw.TextField(null=True)
    failures = pw.IntegerField(default=0)  # failed contacts in a row
    retry_at = pw.DoubleField(default=0.0)  # no automatic probe before this (back-off after failures)


class DownloadLease(BaseModel):
    """Who downloads a run's files now: the install holding an unexpired lease (renewed while bytes
    arrive; another install takes it over once it expires). Shared by every machine on the database,
    so `expires_at` is set and compared by the database's clock (`database_now`), never a machine's."""

    run_id = pw.CharField(primary_key=True, max_length=40)
    owner = pw.CharField(max_length=64)
    expires_at = pw.DoubleField()


def on_postgres() -> bool:
    """Whether the bound database is PostgreSQL (else SQLite)."""
    return isinstance(database.obj, pw.PostgresqlDatabase)


def database_now() -> pw.SQL:
    """Now by the database server's clock, in seconds since the epoch: the same for every machine
    using the database, whatever their own clocks say."""
    if on_postgres():
        return pw.SQL("EXTRACT(EPOCH FROM statement_timestamp())::float8")
    return pw.SQL("((julianday('now') - 2440587.5) * 86400.0)")


class Notification(BaseModel):
    """The webhook's outbox: a row per run that reached a terminal status, written in the transaction
    of that transition (so exactly one per run), and kept once posted or given up.

    `due_at` is when any process may claim it: the lease of the process posting it now (the one that
    applied the transition claims it as it writes it), or the back-off after a failed post."""

    run_id = pw.CharField(primary_key=True, max_length=40)
    payload = pw.TextField()  # the JSON body to POST
    state = pw.CharField(max_length=10, default="pending", index=True)  # pending | sent | gave_up
    claimed_by = pw.CharField(max_length=100, null=True)  # the process posting it (notify.process_token)
    due_at = pw.DoubleField(default=0.0)
    attempts = pw.IntegerField(default=0)
    last_error = pw.TextField(null=True)
    created_at = pw.DoubleField()
    sent_at = pw.DoubleField(null=True)


class SchemaVersion(BaseModel):
    """A single row (id 1): the migration the database has reached."""

    id = pw.IntegerField(primary_key=True)
    version = pw.IntegerField()


def _create_v1(db: pw.Database) -> None:
    db.create_tables([Prompt, Run, HostState])


# Index i brings a database from version i to version i + 1. Append, never edit;
# each step must be safe to run twice (two processes may open an old database at once).
def _add_columns(db: pw.Database, model: type[pw.Model], *fields: pw.Field) -> None:
    """Add the columns a table lacks (another process may have added them already)."""
    have = {c.name for c in db.get_columns(model._meta.table_name)}
    migrator = SchemaMigrator.from_database(db)
    steps = [migrator.add_column(model._meta.table_name, f.column_name, f) for f in fields if f.column_name not in have]
    if steps:
        migrate_schema(*steps)


def _add_launched_on_v2(db: pw.Database) -> None:
    _add_columns(db, Run, Run.launched_on)


def _add_model_and_progress_v3(db: pw.Database) -> None:
    _add_columns(db, Run, Run.model, Run.progress)


def _add_indexes_and_changes_v4(db: pw.Database) -> None:
    for name, columns in RUN_INDEXES.items():
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {Run._meta.table_name} ({columns})")
    db.create_tables([Changes])
    Changes.insert(id=1, count=0).on_conflict_ignore().execute()


def _add_backoff_and_leases_v5(db: pw.Database) -> None:
    _add_columns(db, HostState, HostState.failures, HostState.retry_at)
    db.create_tables([DownloadLease])


def _add_gpu_queue_and_sweeps_v6(db: pw.Database) -> None:
    _add_columns(db, Run, Run.gpus, Run.queue_position, Run.sweep_id)
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS run_sweep_id ON {Run._meta.table_name} (sweep_id)")


def _add_notifications_v7(db: pw.Database) -> None:
    db.create_tables([Notification])  # IF NOT EXISTS, its index too


def _add_queued_at_v8(db: pw.Database) -> None:
    """A queued run's started_at held when it joined the queue: that is its queued_at (once: the
    second process finds queued_at set)."""
    _add_columns(db, Run, Run.queued_at)
    Run.update(queued_at=Run.started_at, started_at=None).where(
        (Run.status == "queued") & Run.queued_at.is_null() & Run.started_at.is_null(False)).execute()


def _add_metrics_v9(db: pw.Database) -> None:
    """Scores and thumbnails. Runs finished before stay unscored ("none"): `cosmos metrics RUN_ID`
    scores one, so an upgrade does not spend the next ticks scoring the whole history."""
    _add_columns(db, Run, Run.metrics_status, Run.metrics, Run.metrics_state, Run.thumbnail)
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS run_metrics_status ON {Run._meta.table_name} (metrics_status)")


def _add_star_and_note_v10(db: pw.Database) -> None:
    """The user's star and one-line note on a run (issue 20.4). Adds only the columns missing, so it is
    safe in any order with the other migrations and run twice."""
    _add_columns(db, Run, Run.starred, Run.note)
    db.execute_sql(f"CREATE INDEX IF NOT EXISTS run_starred ON {Run._meta.table_name} (starred)")


MIGRATIONS: list[Callable[[pw.Database], None]] = [
    _create_v1, _add_launched_on_v2, _add_model_and_progress_v3, _add_indexes_and_changes_v4,
    _add_backoff_and_leases_v5, _add_gpu_queue_and_sweeps_v6, _add_notifications_v7, _add_queued_at_v8,
    _add_metrics_v9, _add_star_and_note_v10,
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(url: str, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> pw.Database:
    """Bind the models to the database at `url` and bring its schema up to date."""
    db = _open(url, busy_timeout_seconds)
    database.initialize(db)
    _connect_waiting(db, busy_timeout_seconds)
    migrate(db)
    return db


def _connect_waiting(db: pw.Database, seconds: float) -> None:
    """Connect, waiting up to `seconds` for a SQLite file another process is opening: switching a new
    file to WAL answers 'database is locked' at once, without SQLite's busy wait, while another
    connection switches it too."""
    deadline = time.monotonic() + seconds
    pause = 0.01
    while True:
        try:
            db.connect(reuse_if_open=True)
            return
        except pw.OperationalError as exc:
            if not isinstance(db, pw.SqliteDatabase) or "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _open(url: str, busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS) -> pw.Database:
    """The database at `url`, not yet connected; a URL it cannot be is a ValueError saying why."""
    problem = database_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": round(busy_timeout_seconds * 1000)}
        return pw.SqliteDatabase(str(path), pragmas=pragmas, timeout=busy_timeout_seconds)
    parts = urlparse(url)
    return pw.PostgresqlDatabase(
        parts.path.lstrip("/"),
        user=unquote(parts.username or "") or None,
        password=unquote(parts.password or "") or None,
        host=parts.hostname,
        port=parts.port or 5432,
    )


def migrate(db: pw.Database) -> None:
    """Apply every migration the database has not seen yet, each in its own transaction.

    A database that is up to date is only read: opening it takes no write lock, so a command
    that only reads still works while another process holds the write lock."""
    if _schema_version(db) == SCHEMA_VERSION:
        return
    with _one_migrator(db):
        current = _schema_version(db)
        if current is None:
            db.create_tables([SchemaVersion])
            SchemaVersion.insert(id=1, version=0).on_conflict_ignore().execute()
            current = SchemaVersion.get_by_id(1).version
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"the database is at schema version {current}, newer than this program's {SCHEMA_VERSION}: upgrade"
            )
        for version in range(current, SCHEMA_VERSION):
            with _write_transaction(db):
                if SchemaVersion.get_by_id(1).version != version:  # another process applied it meanwhile
                    continue
                MIGRATIONS[version](db)
                SchemaVersion.update(version=version + 1).where(SchemaVersion.version == version).execute()


def _write_transaction(db: pw.Database) -> AbstractContextManager:
    """A transaction that takes SQLite's write lock at its start: two processes migrating a new file at
    once each read the schema first, and a deferred transaction's later upgrade to a writer is refused
    at once ("database is locked", no busy wait) when another reader holds on. PostgreSQL: a plain one."""
    return db.atomic(lock_type="IMMEDIATE") if isinstance(db, pw.SqliteDatabase) else db.atomic()


MIGRATION_LOCK_KEY = 0x636F736D6F73  # "cosmos": the PostgreSQL advisory lock that migrate() holds


@contextmanager
def _one_migrator(db: pw.Database) -> Iterator[None]:
    """One process at a time migrates a PostgreSQL database: there `CREATE TABLE IF NOT EXISTS`
    does not wait for another transaction creating the same table, and one of two processes
    opening a new database at once failed (duplicate key in pg_type). A session advisory lock
    (released when the process dies) makes the second wait and find the tables made. SQLite's
    write lock already serialises each step."""
    if not isinstance(db, pw.PostgresqlDatabase):
        yield
        return
    db.execute_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _schema_version(db: pw.Database) -> int | None:
    """The version the database has reached; None when it has no version row yet."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.get_or_none(SchemaVersion.id == 1)
    return None if row is None else row.version

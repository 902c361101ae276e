"""Copy the whole history (every table of tables.py) from one database into another, empty one:
`python -m cosmos_core db migrate --to postgresql://...` moves a SQLite history to PostgreSQL.

Both databases are brought to the current schema first. The rows go in batches, in one transaction
on the target: a failed copy leaves the target as it was. `tables.database` is one proxy per
process, so each database is opened on its own here and every query names the database it runs
on. `tables.migrate` (whose steps use the models' own database) and the writes run under
`Database.bind_ctx`, which rebinds the model classes for the moment: not for a process that
serves the dashboard at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import peewee as pw

from cosmos_core.masking import mask_url
from cosmos_core.store import tables
from cosmos_core.store.tables import (
    BaseModel,
    Changes,
    DownloadLease,
    Notification,
    Prompt,
    Run,
    SchemaError,
    SchemaVersion,
)
from cosmos_core.words import count

BATCH_PARAMETERS = 30_000  # bound values per INSERT: under SQLite's 32766 (3.32+) and PostgreSQL's 65535
MUST_BE_EMPTY = (Prompt, Run)  # a target that holds any of these already has a history of its own

ProgressListener = Callable[[str, int, int], None]  # (table, rows copied so far, rows in the table)


class CopyError(ValueError):
    """The copy did not happen; the message is one line and names the database."""


def copied_models() -> list[type[BaseModel]]:
    """Every table of tables.py but the schema version, the download leases and the webhook's outbox
    (which belong to the processes on the source now, not to the history: a pending notification
    copied could be posted from both databases), parents before the tables that refer to them."""
    found = [m for m in vars(tables).values() if isinstance(m, type) and issubclass(m, BaseModel)
             and m not in (BaseModel, SchemaVersion, DownloadLease, Notification)]
    return pw.sort_models(found)  # type: ignore[attr-defined]  # peewee's own stubs omit sort_models


def copy_history(source_url: str, target_url: str, on_progress: ProgressListener | None = None) -> dict[str, int]:
    """Copy every row of every table from `source_url` into `target_url`, which must hold no
    prompts and no runs; return the rows copied per table name. Other rows the target holds
    (host state, the change counter its migration made) are replaced by the source's. The target's
    change counter ends one past the larger of the two, so a reader that counted there counts again."""
    if source_url == target_url:
        raise CopyError(f"the source and the target are the same database: {mask_url(target_url)}")
    source = _open_migrated(source_url, "source")
    try:
        target = _open_migrated(target_url, "target")
        try:
            return _copy(source, target, target_url, on_progress)
        finally:
            target.close()
    finally:
        source.close()


def summary(counts: dict[str, int]) -> str:
    """'2 prompt rows, 5 run rows, 1 changes row, 1 hoststate row': the history first."""
    first = [m._meta.table_name for m in MUST_BE_EMPTY]
    ordered = sorted(counts.items(), key=lambda item: first.index(item[0]) if item[0] in first else len(first))
    return ", ".join(_rows(n, table) for table, n in ordered)


def _rows(n: int, table: str) -> str:
    return count(n, f"{table} row")


def _open_migrated(url: str, role: str) -> pw.Database:
    shown = mask_url(url)
    if url.startswith("sqlite:///") and role == "source" and not Path(url.removeprefix("sqlite:///")).is_file():
        raise CopyError(f"no {role} database at {shown}")
    try:
        db = tables._open(url)
    except ValueError as exc:
        raise CopyError(f"{role} database URL {shown} {exc}") from None
    except OSError as exc:
        raise CopyError(f"cannot open the {role} database {shown}: {exc}") from None
    try:
        db.connect()
    except pw.OperationalError as exc:
        raise CopyError(f"cannot connect to the {role} database at {_where(url)}: {_first_line(exc)}") from None
    try:
        with db.bind_ctx([*copied_models(), SchemaVersion]):
            tables.migrate(db)
    except SchemaError as exc:
        db.close()
        raise CopyError(f"the {role} database {shown}: {exc}") from None
    except (pw.PeeweeException, ValueError) as exc:
        db.close()
        raise CopyError(f"cannot bring the {role} database {shown} to the current schema: "
                        f"{_first_line(exc)}") from None
    return db


def _copy(source: pw.Database, target: pw.Database, target_url: str,
          on_progress: ProgressListener | None) -> dict[str, int]:
    tables = copied_models()
    # Bound to the target while writing: a model query takes the dialect of its model's database when
    # it is made (an INSERT made for PostgreSQL asks for RETURNING, which a SQLite target then misreads).
    with target.bind_ctx([*tables, SchemaVersion]), _write_transaction(target, tables), _read_snapshot(source):
        held = {m._meta.table_name: m.select().count(target) for m in MUST_BE_EMPTY}
        if any(held.values()):
            rows = " and ".join(_rows(n, table) for table, n in held.items())
            raise CopyError(f"the target database {mask_url(target_url)} is not empty (it holds {rows}): "
                            f"db migrate copies into an empty database only")
        moved = max(_change_count(target), _change_count(source)) + 1
        for model in reversed(tables):
            model.delete().execute(target)
        counts = {model._meta.table_name: _copy_table(model, source, target, on_progress) for model in tables}
        Changes.update(count=moved).where(Changes.id == 1).execute(target)
    return counts


def _copy_table(model: type[BaseModel], source: pw.Database, target: pw.Database,
                on_progress: ProgressListener | None) -> int:
    table = model._meta.table_name
    fields = model._meta.sorted_fields
    total = model.select().count(source)
    rows = model.select(*fields).order_by(*model._meta.get_primary_keys()).tuples().iterator(source)
    done = 0
    for batch in pw.chunked(rows, max(1, BATCH_PARAMETERS // len(fields))):
        try:
            model.insert_many(batch, fields=fields).as_rowcount().execute(target)
        except (pw.DataError, pw.IntegrityError, ValueError) as exc:  # psycopg2: ValueError for a NUL in text
            raise CopyError(f"cannot copy {table} rows {batch[0][0]!r}..{batch[-1][0]!r} into the target "
                            f"database: {_first_line(exc)}") from None
        done += len(batch)
        if on_progress is not None:
            on_progress(table, done, total)
    return done


@contextmanager
def _write_transaction(db: pw.Database, tables: list[type[BaseModel]]) -> Iterator[None]:
    """One transaction that holds off every other writer of these tables from its first statement,
    so that two copies into one database cannot both find it empty."""
    if isinstance(db, pw.SqliteDatabase):
        with db.atomic("IMMEDIATE"):
            yield
        return
    with db.atomic():
        names = ", ".join(f'"{m._meta.table_name}"' for m in tables)
        db.execute_sql(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")
        yield


@contextmanager
def _read_snapshot(db: pw.Database) -> Iterator[None]:
    """One read transaction, so that every table is read as of one moment (a run never without its
    prompt) even while the dashboard writes: SQLite's WAL keeps the snapshot of the first read;
    PostgreSQL needs REPEATABLE READ for that (READ COMMITTED takes one per statement)."""
    with db.atomic():
        if isinstance(db, pw.PostgresqlDatabase):
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _change_count(db: pw.Database) -> int:
    return Changes.select(Changes.count).where(Changes.id == 1).scalar(db) or 0  # a new query: results are cached


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return url
    return f"{parts.hostname}:{parts.port or 5432} ({mask_url(url)})"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__

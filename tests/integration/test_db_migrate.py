"""`python -m cosmos_core db migrate --to URL`: a SQLite history copied into PostgreSQL (tests/pgkit.py's
real server), through the real CLI; and cosmos_core.store.dbcopy.copy_history itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import peewee as pw
import pytest

from cosmos_core.masking import MASK, mask_url
from cosmos_core.store import dbcopy, tables
from cosmos_core.store.tables import Changes, HostState, Prompt, Run
from tests import pgkit
from tests.hostkit import free_port, make_video
from tests.pgkit import PASSWORD, PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cosmos_core", "--config", str(config), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def write_config(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "cosmos.toml"
    config.write_text(f'[storage]\ndatabase = "{url}"\noutputs_dir = "{root}/outputs"\n')
    return config


def every_column(model: type[tables.BaseModel], n: int, **given: object) -> dict[str, object]:
    """A value for every column of `model` that is not its default and not NULL (all but `given`)."""
    values: dict[str, object] = {}
    for field in model._meta.sorted_fields:
        if isinstance(field, pw.BooleanField):
            value: object = not field.default
        elif isinstance(field, pw.DoubleField):
            value = 1754400000.123456 + n / 3
        elif isinstance(field, pw.BigIntegerField):
            value = 2**40 + 2**62 * (n % 2) + n
        elif isinstance(field, pw.IntegerField):
            value = -(n + 1)
        elif isinstance(field, pw.CharField):
            value = f"{field.name}-{n}-ü"[: field.max_length]
        else:
            value = f'{field.name} {n}: "quoted", \'single\', ünïcödé 🤖\nsecond line\ttab \\ backslash'
        values[field.name] = value
    return {**values, **given}


def table_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every copied table, ordered by primary key, each column as Python reads it."""
    db = tables._open(url)
    try:
        return {m._meta.table_name: list(m.select(*m._meta.sorted_fields).order_by(*m._meta.get_primary_keys())
                                         .tuples().execute(db)) for m in dbcopy.copied_models()}
    finally:
        db.close()


def masked(url: str) -> str:
    return url.replace(quote(PASSWORD, safe=""), MASK)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, str]:
    """A SQLite history: two prompts stored through the CLI; runs, host states and a change count
    with every column set (rows the CLI could only make with a GPU host)."""
    url = f"sqlite:///{tmp_path}/outputs/cosmos.db"
    config = write_config(tmp_path, url)
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    ids = []
    for args in (["a red robot"], ["ein Roboter – 🤖 \"quoted\"", "--name", "robot ü", "--negative", "blurry"]):
        result = cli(config, "prompt", "add", *args, "--video", str(video))
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    db = tables.connect(url)
    Run.create(**every_column(Run, 0, id="rs_full0", prompt=ids[0], status="completed", kind="inference"))
    Run.create(**every_column(Run, 1, id="rs_full1", prompt=ids[1], parent_run_id="rs_full0", kind="upscale"))
    Run.create(id="rs_bare", prompt=ids[1], kind="enhance", host="gpu1", status="pending", created_at=3.25)
    HostState.create(**every_column(HostState, 0, name="gpu1"))
    HostState.create(name="gpu2", last_probe_at=0.5)
    Changes.update(count=7).execute()
    db.close()
    return config, url


def test_a_sqlite_history_moves_to_postgresql_with_every_column_equal(history, postgres_server, tmp_path):
    config, source = history
    target = postgres_server.new_database()
    result = cli(config, "db", "migrate", "--to", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"copied 2 prompt rows, 3 run rows, 1 changes row, 2 hoststate rows to {masked(target)}\n"
    assert f"{MASK}@127.0.0.1" in result.stdout and quote(PASSWORD, safe="") not in result.stdout + result.stderr

    before, after = table_rows(source), table_rows(target)
    assert {table: len(rows) for table, rows in after.items()} == {"changes": 1, "hoststate": 2, "prompt": 2,
                                                                     "run": 3}
    for table in ("prompt", "run", "hoststate"):
        assert after[table] == before[table], table
    full = [row for row in after["run"] if row[0] == "rs_full1"][0]
    assert full.count(None) == 0 and any(type(v) is bool for v in full)  # every column was set, booleans are bool
    assert after["changes"] == [(1, 8)]  # one past the source's 7: a reader that counted on the target counts again

    on_postgres = write_config(tmp_path / "pg", target)  # the product reads the copy
    listed = cli(on_postgres, "prompts", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == json.loads(cli(config, "prompts", "--json").stdout)

    again = cli(config, "db", "migrate", "--to", target)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == (f"error: the target database {masked(target)} is not empty (it holds 2 prompt rows and "
                            f"3 run rows): db migrate copies into an empty database only\n")
    assert table_rows(target) == after


def test_json_prints_the_counts(history, postgres_server):
    config, _source = history
    result = cli(config, "db", "migrate", "--to", postgres_server.new_database(), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"changes": 1, "hoststate": 2, "prompt": 2, "run": 3}


def test_a_database_that_cannot_be_reached_is_named_in_one_line(history, postgres_server):
    config, _source = history
    port = free_port()
    result = cli(config, "db", "migrate", "--to", f"postgresql://cosmos:hunter2@127.0.0.1:{port}/cosmos")
    assert result.returncode == 1 and result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: cannot connect to the target database at 127.0.0.1:{port} "
                                    f"(postgresql://cosmos:****@127.0.0.1:{port}/cosmos): ")
    assert "Connection refused" in result.stderr and "hunter2" not in result.stderr

    wrong = postgres_server.new_database().replace(quote(PASSWORD, safe=""), "hunter2")
    result = cli(config, "db", "migrate", "--to", wrong)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1 and "hunter2" not in result.stderr
    assert f"at 127.0.0.1:{postgres_server.port} " in result.stderr
    assert 'password authentication failed for user "cosmos"' in result.stderr

    result = cli(config, "db", "migrate", "--to", "mysql://root:hunter2@db/cosmos")
    assert result.returncode == 1
    assert result.stderr == ("error: target database URL mysql://root:****@db/cosmos "
                             "must be a sqlite:/// or postgresql:// URL\n")


def test_a_row_postgresql_refuses_leaves_the_target_empty(history, postgres_server):
    """SQLite does not enforce a column's length; PostgreSQL does. One transaction: nothing is left half copied."""
    config, source = history
    db = tables.connect(source)
    Run.update(host="h" * 150).where(Run.id == "rs_bare").execute()
    db.close()
    target = postgres_server.new_database()
    result = cli(config, "db", "migrate", "--to", target)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: cannot copy run rows 'rs_bare'..'rs_full1' into the target database: "
                                    "value too long for type character varying(100)")
    assert {table: len(rows) for table, rows in table_rows(target).items()} == {"changes": 1, "hoststate": 0,
                                                                                 "prompt": 0, "run": 0}
    db = tables.connect(source)
    Run.update(host="gpu1").where(Run.id == "rs_bare").execute()
    db.close()
    assert cli(config, "db", "migrate", "--to", target).returncode == 0


def test_copy_history_goes_in_batches_and_back_again(tmp_path, postgres_server):
    source = f"sqlite:///{tmp_path}/many.db"
    db = tables.connect(source)
    Prompt.create(**every_column(Prompt, 0, id="ps_1"))
    with db.atomic():
        for start in range(0, 2500, 500):
            Run.insert_many([every_column(Run, n, id=f"rs_{n:05}", prompt="ps_1") for n in range(start, start + 500)]
                            ).execute()
    progress: list[tuple[str, int, int]] = []
    target = postgres_server.new_database()

    counts = dbcopy.copy_history(source, target, on_progress=lambda *p: progress.append(p))
    assert counts == {"changes": 1, "hoststate": 0, "prompt": 1, "run": 2500}
    batches = [done for table, done, total in progress if table == "run"]
    per_batch = dbcopy.BATCH_PARAMETERS // len(Run._meta.sorted_fields)  # as many rows as fit its parameters
    assert len(batches) == -(-2500 // per_batch) > 1 and batches[-1] == 2500 and batches == sorted(batches)
    assert all(total == 2500 for table, _done, total in progress if table == "run")
    assert Run._meta.database is tables.database and Run.select().count() == 2500  # the models are bound as before
    db.close()

    back = f"sqlite:///{tmp_path}/back.db"
    assert dbcopy.copy_history(target, back) == counts
    original, copied = table_rows(source), table_rows(back)
    assert copied["run"] == original["run"] and copied["prompt"] == original["prompt"]
    with pytest.raises(dbcopy.CopyError, match=r"^the target database sqlite:///.*/back\.db is not empty "):
        dbcopy.copy_history(source, back)
    with pytest.raises(dbcopy.CopyError, match=r"^no source database at sqlite:///.*/missing\.db$"):
        dbcopy.copy_history(f"sqlite:///{tmp_path}/missing.db", back)


def test_rows_written_during_the_copy_are_left_out_whole(database_url, postgres_server, tmp_path):
    """Every table is read as of one moment: a run written meanwhile never arrives without its prompt."""
    source = database_url
    target = postgres_server.new_database() if source.startswith("sqlite") else f"sqlite:///{tmp_path}/copy.db"
    db = tables.connect(source)
    Prompt.create(**every_column(Prompt, 0, id="ps_1"))
    Run.create(**every_column(Run, 0, id="rs_1", prompt="ps_1"))
    writer = tables._open(source)
    writer.connect()

    def write_meanwhile(table: str, _done: int, _total: int) -> None:
        if table == "prompt":  # the prompts are copied, the runs not yet (as_rowcount: the models are bound
            # to the target now, and an INSERT made for the other dialect misreads its own result)
            Prompt.insert(**every_column(Prompt, 1, id="ps_2")).as_rowcount().execute(writer)
            Run.insert(**every_column(Run, 1, id="rs_2", prompt="ps_2")).as_rowcount().execute(writer)

    counts = dbcopy.copy_history(source, target, on_progress=write_meanwhile)
    assert (counts["prompt"], counts["run"]) == (1, 1) and Run.select().count() == 2
    copied = table_rows(target)
    assert [r[0] for r in copied["prompt"]] == ["ps_1"] and [r[0] for r in copied["run"]] == ["rs_1"]
    writer.close()
    db.close()


def test_passwords_are_masked():
    assert mask_url("postgresql://u:p%40ss:w@h:5432/db") == "postgresql://u:****@h:5432/db"
    assert mask_url("postgresql://u@h/db?password=x&sslmode=require") == "postgresql://u@h/db?password=****&sslmode=require"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_the_server_stops_without_leaving_a_process():
    server = PostgresServer().start()
    pid, root = server.pid, server.root
    assert pid is not None and root is not None and server.start_seconds < 10
    db = tables._open(server.new_database("kept_open"))
    db.connect()  # an open client does not hold the shutdown up
    family = [pid, *pgkit._children(pid)]
    assert len(family) > 3  # the postmaster, its checkpointer, writers, and our client's backend
    server.stop()
    assert not any(pgkit._alive(p) for p in family) and not root.exists()
    with pytest.raises(pw.OperationalError):
        db.execute_sql("SELECT 1")
    db.close()

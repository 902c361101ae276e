"""A private PostgreSQL 15 server for the tests, and the fixtures that serve it.

`PostgresServer` runs initdb and pg_ctl as the `postgres` user on a data dir and a unix socket
dir under its own temp dir, listening on 127.0.0.1 at a free high port, with fsync off.
`new_database()` creates a fresh database owned by a role that logs in with a password over TCP
(so the product's `postgresql://user:password@host:port/name` path is the one exercised).
`stop()` stops the postmaster by the PID in its postmaster.pid and leaves nothing running.

tests/conftest.py offers its fixtures to every test: `postgres_server` (one server for the session)
and `database_url` (SQLite, then PostgreSQL; the PostgreSQL case is marked `postgres`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import psycopg2
import pytest

from tests.hostkit import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
ROLE = "cosmos"
PASSWORD = "s3cret:p@ss/w%rd"  # characters a URL must percent-encode: exercises the product's unquoting
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "logging_collector": "off",
}


class PostgresError(RuntimeError):
    """The server did not start or stop; the message carries the end of its log."""


class PostgresServer:
    """One PostgreSQL server under a private temp dir; a context manager (start on enter, stop on exit)."""

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        self.bin_dir = bin_dir
        self.root: Path | None = None
        self.port = 0
        self.pid: int | None = None
        self.start_seconds = 0.0  # how long start() took

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        if self.pid is not None:
            return self
        began = time.monotonic()
        if not (self.bin_dir / "initdb").exists():
            raise PostgresError(f"PostgreSQL 15 is not installed ({self.bin_dir}/initdb missing): run tests/ci.sh")
        self.root = Path(tempfile.mkdtemp(prefix="pgkit-"))
        shutil.chown(self.root, OS_USER, OS_USER)
        os.chmod(self.root, 0o700)
        atexit.register(self.stop)
        try:
            self._as_postgres("initdb", "-D", str(self.data_dir), "-U", OS_USER, "-E", "UTF8", "--locale=C",
                              "--no-sync", "--no-instructions", "--auth-local=trust", "--auth-host=scram-sha-256")
            with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.writelines(f"{key} = {value}\n" for key, value in SETTINGS.items())
                conf.write(f"unix_socket_directories = '{self.root}'\n")
            for _attempt in range(3):  # the free port may be taken between free_port() and the bind
                self.port = free_port()
                log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
                self._as_postgres("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-W",
                                  "-o", f"-p {self.port}", "start")
                if self._wait_until_ready(log_start):
                    break
            else:
                raise PostgresError(f"PostgreSQL did not start: {self.log_tail()}")
            with self.admin() as conn, conn.cursor() as cur:
                cur.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD %s", (PASSWORD,))
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Fast shutdown of the postmaster by its own PID (clients are disconnected), then remove the dir."""
        atexit.unregister(self.stop)
        pid = self.pid or self._pid_from_file()
        if pid is not None:
            children = _children(pid)
            _signal(pid, signal.SIGINT)  # fast shutdown: roll back and disconnect clients, then exit
            if not _wait_gone([pid], STOP_TIMEOUT):
                for stuck in [pid, *children, *_children(pid)]:
                    _signal(stuck, signal.SIGKILL)
                _wait_gone([pid, *children], STOP_TIMEOUT)
            if not _wait_gone(children, STOP_TIMEOUT):  # a postmaster waits for its children; this is a guard
                raise PostgresError(f"PostgreSQL processes {children} outlived their postmaster {pid}")
        self.pid = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------

    def new_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database owned by the password role; return its URL."""
        name = name or f"cosmos_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://{ROLE}:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/{name}"

    def admin(self, dbname: str = "postgres") -> _Admin:
        """An autocommit superuser connection over the unix socket (trust), for setting up and inspecting."""
        return _Admin(psycopg2.connect(host=str(self.root), port=self.port, user=OS_USER, dbname=dbname))

    def connections(self, name: str) -> int:
        """Client connections to database `name` open now (this one not counted)."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,))
            return int(cur.fetchone()[0])

    # -- internals -------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "the server is not started"
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "the server is not started"
        return self.root / "server.log"

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"

    def _as_postgres(self, program: str, *args: str) -> None:
        result = subprocess.run(["runuser", "-u", OS_USER, "--", str(self.bin_dir / program), *args],
                                capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            raise PostgresError(f"{program} failed ({result.returncode}): {result.stderr.strip()} "
                                f"{self.log_tail() if program == 'pg_ctl' else ''}".strip())

    def _wait_until_ready(self, log_start: int) -> bool:
        """Poll until the server answers a query (True) or its postmaster is gone (False); deadline-bound."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.pid = self.pid or self._pid_from_file()
            if self.pid is not None and not _alive(self.pid):
                self.pid = None
                return False  # exited: most likely the port was taken
            if self.pid is None and b"FATAL:" in self._log_since(log_start):
                return False  # exited before we saw its PID
            if self.pid is not None:
                try:
                    with self.admin() as conn, conn.cursor() as cur:
                        cur.execute("SELECT 1")
                    return True
                except psycopg2.OperationalError:
                    pass
            time.sleep(0.02)  # polling interval, bounded by the deadline
        raise PostgresError(f"PostgreSQL did not answer within {START_TIMEOUT:g} s: {self.log_tail()}")

    def _log_since(self, offset: int) -> bytes:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return b""

    def _pid_from_file(self) -> int | None:
        if self.root is None:
            return None
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None


class _Admin:
    """A psycopg2 connection in autocommit mode that a `with` closes (psycopg2's own only ends a transaction)."""

    def __init__(self, conn) -> None:
        conn.autocommit = True
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _children(parent: int) -> list[int]:
    """PIDs whose parent is `parent`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- pytest fixtures (tests/conftest.py offers them to every test) ----------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, started on first use; each test takes a database
    of its own (`new_database`)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database's URL: a SQLite file in tmp_path, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cosmos.db"
    return request.getfixturevalue("postgres_server").new_database()

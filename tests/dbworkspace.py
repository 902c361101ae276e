"""Workspaces on one shared database (a SQLite file or a PostgreSQL URL), one per install.

An `Install` is a Workspace whose CLI processes get their own `XDG_STATE_HOME`, so each install
(each "machine") has its own random install id; two installs built on the same config share the
database and the outputs dir, as machines sharing outputs storage would. `SharedDatabase` reads
and writes that database with plain SQL (sqlite3 or psycopg2) from the test process, outside the
product and its models, so that checks and injected faults do not go through the code under test.

Plain Python, no pytest: the fixtures live in the test modules.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

import psycopg2

from cosmos_core.store.tables import DownloadLease, Run
from tests.hostkit import TestHost
from tests.workspace import REPO, Sync, Workspace, write_config

LEASES = DownloadLease._meta.table_name
RUNS = Run._meta.table_name


@dataclass
class Install(Workspace):
    """One install (one machine's): the shared config, run with its own XDG_STATE_HOME."""

    state_home: Path = Path()

    def start_cli(self, *args: str, output: int = subprocess.PIPE) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cosmos_core", "--config", str(self.config), *args],
            cwd=self.root, stdout=output, stderr=output, text=True, env=self.env(),
        )  # fmt: skip

    def start_python(self, code: str, *args: str) -> subprocess.Popen[str]:
        """`python -c CODE ARGS` as a process of this install, stdin, stdout and stderr piped."""
        return subprocess.Popen([sys.executable, "-c", code, *args], cwd=self.root, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env())

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO), **self.cli_env()}

    def cli_env(self) -> dict[str, str]:
        return {"XDG_STATE_HOME": str(self.state_home)}

    @property
    def install_id(self) -> str:
        """The id this install's processes made on first use (cosmos_core/install.py)."""
        return (self.state_home / "cosmos" / "install-id").read_text().strip()

    def run_dir(self, run_id: str) -> Path:
        return self.root / "outputs" / f"run_{run_id}"


def installs(root: Path, host: TestHost, database: str, names: Sequence[str] = ("a", "b"),
             **sync: Unpack[Sync]) -> list[Install]:
    """Installs sharing one config (database and outputs dir) in `root`, each its own state dir."""
    config = write_config(root, host, database=database, **sync)
    return [Install(root, config, host, state_home=root / f"machine-{name}" / "state") for name in names]


class SharedDatabase:
    """Plain SQL on the database at a product URL; `%s` placeholders on both backends."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, *params: object) -> list[tuple]:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
            try:
                with conn:
                    return conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def leases(self) -> list[tuple[str, str, float]]:
        """Every download lease: (run id, owner, expires_at)."""
        return [(r, o, float(e)) for r, o, e in
                self.rows(f"SELECT run_id, owner, expires_at FROM {LEASES} ORDER BY run_id")]

    def expire_lease(self, run_id: str) -> None:
        """Injected fault: the lease's holder stopped renewing it long ago."""
        self.rows(f"UPDATE {LEASES} SET expires_at = 0 WHERE run_id = %s", run_id)

    def download_status(self, run_id: str) -> str:
        return self.rows(f"SELECT download_status FROM {RUNS} WHERE id = %s", run_id)[0][0]

    # PostgreSQL only: holding a row lock orders the transactions that queue behind it.

    @contextmanager
    def run_row_locked(self, run_id: str) -> Iterator[None]:
        """Holds the run's row lock (SELECT ... FOR UPDATE) until the block ends."""
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT id FROM {RUNS} WHERE id = %s FOR UPDATE", (run_id,))
            yield
            conn.commit()
        finally:
            conn.close()

    def lock_waiters(self) -> int:
        """Sessions of this database waiting for a lock now."""
        return self.rows("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND wait_event_type = 'Lock'")[0][0]

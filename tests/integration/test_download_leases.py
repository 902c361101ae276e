"""Downloads shared between installs (issue 19, item 5): a download's state is written only by the
install holding the run's unexpired lease, checked in the same statement as the write, and a lease's
times are the database's clock, not the machine's.

Each test runs on a SQLite file and on a fresh database of the session's private PostgreSQL server
(`database_url`). Two installs are two LazySync instances of this process, each with its own install
id and RunStore, on the one database; a stale process is one of them calling what its download calls
next when it wakes. Leases are read and expired with plain SQL (tests/dbworkspace.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.config import SyncConfig
from cosmos_core.executors import FileFacts
from cosmos_core.status import StatusChecker
from cosmos_core.store import tables
from cosmos_core.store.queries import RunStore
from cosmos_core.sync import LEASE_SECONDS, LazySync, LeaseLost, _ProgressWriter
from tests.dbworkspace import LEASES, SharedDatabase

SYNC = SyncConfig(min_interval_seconds=0, lost_after_seconds=120, download_budget_seconds=3)
RUN = "rs_leased"
FACTS = {"outputs/output.mp4": FileFacts(10, "0" * 64)}
HOURS = 3600.0


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[SharedDatabase]:
    """The database with one completed run whose 10-byte output is still to download."""
    connection = tables.connect(database_url)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00")
    repo = RunStore(tmp_path / "outputs", SYNC)
    repo.create_run(RUN, repo.create_prompt("leased", video).id, "inference", "gpu1", {})
    repo.update_run(RUN, status="completed", download_status="pending",
                    remote_files=json.dumps({name: f.stored() for name, f in FACTS.items()}))
    yield SharedDatabase(database_url)
    connection.close()


def install(tmp_path: Path, owner: str, skew: float = 0.0) -> LazySync:
    """One install's sync; `skew`: how far its machine's clock is off, in seconds."""
    repo = RunStore(tmp_path / "outputs", SYNC, clock=lambda: time.time() + skew)
    sync = LazySync(repo, StatusChecker({}, SYNC.lost_after_seconds), SYNC, repo.clock)
    sync.owner = owner
    return sync


def take(sync: LazySync) -> bool:
    """The lease as the sync takes it before downloading."""
    return sync.repo.take_lease(RUN, sync.owner, LEASE_SECONDS)


def download_fields(db: SharedDatabase) -> tuple:
    return db.rows("SELECT download_status, download_error, download_attempts, bytes_done, output_path "
                   "FROM run WHERE id = %s", RUN)[0]


STALE_WRITES = {
    "progress": lambda sync, run: _ProgressWriter(sync, RUN, None, []).progress(5, 10),
    "file done": lambda sync, run: _ProgressWriter(sync, RUN, None, []).file_done(Path("output.mp4")),
    "pending": lambda sync, run: sync._failed(run, "the link dropped", final=False),
    "failed": lambda sync, run: sync._failed(run, "output.mp4 not found", final=True),
    "done": lambda sync, run: sync._finished(run, FACTS),
}


@pytest.mark.parametrize("write", STALE_WRITES)
def test_a_stale_install_that_wakes_after_a_takeover_writes_nothing(db, tmp_path, write):
    """a took the lease and stalled past it; b took the download over and finished it (`done`, lease
    released). When a wakes, its next write of the download (progress, a verified file, a retry, a
    failure, its own `done`) raises LeaseLost and changes nothing: the row stays b's `done`."""
    a, b = install(tmp_path, "in_a"), install(tmp_path, "in_b")
    assert take(a)
    stale = a.repo.stored_run(RUN)  # what a read before it stalled
    db.expire_lease(RUN)
    assert take(b)
    b._finished(b.repo.stored_run(RUN), FACTS)
    finished = download_fields(db)
    assert finished[0] == "done" and db.leases() == []

    with pytest.raises(LeaseLost):
        STALE_WRITES[write](a, stale)
    assert download_fields(db) == finished
    assert db.leases() == []


def test_a_stale_install_does_not_write_over_the_download_another_holds(db, tmp_path):
    """b holds the lease it took over and is downloading: a's late failure changes neither the run's
    download state nor b's lease."""
    a, b = install(tmp_path, "in_a"), install(tmp_path, "in_b")
    assert take(a)
    stale = a.repo.stored_run(RUN)
    db.expire_lease(RUN)
    assert take(b)
    _ProgressWriter(b, RUN, None, []).progress(4, 10)
    before, lease = download_fields(db), db.leases()
    with pytest.raises(LeaseLost):
        a._failed(stale, "the link dropped", final=False)
    assert download_fields(db) == before and before[:4] == ("pending", None, 0, 4)
    assert db.leases() == lease and lease[0][1] == "in_b"


@pytest.mark.parametrize("skew", [3 * HOURS, -3 * HOURS], ids=["ahead", "behind"])
@pytest.mark.parametrize("skewed", ["holder", "taker"])
def test_lease_expiry_follows_the_database_clock(db, tmp_path, skew, skewed):
    """One install's machine clock is hours ahead or behind. Its lease lasts LEASE_SECONDS of the
    database's clock (not expired at once for the other install, not held for hours), and an install
    with a skewed clock neither takes over a live lease nor misses an expired one."""
    a = install(tmp_path, "in_a", skew if skewed == "holder" else 0.0)
    b = install(tmp_path, "in_b", skew if skewed == "taker" else 0.0)
    assert take(a)
    ((_, owner, expires_at),) = db.leases()
    assert owner == "in_a" and abs(expires_at - (time.time() + LEASE_SECONDS)) < 30
    assert not take(b)
    db.rows(f"UPDATE {LEASES} SET expires_at = %s WHERE run_id = %s", time.time() - 1, RUN)  # just expired
    assert take(b)
    assert db.leases()[0][1] == "in_b"

"""DataRepository: the store's reads of runs, each first letting the lazy sync move unfinished runs
forward (`initialize_status_checker` turns that on); the seed tool's names, kept.

Every query lives in `store.queries.RunStore`, which this extends; the sync (`sync.LazySync`) reads
and writes through those plain methods, so the store never calls up into the sync.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from pathlib import Path

from cosmos_core.config import SyncConfig
from cosmos_core.lifecycle import ACTIVE, DOWNLOADABLE, LAUNCHING
from cosmos_core.scoring import score_due
from cosmos_core.status import StatusChecker
from cosmos_core.store import run_table
from cosmos_core.store.metric_rows import PENDING
from cosmos_core.store.queries import RunEndHook, RunStore
from cosmos_core.store.tables import Run
from cosmos_core.sync import LazySync, ProgressListener, SyncReport


class Refresh(enum.Enum):
    """How much a read syncs first: NONE, AUTO (throttled), FORCE (probe now)."""

    NONE = "none"
    AUTO = "auto"
    FORCE = "force"


class DataRepository(RunStore):
    def __init__(self, outputs_dir: Path, sync: SyncConfig, clock: Callable[[], float] = time.time,
                 notifier: RunEndHook | None = None) -> None:
        super().__init__(outputs_dir, sync, clock, notifier)
        self.syncer: LazySync | None = None
        self.last_report = SyncReport()
        self.sorted_pages = run_table.SortedPages()

    def initialize_status_checker(self, checker: StatusChecker) -> None:
        """Turn on lazy sync: from now on, reads first move unfinished runs forward."""
        self.syncer = LazySync(self, checker, self.sync_config, self.clock)

    def get_run(self, run_id: str, refresh: Refresh = Refresh.AUTO) -> Run:
        run = self.find_run(run_id)
        if refresh is not Refresh.NONE and _needs_sync(run):
            self.sync(refresh, deadline=self._budget_deadline())
            run = self.stored_run(run_id)
        return run

    def list_runs(self, status: str | None = None, refresh: Refresh = Refresh.AUTO, *, kind: str | None = None,
                  host: str | None = None, search: str | None = None, limit: int | None = None,
                  offset: int = 0, sync_hosts: set[str] | None = None, sweep: str | None = None,
                  starred: bool = False, note: str | None = None, sort: str | None = None,
                  ascending: bool = False) -> list[Run]:
        """Runs newest first (or by `sort`, a run_table.SORT_KEYS name), filtered before the sync and re-read
        after it, so a run that left the filtered status during the sync shows as it now is. `search`
        matches the run id, the prompt's name, its text or its note, or is the run's sweep id; `starred`,
        `note`: see `run_ids`; `sync_hosts`: the hosts the sync may reach (None: all)."""
        def ids_now() -> list[str]:
            return self.run_ids(status, kind=kind, host=host, search=search, limit=limit, offset=offset, sweep=sweep,
                                starred=starred, note=note, order=run_table.order_by(sort, ascending) if sort else ())

        if sort in run_table.STABLE_SORTS:
            key = (status, kind, host, search, sweep, starred, note, sort, ascending, limit, offset)
            ids = self.sorted_pages.get(key, ids_now)
        else:
            ids = ids_now()
        if refresh is not Refresh.NONE:
            self.sync(refresh, deadline=self._budget_deadline(), hosts=sync_hosts)
        return self.runs_in_order(ids)

    def sync(self, refresh: Refresh = Refresh.AUTO, deadline: float | None = None,
             on_progress: ProgressListener | None = None, hosts: set[str] | None = None) -> SyncReport:
        """Probe hosts with unfinished runs, apply what changed, download what is due, then score
        what was verified (cosmos_core/scoring.py) with the time left.

        `deadline` (time.monotonic) bounds the time spent downloading and scoring; None does both
        to the end. `on_progress(run_id, bytes_done, bytes_total)` hears of downloads.
        """
        if self.syncer is None or refresh is Refresh.NONE:
            return SyncReport()
        self.last_report = self.syncer.sync(refresh is Refresh.FORCE, deadline, on_progress, hosts)
        self.last_report.scored = score_due(self, deadline)
        return self.last_report

    def _budget_deadline(self) -> float:
        return time.monotonic() + self.sync_config.download_budget_seconds


def _needs_sync(run: Run) -> bool:
    return (run.status in LAUNCHING + ACTIVE or run.download_status in DOWNLOADABLE
            or run.metrics_status == PENDING)

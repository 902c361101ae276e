"""The queries of judging runs: the user's star and note, earlier runs' durations for time-left
estimates, and GPU time per host (store/queries.py holds the rest of the run queries)."""

from __future__ import annotations

import json

from peewee import SQL, fn

from cosmos_core.lifecycle import ACTIVE, RunStatus
from cosmos_core.store.tables import Changes, Run

HISTORY_RUNS = 200  # an estimate looks at this many of the latest completed runs of a host and model


def set_starred(run_id: str, starred: bool) -> bool:
    """Star or unstar a run; False when there is no such run."""
    return Run.update(starred=starred).where(Run.id == run_id).execute() == 1 or _exists(run_id)


def set_note(run_id: str, note: str | None) -> bool:
    """The run's note (None clears it); False when there is no such run."""
    return Run.update(note=note).where(Run.id == run_id).execute() == 1 or _exists(run_id)


def _exists(run_id: str) -> bool:
    return Run.select().where(Run.id == run_id).exists()


def durations(host: str, model: str, steps: int | None, kind: str = "inference",
              limit: int = HISTORY_RUNS) -> list[float]:
    """Started-to-completed seconds of the latest completed runs of `kind` and `model` on `host` whose
    `num_steps` parameter is `steps` (None: they have none, as upscales and enhancements; one indexed
    query, the steps being in the params' JSON)."""
    rows = (Run.select(Run.params, Run.started_at, Run.completed_at)
            .where((Run.host == host) & (Run.status == RunStatus.COMPLETED.value) & (Run.kind == kind)
                   & (Run.model == model) & Run.started_at.is_null(False) & Run.completed_at.is_null(False))
            .order_by(Run.completed_at.desc()).limit(limit))
    return [float(done) - float(began) for params, began, done in rows.tuples().iterator()
            if json.loads(params).get("num_steps") == steps]


def status_changes() -> int:
    """How many times a run's status changed (the Changes row): what was read over runs' statuses
    holds until it moves."""
    return int(Changes.get_by_id(1).count)


class GpuTotals:
    """GPU seconds per host: the finished runs' sum, recomputed only once a status changed (the one
    Changes row counts those), plus the few runs still holding GPUs, counted up to now."""

    def __init__(self) -> None:
        self._finished: tuple[int, dict[tuple[str, int | None], float]] | None = None

    def by_host(self, num_gpus: dict[str, int], now: float) -> dict[str, float]:
        """Host -> GPU seconds; `num_gpus`: the GPUs a run of each host takes when it reported none."""
        totals: dict[str, float] = {}
        for (host, held), seconds in self._finished_sums().items():
            totals[host] = totals.get(host, 0.0) + seconds * (held or num_gpus.get(host, 1))
        running = Run.select(Run.host, Run.started_at, Run.gpus).where(
            Run.status.in_(ACTIVE) & Run.started_at.is_null(False))
        for host, started_at, gpus in running.tuples().iterator():
            held = _count(gpus) or num_gpus.get(host, 1)
            totals[host] = totals.get(host, 0.0) + max(0.0, now - float(started_at)) * held
        return totals

    def _finished_sums(self) -> dict[tuple[str, int | None], float]:
        """(host, GPUs held or None when unreported) -> seconds held, of runs that ended."""
        changes = status_changes()
        if self._finished is None or self._finished[0] != changes:
            held = SQL("(CASE WHEN gpus IS NULL OR gpus = '' THEN 0 "
                       "ELSE LENGTH(gpus) - LENGTH(REPLACE(gpus, ',', '')) + 1 END)")
            rows = (Run.select(Run.host, held.alias("held"), fn.SUM(Run.completed_at - Run.started_at).alias("s"))
                    .where(Run.started_at.is_null(False) & Run.completed_at.is_null(False))
                    .group_by(Run.host, held).tuples())
            self._finished = (changes, {(host, int(n) or None): float(s or 0.0) for host, n, s in rows.iterator()})
        return self._finished[1]


def _count(gpus: str | None) -> int:
    return len([p for p in (gpus or "").split(",") if p.strip()])


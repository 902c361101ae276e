"""The hosts' state in the database: how the last contact went, the cross-process probe throttle, and
the back-off of a host that fails (computed in SQL, so processes recording at once lose no failure)."""

from __future__ import annotations

from collections.abc import Callable

from peewee import Case, Field

from cosmos_core.config import SyncConfig
from cosmos_core.store.tables import HostState

MAX_BACKOFF_SECONDS = 30.0


class HostStore:
    """A part of RunStore (its base class): the hosts' rows."""

    clock: Callable[[], float]
    sync_config: SyncConfig

    def host_states(self) -> dict[str, HostState]:
        return {h.name: h for h in HostState.select()}

    def host_state(self, host: str) -> HostState | None:
        return HostState.get_or_none(HostState.name == host)

    def claim_probe(self, host: str, now: float, force: bool) -> bool:
        """The cross-process throttle: at most one probe per host per interval, and none while the
        host backs off after failures (unless forced)."""
        HostState.insert(name=host).on_conflict_ignore().execute()
        query = HostState.update(last_probe_at=now).where(HostState.name == host)
        if not force:
            query = query.where((HostState.last_probe_at <= now - self.sync_config.min_interval_seconds)
                                & (HostState.retry_at <= now))
        return query.execute() == 1

    def record_host(self, host: str, error: str | None, timed_out: bool = False) -> None:
        """How the last contact with `host` went (None: it answered; `timed_out`: it did not answer in
        time); failures in a row back off. One UPDATE counts a failure and sets the back-off from the
        new count, so processes recording at once lose no failure."""
        HostState.insert(name=host).on_conflict_ignore().execute()
        now = self.clock()
        if error is None:
            fields: dict[str, object] = {"last_error": None, "last_ok_at": now, "failures": 0, "retry_at": 0.0}
        else:
            start = backoff_start(self.sync_config, timed_out)
            fields = {"last_error": error, "failures": HostState.failures + 1,
                      "retry_at": now + _backoff_after(HostState.failures, start)}
        HostState.update(**fields).where(HostState.name == host).execute()


def backoff_start(sync: SyncConfig, timed_out: bool) -> float:
    """The first back-off of a host that failed: the probe interval; after a contact that timed out
    (it cost a whole probe timeout), at least the probe timeout."""
    return max(sync.min_interval_seconds, sync.probe_timeout_seconds) if timed_out else sync.min_interval_seconds


def backoff_seconds(failures: int, start: float) -> float:
    """How long a host that failed `failures` times in a row is left alone by automatic probes:
    doubling from `start` (at least 1 s), at most MAX_BACKOFF_SECONDS or `start` if that is longer."""
    first = max(start, 1.0)
    return min(max(MAX_BACKOFF_SECONDS, first), first * 2 ** (failures - 1))


def _backoff_after(failures_before: Field, start: float) -> Case | float:
    """`backoff_seconds` of one failure more than `failures_before` holds, as SQL: a CASE listing its
    values while they grow, then its cap (the cap alone when it never grows)."""
    n, steps = 1, []
    while backoff_seconds(n + 1, start) > backoff_seconds(n, start):
        steps.append((n - 1, backoff_seconds(n, start)))
        n += 1
    return Case(failures_before, steps, backoff_seconds(n, start)) if steps else backoff_seconds(n, start)

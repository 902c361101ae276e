"""Where a run stands now, asked of its host rather than read as last seen, and moving a queued run to
the front of its host's GPU queue: for the answers that must not be stale (`run --json`, `queue front`,
`delete`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from cosmos_core.executors import Executor, SubmitError
from cosmos_core.lifecycle import RunStatus
from cosmos_core.repository import DataRepository, Refresh
from cosmos_core.ssh.host import RemoteError
from cosmos_core.store.tables import Run
from cosmos_core.upstream import gpu_queue


class QueueError(Exception):
    """A queue operation that was refused or failed; the message says why."""


class Standing:
    def __init__(self, repo: DataRepository, stored: Callable[[str], Run], executor_of: Callable[[Run], Executor],
                 probe_timeout: float) -> None:
        self.repo = repo
        self.stored = stored  # the run as stored (the caller's error when there is none)
        self.executor_of = executor_of
        self.probe_timeout = probe_timeout

    def now(self, run_id: str) -> Run:
        """The run as its host says it is now: an unfinished run's host is probed first (no downloads)."""
        run = self.stored(run_id)
        if RunStatus(run.status).is_terminal():
            return run
        self.repo.sync(Refresh.FORCE, deadline=time.monotonic(), hosts={run.host})
        return self.stored(run_id)

    def placed(self, run_id: str) -> Run:
        """The run as it stands now. A run waiting in the host's GPU queue has no place until its script
        takes its ticket, a moment after its container starts: its host is probed again until the run
        has a place or has left the queue, for at most about the probe timeout, and never past a failed
        probe."""
        run = self.now(run_id)
        deadline = time.monotonic() + self.probe_timeout
        while (self.executor_of(run).has_gpu_queue and run.status == RunStatus.QUEUED.value
               and run.queue_position is None and run.host not in self.repo.last_report.unreachable
               and time.monotonic() < deadline):
            run = self.now(run_id)
        return run

    def move_to_front(self, run_id: str) -> Run:
        """A queued run goes ahead of every other waiting on its host; judged by where the run stands now
        (a run stored as queued may hold its GPUs already, or not have its ticket yet)."""
        run = _only_queued(self.placed(run_id))
        try:
            self.executor_of(run).move_to_front(run.id, gpu_queue.front_ticket(time.time(), run.id))
        except SubmitError as exc:  # its ticket is gone: most likely it has just left the queue
            _only_queued(self.now(run_id))
            raise QueueError(str(exc)) from exc
        except RemoteError as exc:
            raise QueueError(f"cannot move run {run_id} to the front: {exc}") from exc
        return self.now(run_id)


def _only_queued(run: Run) -> Run:
    if run.status != RunStatus.QUEUED.value:
        raise QueueError(f"run {run.id} is {run.status}; only a queued run can move to the front")
    return run

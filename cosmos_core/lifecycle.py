"""A run's statuses and its download's, in lifecycle order, and a transition between them (pure, imports
nothing of ours).

Light on purpose: the command line's grammar offers the statuses without loading the database or SSH.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    QUEUED = "queued"  # its job waits for GPUs (a Slurm PENDING job)
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        return min(_ORDER.index(self), _ORDER.index(RunStatus.COMPLETED))

    def is_terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

    def can_move_to(self, other: RunStatus) -> bool:
        """Status only moves forward, and a terminal status never changes."""
        return not self.is_terminal() and other.rank > self.rank


_ORDER = list(RunStatus)


class DownloadStatus(enum.StrEnum):
    NONE = "none"
    PENDING = "pending"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"


ACTIVE = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]  # their job exists on the host
LAUNCHING = [RunStatus.PENDING.value, RunStatus.UPLOADING.value]  # a process is starting them
TERMINAL = [s.value for s in RunStatus if s.is_terminal()]
DOWNLOADABLE = [DownloadStatus.PENDING.value, DownloadStatus.DOWNLOADING.value]
SETTLED = [DownloadStatus.NONE.value, DownloadStatus.DONE.value, DownloadStatus.FAILED.value]

STATUSES = [s.value for s in RunStatus]  # in lifecycle order


def entered_at(status: RunStatus) -> str:
    """The run's field that records when its job was first found `status` (queued or running): when it
    joined its host's queue, or when it got its GPUs and began."""
    return "queued_at" if status is RunStatus.QUEUED else "started_at"


@dataclass(frozen=True)
class Transition:
    """Fields to write, applied only if the run still has status `expect`."""

    run_id: str
    expect: RunStatus
    fields: Mapping[str, object] = field(default_factory=dict)

    @property
    def status(self) -> RunStatus:
        return RunStatus(str(self.fields.get("status", self.expect)))

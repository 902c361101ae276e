"""The executor seam: what starts and watches runs, behind one small interface.

An executor submits a run's plan, answers for many runs in one round trip with
engine-neutral `Observation`s (which the one pure `status.decide()` consumes),
cancels, reads logs and fetches files. Docker over SSH, Docker on this machine
and Slurm are its implementations; nothing outside this package builds a docker
or Slurm command line.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cosmos_core.launcher import LaunchPlan
    from cosmos_core.ssh.host import Result
    from cosmos_core.ssh.transfer import DownloadRecorder
    from cosmos_core.start_steps import StartProgress

UploadProgress = Callable[[str, int, int], None]  # file name, bytes sent, bytes total


class ProbeError(Exception):
    """The host answered, but not with a usable payload (docker or Slurm unusable, say)."""


class SubmitError(Exception):
    """A run could not be started; the message says why."""


class JobState(enum.StrEnum):
    """Where an engine says a run's job is."""

    QUEUED = "queued"  # waiting for resources (Slurm PENDING); `Observation.reason` says for what
    RUNNING = "running"
    FINISHED = "finished"  # ended; `exit_code` is its own
    GONE = "gone"  # the engine knows no such job (never started, removed, forgotten)
    UNKNOWN = "unknown"  # the engine did not say in time (a slow docker daemon): never taken for gone


@dataclass(frozen=True)
class ProbeTarget:
    run_id: str
    run_dir: str  # absolute on the host
    files: tuple[str, ...]  # relative to run_dir: stat them once the run has finished
    handle: str | None = None  # the engine's id for the run's job (a Slurm job id), if it has one


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str | None = None  # None: not asked yet (the download hashes on the host alongside the transfer)
    symlink_to: str | None = None  # the file is a symlink to this: never followed, never downloaded

    def stored(self) -> list:
        """As the database keeps it (JSON)."""
        return [self.size, self.sha256, self.symlink_to]

    def refusal(self, name: str) -> str | None:
        """Why this file cannot be downloaded, if it cannot."""
        if self.symlink_to is None:
            return None
        return f"{name} is a symlink to {self.symlink_to}, not a file the run wrote"


@dataclass(frozen=True)
class Observation:
    """What one probe saw of one run, in words no engine owns."""

    state: JobState
    exit_code: int | None = None  # the job's own exit code, once FINISHED
    reason: str = ""  # the engine's words: why it ended so (OOM, time limit), waits or is gone
    subject: str = "Container"  # what exited, in messages: "Container exited with code N"
    marker_exit: int | None = None  # the last completion marker in the log
    files: Mapping[str, FileFacts] = field(default_factory=dict)
    stage_line: str = ""  # while running: the latest log line naming a stage
    counter_line: str = ""  # while running: the latest progress-bar line
    reason_lines: tuple[str, ...] = ()  # once finished: lines that may say why it failed
    handle: str | None = None  # the engine's id for the job (container name, Slurm job id)
    gpus: str | None = None  # the GPU slots a running job holds ("0,1"), when the host has a queue
    queue_position: int | None = None  # a queued job's place in the host's queue (1: next)


@dataclass(frozen=True)
class ProbeReport:
    observations: Mapping[str, Observation]
    cleaned: tuple[str, ...] = ()  # run ids whose job the engine no longer keeps (removed on request)
    slow: str = ""  # what the engine was too slow to answer within the probe, for the user ("" when nothing)


class Shell(Protocol):
    """A machine the executors run commands on: `ssh.host.Host` over SSH, `local.LocalShell` here."""

    @property
    def label(self) -> str:
        """For messages: "host gpu1 (user@address:port)", or "this machine"."""

    def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> Result:
        """Run one shell command (its arguments already quoted)."""

    def close(self) -> None: ...


class Executor(Protocol):
    """Starts and watches runs on one configured host."""

    @property
    def label(self) -> str:
        """For messages: "host gpu1 (user@address:port)"."""

    shell: Shell  # where its commands run (the host's `hosts check` runs there too)
    first_state: JobState  # where a job is right after `submit`: RUNNING, or QUEUED where an engine queues
    has_gpu_queue: bool  # runs wait in our GPU queue on the host (False: the engine queues them, as Slurm does)

    def submit(self, plan: LaunchPlan, progress: StartProgress | None, cancelled: Callable[[], bool]) -> str:
        """Put the run's files in place and start it; its handle (container or job id). Raises
        SubmitError or RemoteError after undoing what it started. Each step is told to `progress` as
        it begins; `cancelled()` is asked between steps: when it says yes, nothing is started."""

    def probe(self, targets: Sequence[ProbeTarget], cleanup: Sequence[str] = ()) -> ProbeReport:
        """One round trip: an observation for every target; also forgets the jobs of the
        settled runs in `cleanup` (run ids)."""

    def cancel(self, run_id: str, handle: str | None) -> None:
        """Stop the run's job; its script still writes its marker."""

    def cleanup(self, run_ids: Sequence[str]) -> None:
        """Best effort: forget these runs' jobs (a failed start leaves nothing behind)."""

    def read_log(self, run_dir: str, tail: int | None) -> str:
        """The run's log on the host (its last `tail` lines)."""

    def file_facts(self, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]:
        """Size (or symlink target) of the files that exist among `names`, asked now."""

    def download(self, run_dir: str, files: Mapping[str, FileFacts], local_dir: Path,
                 recorder: DownloadRecorder, deadline: float | None) -> bool:
        """Bring `files` (relative to run_dir) into `local_dir`, verified; False when the deadline
        (time.monotonic) came first."""

    def pause_queue(self, paused: bool) -> None:
        """Hold (or release) the runs waiting in the host's GPU queue."""

    def move_to_front(self, run_id: str, ticket: str) -> None:
        """Give a queued run a ticket ahead of the others."""

    def delete_run_dir(self, run_dir: str) -> None:
        """Remove a finished run's directory (`<checkout>/cosmos_runs/<run_id>`, nothing else) on the host.
        Raises RemoteError when the host cannot be reached, SubmitError when the removal fails."""

    def close(self) -> None: ...

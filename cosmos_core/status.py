"""Run status: the pure `decide()` rule and `StatusChecker` (the statuses are in lifecycle.py).

`decide` turns what an executor saw into the next state of a run; it does no I/O,
knows no engine (Docker, Slurm) and is tested for every branch. `StatusChecker`
is the I/O edge: it asks each host's executor about many runs in one round trip
and downloads outputs, reporting progress through a `DownloadRecorder` it is
handed; it never writes the database itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cosmos_core.executors import Executor, FileFacts, JobState, Observation, ProbeReport, ProbeTarget
from cosmos_core.lifecycle import DownloadStatus, RunStatus, Transition, entered_at
from cosmos_core.ssh.transfer import DownloadRecorder
from cosmos_core.upstream.loglines import failure_reason, progress_text
from cosmos_core.upstream.markers import parse_completion_marker as _parse_marker
from cosmos_core.upstream.models import DEFAULT_MODEL, model

log = logging.getLogger(__name__)


OUTPUT_FILE = {"inference": "output.mp4", "upscale": "output_4k.mp4", "enhance": "batch_results.json"}
LOG_FILE = "run.log"


def output_file(kind: str) -> str:
    """The file a run of this kind writes, relative to its remote run dir."""
    return f"outputs/{OUTPUT_FILE[kind]}"


def remote_files(kind: str, status: RunStatus) -> tuple[str, ...]:
    """The files to download for a finished run, relative to its remote run dir."""
    if status is RunStatus.COMPLETED:
        return (output_file(kind), LOG_FILE)
    return (LOG_FILE,)


@dataclass(frozen=True)
class RunFacts:
    """The part of a stored run that `decide` needs."""

    id: str
    kind: str
    status: RunStatus
    created_at: float
    missing_since: float | None = None
    model: str = DEFAULT_MODEL
    progress: str | None = None
    gpus: str | None = None
    queue_position: int | None = None


LAUNCH_DIED = "The process starting this run stopped before its job started"


def exit_reason(code: int) -> str:
    """What an exit code says by itself: the signal that ended the job."""
    return {137: "killed (SIGKILL)", 143: "terminated (SIGTERM)", 130: "interrupted (SIGINT)"}.get(code, "")


def failure_message(subject: str, code: int, engine_reason: str = "", log_reason: str | None = None) -> str:
    """`Container exited with code N`, then why: what the engine says (an OOM kill, a time limit) or
    the signal, and what the log says."""
    reasons = [r for r in (engine_reason or exit_reason(code), log_reason) if r]
    return f"{subject} exited with code {code}" + (f": {'; '.join(reasons)}" if reasons else "")


def decide(run: RunFacts, seen: Observation, now: float, lost_after: float) -> Transition | None:
    """The next state of a run, from one observation; None when nothing changes.

    The outcome is decided only once the job is no longer running; then the last
    marker gives the exit code, else the job's own exit code. A job that is gone
    with no marker fails after `lost_after` seconds.

    A pending or uploading run must only be passed in when the process that was
    launching it is known to be gone: then its job, if any, decides.

    A job the engine did not answer for in time (UNKNOWN) decides nothing: it is
    not gone, and whatever its log says, it may still be running.
    """
    if run.status.is_terminal() or seen.state is JobState.UNKNOWN:
        return None
    if run.status in (RunStatus.PENDING, RunStatus.UPLOADING):  # an orphaned launch
        if seen.state is JobState.GONE:
            return _finish(run, now, RunStatus.FAILED, None, LAUNCH_DIED, seen)
        status = RunStatus.QUEUED if seen.state is JobState.QUEUED else RunStatus.RUNNING
        return Transition(run.id, run.status, {"status": status.value, entered_at(status): now,
                                               "container_id": seen.handle})
    if seen.state is JobState.QUEUED:
        return _waiting(run, seen)
    if seen.state is JobState.RUNNING:
        return _still_running(run, seen, now)
    log_reason = failure_reason(model(run.model), seen.reason_lines)
    marker, code = seen.marker_exit, seen.exit_code
    if code is not None and code != 0 and marker is not None and marker != code:
        marker = None  # the script exits with its marker's code: a different marker was echoed, then it died
    if marker == 0:
        output = output_file(run.kind)
        refused = seen.files[output].refusal(output) if output in seen.files else None
        if output in seen.files and not refused:
            return _finish(run, now, RunStatus.COMPLETED, 0, None, seen)
        error = f"{seen.subject} exited with code 0 but {refused or f'wrote no {output}'}" + (
            f": {log_reason}" if log_reason else "")
        return _finish(run, now, RunStatus.FAILED, 0, error, seen)
    if marker is not None:
        error = failure_message(seen.subject, marker, seen.reason, log_reason)
        return _finish(run, now, RunStatus.FAILED, marker, error, seen)
    if seen.state is JobState.FINISHED and code is not None:  # no marker: the script never finished
        error = (failure_message(seen.subject, code, seen.reason, log_reason) if code or seen.reason
                 else f"{seen.subject} exited with code 0 but its log has no completion marker")
        return _finish(run, now, RunStatus.FAILED, code, error, seen)
    return _missing(run, now, lost_after, seen)


def _missing(run: RunFacts, now: float, lost_after: float, seen: Observation) -> Transition | None:
    """First note when the run went missing; fail it once that is `lost_after` seconds ago."""
    if run.missing_since is None:
        return Transition(run.id, run.status, {"missing_since": now})
    if now - run.missing_since >= lost_after:
        what = seen.reason or f"{seen.subject} is gone"
        error = f"{what} and its log has no completion marker (lost for {lost_after:g} s)"
        return _finish(run, now, RunStatus.FAILED, None, error, seen)
    return None


def _waiting(run: RunFacts, seen: Observation) -> Transition | None:
    """A queued job: note what it waits for and its place (a running run never goes back to queued)."""
    if run.status is not RunStatus.QUEUED:
        return None
    fields: dict[str, object] = {}
    progress = f"waiting for {seen.reason}" if seen.reason else "waiting for GPUs"
    if progress != run.progress:
        fields["progress"] = progress
    if seen.queue_position != run.queue_position:
        fields["queue_position"] = seen.queue_position
    if run.missing_since is not None:
        fields["missing_since"] = None
    return Transition(run.id, run.status, fields) if fields else None


def _still_running(run: RunFacts, seen: Observation, now: float) -> Transition | None:
    """Start a queued run, forget that the job was missing, and note a new stage or progress figure."""
    fields: dict[str, object] = {}
    if run.status is RunStatus.QUEUED:
        fields |= {"status": RunStatus.RUNNING.value, "started_at": now}
    if run.queue_position is not None:
        fields["queue_position"] = None
    if seen.gpus is not None and seen.gpus != run.gpus:
        fields["gpus"] = seen.gpus
    if run.missing_since is not None:
        fields["missing_since"] = None
    progress = progress_text(model(run.model), seen.stage_line, seen.counter_line)
    if progress != run.progress and (progress is not None or run.status is RunStatus.QUEUED):
        fields["progress"] = progress
    return Transition(run.id, run.status, fields) if fields else None


def _finish(run: RunFacts, now: float, status: RunStatus, code: int | None, error: str | None,
            seen: Observation) -> Transition:
    wanted = remote_files(run.kind, status)
    facts = {name: f.stored() for name, f in seen.files.items() if name in wanted}
    return Transition(run.id, run.status, {
        "status": status.value, "exit_code": code, "error": error, "completed_at": now,
        "missing_since": None, "progress": None, "queue_position": None,
        "download_status": DownloadStatus.PENDING.value,
        "download_error": None, "remote_files": facts,
    })  # fmt: skip


class StatusChecker:
    """Asks hosts' executors about runs and fetches their outputs; the sync applies the results."""

    def __init__(self, executors: Mapping[str, Executor], lost_after_seconds: float) -> None:
        self.executors = executors
        self.lost_after_seconds = lost_after_seconds

    @staticmethod
    def parse_completion_marker(log_text: str) -> int | None:
        return _parse_marker(log_text)

    def probe(self, host_name: str, targets: Sequence[ProbeTarget], cleanup: Sequence[str] = ()) -> ProbeReport:
        """One remote round trip for all `targets` on one host."""
        began = time.monotonic()
        report = self.executors[host_name].probe(targets, cleanup)
        log.debug("probed host %s: %d run(s), %d to clean up, in %.2f s", host_name, len(targets), len(cleanup),
                  time.monotonic() - began)
        return report

    def check_container_status(self, host_name: str, target: ProbeTarget) -> Observation:
        """What the host's engine says of one run's job."""
        return self.probe(host_name, [target]).observations[target.run_id]

    def check_run_completion(self, host_name: str, target: ProbeTarget) -> int | None:
        """The exit code in one run's completion marker, or None if it has none yet."""
        return self.check_container_status(host_name, target).marker_exit

    def sync_run_status(self, run: RunFacts, host_name: str, target: ProbeTarget, now: float) -> Transition | None:
        """The transition for one run (the batched path is `probe` + `decide`)."""
        return decide(run, self.check_container_status(host_name, target), now, self.lost_after_seconds)

    def download_outputs(self, host_name: str, run_dir: str, files: Mapping[str, FileFacts],
                         local_dir: Path, recorder: DownloadRecorder, deadline: float | None) -> bool:
        """Download `files` (remote name relative to run_dir -> facts) into `local_dir`.

        True when every file is in place and verified; False when the deadline
        came first (the partial files stay and the next call resumes them).
        """
        log.debug("download from host %s: %s (%d bytes) into %s", host_name, ", ".join(files),
                  sum(f.size for f in files.values()), local_dir)
        began = time.monotonic()
        complete = self.executors[host_name].download(run_dir, files, local_dir, recorder, deadline)
        log.debug("download from host %s %s after %.2f s", host_name, "finished" if complete else "paused",
                  time.monotonic() - began)
        return complete

    def file_facts(self, host_name: str, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]:
        """Size of the files that exist among `names` (relative to `run_dir`), asked now."""
        return self.executors[host_name].file_facts(run_dir, names)

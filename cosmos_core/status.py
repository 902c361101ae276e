"""Run status: the ordered enum, the pure `decide()` rule, and `StatusChecker`.

`decide` turns what a probe saw into the next state of a run; it does no I/O
and is tested for every branch. `StatusChecker` is the I/O edge: it asks each
host about many runs in one round trip and downloads outputs, reporting
progress through a `DownloadRecorder` it is handed; it never writes the
database itself.
"""

from __future__ import annotations

import enum
import re
import shlex
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import openssh
from .loglines import failure_reason, progress_text
from .markers import parse_completion_marker as _parse_marker
from .probe import (
    FileFacts,
    Observation,
    ProbeReport,
    ProbeTarget,
    build_facts_script,
    build_probe_script,
    parse_facts_output,
    parse_probe_output,
)
from .remote import Host, HostUnreachable, Started
from .transfer import DownloadError, DownloadRecorder, Fetch, LocalWriteError, download_file, sftp_fetch
from .transfer_models import DEFAULT_MODEL, model


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
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


@dataclass(frozen=True)
class Transition:
    """Fields to write, applied only if the run still has status `expect`."""

    run_id: str
    expect: RunStatus
    fields: Mapping[str, object] = field(default_factory=dict)

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.fields.get("status", self.expect))


NEVER_STARTED = "created"  # `docker run -d` starts what it creates: a container left here failed to start
LAUNCH_DIED = "The process starting this run stopped before its container started"
NO_MARKER = "Container exited with code 0 but its log has no completion marker"


def exit_reason(code: int, oom_killed: bool = False) -> str:
    if oom_killed:
        return "out of memory (OOMKilled)"
    return {137: "killed (SIGKILL)", 143: "terminated (SIGTERM)", 130: "interrupted (SIGINT)"}.get(code, "")


def failure_message(code: int, oom_killed: bool = False, log_reason: str | None = None) -> str:
    """`Container exited with code N`, then why: the signal or OOM kill, and what the log says."""
    reasons = [r for r in (exit_reason(code, oom_killed), log_reason) if r]
    return f"Container exited with code {code}" + (f": {'; '.join(reasons)}" if reasons else "")


def decide(run: RunFacts, seen: Observation, now: float, lost_after: float) -> Transition | None:
    """The next state of a run, from one observation; None when nothing changes.

    The outcome is decided only once the container is no longer running; then the
    last marker gives the exit code, else the container's own exit code. A container
    that is gone with no marker fails after `lost_after` seconds.

    A pending or uploading run must only be passed in when the process that was
    launching it is known to be gone: then its container, if any, decides.
    """
    if run.status.is_terminal():
        return None
    container = seen.container
    if run.status is not RunStatus.RUNNING:  # an orphaned launch
        if container is None:
            return _finish(run, now, RunStatus.FAILED, None, LAUNCH_DIED, seen)
        return Transition(run.id, run.status, {"status": RunStatus.RUNNING.value, "started_at": now,
                                               "container_id": container.name})
    if container is not None and container.status == NEVER_STARTED:
        if seen.marker_exit is None:
            return _missing(run, now, lost_after, seen, "Container was created but never started")
        container = None  # it runs nothing: the marker decides, as for a container that is gone
    if container is not None and not container.stopped:
        return _still_running(run, seen)
    log_reason = failure_reason(model(run.model), seen.reason_lines)
    marker = seen.marker_exit
    if container is not None and container.exit_code != 0 and marker is not None and marker != container.exit_code:
        marker = None  # the script exits with its marker's code: a different marker was echoed, then it died
    if marker == 0:
        output = output_file(run.kind)
        refused = seen.files[output].refusal(output) if output in seen.files else None
        if output in seen.files and not refused:
            return _finish(run, now, RunStatus.COMPLETED, 0, None, seen)
        error = f"Container exited with code 0 but {refused or f'wrote no {output}'}" + (
            f": {log_reason}" if log_reason else "")
        return _finish(run, now, RunStatus.FAILED, 0, error, seen)
    if marker is not None:
        oom = bool(container and container.oom_killed)
        return _finish(run, now, RunStatus.FAILED, marker, failure_message(marker, oom, log_reason), seen)
    if container is not None:  # stopped without a marker: the script never finished
        code = container.exit_code
        error = failure_message(code, container.oom_killed, log_reason) if code else NO_MARKER
        return _finish(run, now, RunStatus.FAILED, code, error, seen)
    return _missing(run, now, lost_after, seen, "Container is gone and its log has no completion marker")


def _missing(run: RunFacts, now: float, lost_after: float, seen: Observation, what: str) -> Transition | None:
    """First note when the run went missing; fail it once that is `lost_after` seconds ago."""
    if run.missing_since is None:
        return Transition(run.id, run.status, {"missing_since": now})
    if now - run.missing_since >= lost_after:
        return _finish(run, now, RunStatus.FAILED, None, f"{what} (lost for {lost_after:g} s)", seen)
    return None


def _still_running(run: RunFacts, seen: Observation) -> Transition | None:
    """Forget that the container was missing, and note a new stage or progress figure."""
    fields: dict[str, object] = {}
    if run.missing_since is not None:
        fields["missing_since"] = None
    progress = progress_text(model(run.model), seen.stage_line, seen.counter_line)
    if progress is not None and progress != run.progress:
        fields["progress"] = progress
    return Transition(run.id, run.status, fields) if fields else None


def _finish(run: RunFacts, now: float, status: RunStatus, code: int | None, error: str | None,
            seen: Observation) -> Transition:
    wanted = remote_files(run.kind, status)
    facts = {name: f.stored() for name, f in seen.files.items() if name in wanted}
    return Transition(run.id, run.status, {
        "status": status.value, "exit_code": code, "error": error, "completed_at": now,
        "missing_since": None, "progress": None, "download_status": DownloadStatus.PENDING.value,
        "download_error": None, "remote_files": facts,
    })  # fmt: skip


class StatusChecker:
    """Asks hosts about runs and fetches their outputs; the repository applies the results."""

    def __init__(self, hosts: Mapping[str, Host], lost_after_seconds: float, probe_timeout_seconds: float) -> None:
        self.hosts = hosts
        self.lost_after_seconds = lost_after_seconds
        self.probe_timeout_seconds = probe_timeout_seconds  # a host answers a probe or a read within this
        self.paramiko_only: set[str] = set()  # hosts whose downloads OpenSSH's sftp could not start
        self.hashes = _RemoteHashes()

    @staticmethod
    def parse_completion_marker(log_text: str) -> int | None:
        return _parse_marker(log_text)

    def probe(self, host_name: str, targets: Sequence[ProbeTarget], remove: Sequence[str] = ()) -> ProbeReport:
        """One remote round trip for all `targets` on one host."""
        host = self.hosts[host_name]
        script = build_probe_script(host.config.docker, targets, remove)
        result = host.run("bash -s", stdin=script, timeout=self.probe_timeout_seconds)
        return parse_probe_output(result.stdout, targets)

    def check_container_status(self, host_name: str, target: ProbeTarget):
        """The container state of one run (None when it has no container)."""
        return self.probe(host_name, [target]).observations[target.run_id].container

    def check_run_completion(self, host_name: str, target: ProbeTarget) -> int | None:
        """The exit code in one run's completion marker, or None if it has none yet."""
        return self.probe(host_name, [target]).observations[target.run_id].marker_exit

    def sync_run_status(self, run: RunFacts, host_name: str, target: ProbeTarget, now: float) -> Transition | None:
        """The transition for one run (the batched path is `probe` + `decide`)."""
        seen = self.probe(host_name, [target]).observations[run.id]
        return decide(run, seen, now, self.lost_after_seconds)

    def download_outputs(self, host_name: str, run_dir: str, files: Mapping[str, FileFacts],
                         local_dir: Path, recorder: DownloadRecorder, deadline: float | None) -> bool:
        """Download `files` (remote name relative to run_dir -> facts) into `local_dir`.

        True when every file is in place and verified; False when the deadline
        came first (the partial files stay and the next call resumes them).
        """
        host = self.hosts[host_name]
        done_before = 0
        total = sum(f.size for f in files.values())
        for name, facts in files.items():
            local = local_dir / name  # outputs/<file> stays under outputs/, run.log beside it
            if recorder.is_verified(local) and local.is_file() and local.stat().st_size == facts.size:
                recorder.progress(done_before + facts.size, total)  # checked by an earlier turn: not hashed again
            else:
                remote = f"{run_dir}/{name}"
                self._refuse_symlink(host, remote, name)
                progress = (lambda n, base=done_before: recorder.progress(base + n, total))
                if not self._download_file(host, remote, local, facts, progress, deadline):
                    return False
                recorder.file_done(local)
            done_before += facts.size
        return True

    def _refuse_symlink(self, host: Host, remote: str, name: str) -> None:
        """The file may have become a symlink since the probe saw it: a symlink is never followed (it
        may lead out of the run's dir)."""
        with host.sftp_session(f"checking {name}", timeout=self.probe_timeout_seconds) as sftp:
            if stat.S_ISLNK(sftp.lstat(remote).st_mode or 0):
                raise DownloadError(FileFacts(0, symlink_to=sftp.readlink(remote)).refusal(name))

    def _download_file(self, host: Host, remote: str, local: Path, facts: FileFacts,
                       progress: Callable[[int], None], deadline: float | None) -> bool:
        """One file: a big one, in a long turn (`sync`, `retry`), through OpenSSH's sftp when this
        process can use it for the host, else over paramiko's connection, already open (a new sftp
        process costs a handshake and a login on the host: too much for the dashboard's short turns).
        OpenSSH failing where paramiko then works (say, a key file it finds too open) makes this
        process use paramiko for the host from then on."""
        known = facts.sha256
        if known is None:
            self.hashes.start(host, remote)
        remote_sha256 = (lambda: known) if known else (lambda: self.hashes.result(host, remote))
        long_turn = deadline is None or deadline - time.monotonic() >= openssh.MIN_TURN_SECONDS
        big = facts.size >= openssh.MIN_BYTES and long_turn
        if big and host.config.name not in self.paramiko_only and openssh.available():
            fetch = _openssh_fetch(host, remote, facts.size, progress, deadline)
            try:
                return download_file(fetch, remote, local, facts.size, remote_sha256, progress, streams=False)
            except _UseParamiko:
                pass
        with host.sftp_session(f"downloading {remote.rsplit('/', 1)[-1]}", timeout=self.probe_timeout_seconds) as sftp:
            fetch = sftp_fetch(sftp, remote, facts.size, progress, deadline)
            complete = download_file(fetch, remote, local, facts.size, remote_sha256, progress)
        if big and openssh.available():
            self.paramiko_only.add(host.config.name)  # paramiko worked where OpenSSH did not
        return complete

    def file_facts(self, host_name: str, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]:
        """Size and sha256 of the files that exist among `names` (relative to `run_dir`), asked now."""
        result = self.hosts[host_name].run("bash -s", stdin=build_facts_script(run_dir, names))
        return parse_facts_output(result.stdout)



class _UseParamiko(Exception):
    """OpenSSH's sftp failed before any byte arrived: paramiko tries instead."""


def _openssh_fetch(host: Host, remote: str, size: int, progress: Callable[[int], None],
                   deadline: float | None) -> Fetch:
    def fetch(part: Path, offset: int, digest: object, lock: int) -> bool:
        try:
            return openssh.fetch(host.config, remote, part, size, progress, deadline, host.connect_timeout, lock)
        except openssh.OpenSshFailed as exc:
            if str(part) in str(exc):  # sftp names the local file only when writing it failed
                raise LocalWriteError(part, str(exc).rsplit(": ", 1)[-1]) from exc
            if openssh.size_of(part) > offset:
                raise HostUnreachable(f"{host.label}: connection lost while downloading {remote}: {exc}") from exc
            raise _UseParamiko(str(exc)) from exc

    return fetch


class _RemoteHashes:
    """The sha256 of files on hosts, computed there while the transfers run (neither waits for the
    other). One hash per file per process: a turn that ends before its file is whole leaves the
    hash running for a later turn instead of starting another."""

    def __init__(self) -> None:
        self.running: dict[tuple[str, str], Started] = {}

    def start(self, host: Host, path: str) -> None:
        if (host.config.name, path) not in self.running:
            self.running[host.config.name, path] = host.start(f"sha256sum -- {shlex.quote(path)}")

    def result(self, host: Host, path: str) -> str:
        if (host.config.name, path) not in self.running:
            self.start(host, path)
        result = self.running.pop((host.config.name, path)).wait()
        digest = result.stdout.split(" ", 1)[0]
        if not result.ok or not re.fullmatch(r"[0-9a-f]{64}", digest):
            detail = (result.stderr.strip() or result.stdout.strip() or f"exit {result.exit_code}").splitlines()[0]
            raise DownloadError(f"cannot hash {path} on the host: {detail}")
        return digest

"""The lazy sync: what moves runs forward whenever anyone looks.

One sync probes every host with unfinished runs at once, each in one round trip
through its executor (joined before the sync returns, so it takes about the
time of the slowest host), decides every run with the pure `decide()`, applies
the transitions with compare-and-set in one transaction, then downloads what is
due. The database holds everything that must hold across processes and machines:
the probe throttle and back-off per host, and the download leases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cosmos_core.config import SyncConfig
from cosmos_core.executors import FileFacts, ProbeError, ProbeReport, ProbeTarget
from cosmos_core.install import install_id
from cosmos_core.lifecycle import DOWNLOADABLE, LAUNCHING, TERMINAL, DownloadStatus, RunStatus
from cosmos_core.metrics.plan import wants_scores
from cosmos_core.ssh.host import CommandTimeout, NoAnswer, RemoteError
from cosmos_core.ssh.transfer import DownloadError, LocalWriteError
from cosmos_core.status import OUTPUT_FILE, RunFacts, StatusChecker, decide, remote_files
from cosmos_core.store.metric_rows import PENDING
from cosmos_core.store.queries import RunStore
from cosmos_core.store.tables import Run

MAX_DOWNLOAD_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 0.5
LEASE_SECONDS = 60  # a download lease not renewed for this long (its process died) is taken over

ProgressListener = Callable[[str, int, int], None]  # run id, bytes done, bytes total


@dataclass
class SyncReport:
    probed: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> reason
    slow: dict[str, str] = field(default_factory=dict)  # host -> what its engine was too slow to answer
    transitions: int = 0
    downloads_done: int = 0
    scored: int = 0  # runs whose scoring ended (cosmos_core/scoring.py)


class LazySync:
    """Moves unfinished runs forward; the repository does every read and write for it."""

    def __init__(self, repo: RunStore, checker: StatusChecker, config: SyncConfig,
                 clock: Callable[[], float]) -> None:
        self.repo = repo
        self.checker = checker
        self.config = config
        self.clock = clock
        self.owner = install_id()

    def sync(self, force: bool, deadline: float | None, on_progress: ProgressListener | None,
             hosts: set[str] | None = None) -> SyncReport:
        """`hosts`: sync only these (None: all)."""
        report = SyncReport()
        with ExitStack() as held:
            # A launch from this install whose lock we can take is orphaned: its process died.
            wanted = [run for run in self.repo.runs_to_probe() if hosts is None or run.host in hosts]
            runs = [run for run in wanted if run.status not in LAUNCHING
                    or (run.launched_on == self.owner and held.enter_context(self.repo.run_lock(run.id)))]
            self._probe_hosts(_by_host(runs), force, report)
        self.repo.deliver_notifications()  # of the transitions just committed, before any download
        self._download_due(deadline, report, on_progress, hosts, force)
        return report

    # -- probing -------------------------------------------------------------

    def _probe_hosts(self, runs_by_host: dict[str, list[Run]], force: bool, report: SyncReport) -> None:
        """Probe the hosts concurrently (network only, in threads joined here); the database is read
        and written on this thread alone."""
        asked: dict[str, tuple[list[Run], list[ProbeTarget], list[str]]] = {}
        for host, runs in runs_by_host.items():
            question = self._question(host, runs, force, report)
            if question is not None:
                asked[host] = question
        if not asked:
            return
        with ThreadPoolExecutor(max_workers=len(asked), thread_name_prefix="probe") as pool:
            answers = {host: pool.submit(self.checker.probe, host, targets, cleanup)
                       for host, (_, targets, cleanup) in asked.items()}
        for host, answer in answers.items():
            try:
                result = answer.result()
            except (RemoteError, ProbeError) as exc:
                report.unreachable[host] = str(exc)
                self.repo.record_host(host, str(exc), timed_out=isinstance(exc, (CommandTimeout, NoAnswer)))
                continue
            self.repo.record_host(host, None)  # it answered, even if its docker was slow: no back-off
            report.probed.append(host)
            if result.slow:
                report.slow[host] = result.slow
            self._apply(asked[host][0], result, report)

    def _question(self, host: str, runs: list[Run], force: bool,
                  report: SyncReport) -> tuple[list[Run], list[ProbeTarget], list[str]] | None:
        """What to ask `host`, if it is to be asked now: (active runs, their targets, runs to clean up)."""
        if host not in self.checker.executors:
            report.unreachable[host] = not_configured(host)
            return None
        active = [r for r in runs if r.status not in TERMINAL]
        state = self.repo.host_state(host)
        last_error = state.last_error if state else None
        if not active and not force and last_error:
            return None  # only clean-up to do on a host that was down: wait for a forced sync or a new run
        if not self.repo.claim_probe(host, self.clock(), force):
            if last_error:
                report.unreachable[host] = last_error  # what the last probe, by any process, found
            return None
        cleanup = [r.id for r in runs if r.status in TERMINAL]
        targets = [ProbeTarget(r.id, _run_dir(r), remote_files(r.kind, RunStatus.COMPLETED), r.container_id)
                   for r in active]
        return active, targets, cleanup

    def _apply(self, active: list[Run], result: ProbeReport, report: SyncReport) -> None:
        now = self.clock()
        changes = [decide(_facts(run), result.observations[run.id], now, self.config.lost_after_seconds)
                   for run in active]
        report.transitions += self.repo.apply_transitions([c for c in changes if c is not None])
        self.repo.mark_cleaned(result.cleaned)

    # -- downloads -----------------------------------------------------------

    def _download_due(self, deadline: float | None, report: SyncReport, on_progress: ProgressListener | None,
                      hosts: set[str] | None, force: bool) -> None:
        for run in self.repo.downloads_due():
            if hosts is not None and run.host not in hosts:
                continue
            if run.host not in self.checker.executors:
                report.unreachable[run.host] = not_configured(run.host)
                continue
            if run.host in report.unreachable and run.host not in report.probed:
                continue  # one failed contact per host per sync is enough
            if self._backing_off(run.host, report) and not force:
                continue  # a host that failed waits out its back-off
            if deadline is not None and time.monotonic() >= deadline:
                continue  # the turn is over (the loop goes on only to name the hosts last found down)
            if not self.repo.take_lease(run.id, self.owner, LEASE_SECONDS):
                continue  # another install is downloading it
            with self.repo.run_lock(run.id) as owned:  # and among this install's processes, the lock file
                if owned:
                    with suppress(LeaseLost):  # lost midway: the install that took it over goes on
                        self._download(self.repo.stored_run(run.id), deadline, report, on_progress)

    def _backing_off(self, host: str, report: SyncReport) -> bool:
        """Whether the host's last contact failed (then noted as unreachable, as last found) and its
        back-off has not run out."""
        state = self.repo.host_state(host)
        if state is None or not state.last_error:
            return False
        report.unreachable.setdefault(host, state.last_error)
        return state.retry_at > self.clock()

    def _unreachable(self, run: Run, exc: Exception, report: SyncReport) -> None:
        """A download could not reach its host: counted as an attempt, and the host backs off."""
        report.unreachable[run.host] = str(exc)
        self.repo.record_host(run.host, str(exc))
        self._failed(run, f"download from {run.host} failed: {exc}", final=False)

    def _download(self, run: Run, deadline: float | None, report: SyncReport,
                  on_progress: ProgressListener | None) -> None:
        """Download what the run needs, as far as the deadline lets it."""
        if run.download_status not in DOWNLOADABLE:
            self.repo.release_lease(run.id, self.owner)
            return  # another process finished it before we got the lock
        facts = self._facts_of_files(run, report)
        if facts is None:
            return
        refused = download_refusal(facts, remote_files(run.kind, RunStatus(run.status)),
                                   run.status == RunStatus.COMPLETED.value, run.host)
        if refused:
            self._failed(run, refused, final=True)
            return
        self.write(run.id, download_status=DownloadStatus.DOWNLOADING.value,
                   bytes_total=sum(f.size for f in facts.values()))
        writer = _ProgressWriter(self, run.id, on_progress, verified=json.loads(run.files))
        try:
            done = self.checker.download_outputs(run.host, _run_dir(run), facts, self.repo.local_dir(run.id),
                                                 writer, deadline)
        except LocalWriteError as exc:
            self._failed(run, str(exc), final=False)
            return
        except (RemoteError, OSError, DownloadError) as exc:
            if writer.advanced and not isinstance(exc, DownloadError):  # failures count in a row: bytes
                run.download_attempts = 0  # arrived before this one (and were kept, unlike a bad file's)
            if isinstance(exc, DownloadError):  # the file is not what the host said: ask again next time
                self.write(run.id, remote_files="{}")
            if isinstance(exc, RemoteError):
                self._unreachable(run, exc, report)
            else:
                self._failed(run, f"download from {run.host} failed: {exc}", final=False)
            return
        finally:
            with suppress(LeaseLost):
                writer.flush()  # what arrived so far, also when the budget or the link ended this turn
        if writer.advanced:
            self.write(run.id, download_attempts=0)
        if run.host in report.unreachable and run.host not in report.probed:  # it answered after all
            del report.unreachable[run.host]
            self.repo.record_host(run.host, None)
        if done:
            self._finished(run, facts)
            report.downloads_done += 1

    def _facts_of_files(self, run: Run, report: SyncReport) -> dict[str, FileFacts] | None:
        """The size (and sha256, if known) of the files to download, as stored when the run ended;
        asked of the host again when some are missing (None: it could not be reached)."""
        reported = json.loads(run.remote_files)
        wanted = remote_files(run.kind, RunStatus(run.status))
        facts = {name: FileFacts(*reported[name]) for name in wanted if name in reported}
        missing = [name for name in wanted if name not in facts]
        if not missing:
            return facts
        try:
            facts |= self.checker.file_facts(run.host, _run_dir(run), missing)
        except RemoteError as exc:
            self._unreachable(run, exc, report)
            return None
        except ProbeError as exc:
            self._failed(run, f"download from {run.host} failed: {exc}", final=False)
            return None
        self.write(run.id, remote_files=json.dumps({n: f.stored() for n, f in facts.items()}))
        return facts

    def _finished(self, run: Run, facts: dict[str, FileFacts]) -> None:
        local = self.repo.local_dir(run.id)
        fields: dict[str, object] = {
            "download_status": DownloadStatus.DONE.value, "download_error": None,
            "files": json.dumps([str((local / name).resolve()) for name in facts]),
            "bytes_done": sum(f.size for f in facts.values()),
        }  # fmt: skip
        if run.status == RunStatus.COMPLETED.value:
            output = local / "outputs" / OUTPUT_FILE[run.kind]
            fields["output_path"] = str(output.resolve())
            if run.kind == "enhance":
                fields["enhanced_text"] = _enhanced_text(output)
            if wants_scores(run.kind, run.status):
                fields["metrics_status"] = PENDING  # verified: its thumbnail and scores are due
        self.write(run.id, release=True, **fields)

    def _failed(self, run: Run, reason: str, final: bool) -> None:
        attempts = run.download_attempts + 1
        give_up = final or attempts >= MAX_DOWNLOAD_ATTEMPTS
        status = DownloadStatus.FAILED if give_up else DownloadStatus.PENDING
        self.write(run.id, release=give_up, download_status=status.value, download_error=reason,
                   download_attempts=attempts)

    def write(self, run_id: str, release: bool = False, **fields: object) -> None:
        """Write the download's `fields` (then give its lease up if `release`) while this install holds
        its lease, in the same statement; LeaseLost, with nothing written, once another may have taken it."""
        if not self.repo.write_download(run_id, self.owner, release, **fields):
            raise LeaseLost(f"run {run_id}: this installation no longer holds its download lease")


class LeaseLost(Exception):
    """This installation stalled past its download lease, and another took the download over."""


class _ProgressWriter:
    """Stores download progress (and tells the listener) at most every PROGRESS_EVERY_SECONDS, renewing
    the download's lease with it; `flush` stores the latest figures when the download stops."""

    def __init__(self, sync: LazySync, run_id: str, listener: ProgressListener | None, verified: list[str]) -> None:
        self.sync = sync
        self.run_id = run_id
        self.listener = listener
        self.last = 0.0
        self.unsaved: tuple[int, int] | None = None
        self.started_at: int | None = None  # bytes done when this turn began
        self.advanced = False  # whether bytes arrived in this turn
        self.verified = verified  # local files already checked and in place

    def is_verified(self, path: Path) -> bool:
        return str(path.resolve()) in self.verified

    def file_done(self, path: Path) -> None:
        """A file is checked and in place: it is never hashed again."""
        self.verified.append(str(path.resolve()))
        self.sync.write(self.run_id, files=json.dumps(self.verified))

    def progress(self, bytes_done: int, bytes_total: int) -> None:
        if self.started_at is None:
            self.started_at = bytes_done
        self.advanced = self.advanced or bytes_done > self.started_at
        self.unsaved = (bytes_done, bytes_total)
        now = self.sync.clock()
        if now - self.last >= PROGRESS_EVERY_SECONDS or bytes_done >= bytes_total:
            self.last = now
            self.flush()

    def flush(self) -> None:
        if self.unsaved is None:
            return
        bytes_done, bytes_total = self.unsaved
        self.unsaved = None
        sync = self.sync
        if not sync.repo.renew_lease(self.run_id, sync.owner, LEASE_SECONDS):  # renewed while bytes arrive
            raise LeaseLost(f"run {self.run_id}: its download lease expired or another installation took it")
        sync.write(self.run_id, bytes_done=bytes_done, bytes_total=bytes_total)
        if self.listener is not None:
            self.listener(self.run_id, bytes_done, bytes_total)


def _enhanced_text(path: Path) -> str | None:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return str(entries[0]["upsampled_prompt"])
    except (OSError, ValueError, LookupError, TypeError):
        return None


def _facts(run: Run) -> RunFacts:
    return RunFacts(run.id, run.kind, RunStatus(run.status), run.created_at, run.missing_since, run.model,
                    run.progress, run.gpus, run.queue_position)


def _run_dir(run: Run) -> str:
    """The run's directory on its host; "" for a row with none recorded (a launch that died before
    recording it), which the host's commands get quoted as '' as they always did."""
    return run.remote_run_dir or ""


def _by_host(runs: list[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.host, []).append(run)
    return grouped


def download_refusal(facts: Mapping[str, FileFacts], wanted: Sequence[str], completed: bool, host: str) -> str | None:
    """Why a finished run's files are not downloaded at all (a file the host shows that is refused, say a
    symlink; a completed run's output missing), in one line; None when they are to be downloaded.
    A failed run's missing files are no reason: its log may never have been written."""
    refused = [reason for name, f in facts.items() if (reason := f.refusal(name))]
    if refused:
        return "; ".join(refused) + f" (on host {host})"
    missing = [name for name in wanted if name not in facts]
    if missing and completed:
        return f"{', '.join(missing)} not found on host {host}"
    return None


def not_configured(host: str) -> str:
    return f"host {host} is not in the config"


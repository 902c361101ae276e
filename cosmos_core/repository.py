"""DataRepository: every database read and write, and the lazy sync.

Reading runs (`get_run`, `list_runs`) first moves unfinished runs forward:
one probe per host (throttled across processes through the database), pure
`decide()` for every run, transitions applied with compare-and-set so that two
processes never both apply one, then downloads, each owned by whichever
process holds the run's lock file.
"""

from __future__ import annotations

import enum
import fcntl
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from peewee import fn

from . import docker
from .config import SyncConfig
from .models import Changes, HostState, Prompt, Run
from .probe import FileFacts, ProbeError, ProbeTarget
from .remote import RemoteError
from .status import (
    OUTPUT_FILE,
    DownloadStatus,
    RunFacts,
    RunStatus,
    StatusChecker,
    Transition,
    decide,
    remote_files,
)
from .transfer import DownloadError, LocalWriteError
from .transfer_models import DEFAULT_MODEL

MAX_PROMPT_CHARS = 20_000
MAX_DOWNLOAD_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 0.5
MACHINE = socket.gethostname()  # launch locks are files here: they only speak for this machine's processes
ACTIVE = [RunStatus.RUNNING.value]
LAUNCHING = [RunStatus.PENDING.value, RunStatus.UPLOADING.value]
DOWNLOADABLE = [DownloadStatus.PENDING.value, DownloadStatus.DOWNLOADING.value]
SETTLED = [DownloadStatus.NONE.value, DownloadStatus.DONE.value, DownloadStatus.FAILED.value]
TERMINAL = [s.value for s in RunStatus if s.is_terminal()]


ProgressListener = Callable[[str, int, int], None]  # run id, bytes done, bytes total


class NotFound(LookupError):
    pass


class InvalidInput(ValueError):
    pass


class Refresh(enum.Enum):
    """How much a read syncs first: NONE, AUTO (throttled), FORCE (probe now)."""

    NONE = "none"
    AUTO = "auto"
    FORCE = "force"


@dataclass
class SyncReport:
    probed: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> reason
    transitions: int = 0
    downloads_done: int = 0


def new_id(prefix: str) -> str:
    """Opaque, safe in file names and container names."""
    return f"{prefix}_{secrets.token_hex(8)}"


class DataRepository:
    def __init__(self, outputs_dir: Path, sync: SyncConfig, clock: Callable[[], float] = time.time) -> None:
        self.outputs_dir = Path(outputs_dir)
        self.sync_config = sync
        self.clock = clock
        self.checker: StatusChecker | None = None
        self.last_report = SyncReport()
        self._counts: tuple[int, dict[str, int]] | None = None  # (Changes.count when counted, runs per status)

    def initialize_status_checker(self, checker: StatusChecker) -> None:
        """Turn on lazy sync: from now on, reads first move unfinished runs forward."""
        self.checker = checker

    # -- prompts -------------------------------------------------------------

    def create_prompt(self, text: str, video: Path, *, name: str | None = None, negative_prompt: str = "",
                      depth: Path | None = None, seg: Path | None = None) -> Prompt:
        text = _check_text("prompt", text, required=True)
        negative_prompt = _check_text("negative prompt", negative_prompt, required=False)
        files = {label: _check_file(label, path) for label, path in
                 (("video", video), ("depth video", depth), ("segmentation video", seg)) if path is not None}
        name = (name or " ".join(text.split())[:60]).strip()
        if len(name) > 200 or "\x00" in name:
            raise InvalidInput("prompt name must be at most 200 characters, with no NUL")
        return Prompt.create(
            id=new_id("ps"), name=name, text=text, negative_prompt=negative_prompt,
            video_path=files["video"], depth_path=files.get("depth video"),
            seg_path=files.get("segmentation video"), created_at=self.clock(),
        )  # fmt: skip

    def get_prompt(self, prompt_id: str) -> Prompt:
        prompt = Prompt.get_or_none(Prompt.id == prompt_id)
        if prompt is None:
            raise NotFound(f"no prompt with id {prompt_id!r}")
        return prompt

    def prompts_by_id(self, prompt_ids: set[str]) -> list[Prompt]:
        return list(Prompt.select().where(Prompt.id.in_(list(prompt_ids)))) if prompt_ids else []

    def list_prompts(self) -> list[Prompt]:
        return list(Prompt.select().order_by(Prompt.created_at.desc()))

    # -- runs ----------------------------------------------------------------

    def create_run(self, run_id: str, prompt_id: str, kind: str, host: str, params: dict,
                   parent_run_id: str | None = None, remote_run_dir: str | None = None,
                   model: str = DEFAULT_MODEL) -> Run:
        self.get_prompt(prompt_id)
        with Run._meta.database.atomic():
            _count_change()
            return Run.create(
                id=run_id, prompt=prompt_id, kind=kind, host=host, parent_run_id=parent_run_id,
                params=json.dumps(params), status=RunStatus.PENDING.value, remote_run_dir=remote_run_dir,
                created_at=self.clock(), launched_on=MACHINE, model=model,
            )  # fmt: skip

    def transition(self, run_id: str, expect: RunStatus | Iterable[RunStatus], **fields: object) -> bool:
        """Compare-and-set: write `fields` only if the run's status is still `expect`.
        A new status must lie ahead of every expected one (status only moves forward)."""
        expected = [expect] if isinstance(expect, RunStatus) else list(expect)
        if "status" in fields and not all(e.can_move_to(RunStatus(fields["status"])) for e in expected):
            raise ValueError(f"status cannot move from {[e.value for e in expected]} to {fields['status']}")
        allowed = [e.value for e in expected]
        fields = {k: json.dumps(v) if k == "remote_files" else v for k, v in fields.items()}
        with Run._meta.database.atomic():
            changed = Run.update(**fields).where((Run.id == run_id) & Run.status.in_(allowed)).execute() == 1
            if changed and "status" in fields:
                _count_change()
        return changed

    def get_run(self, run_id: str, refresh: Refresh = Refresh.AUTO) -> Run:
        run = Run.get_or_none(Run.id == run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}")
        if refresh is not Refresh.NONE and _needs_sync(run):
            self.sync(refresh, deadline=self._budget_deadline())
            run = Run.get_by_id(run_id)
        return run

    def list_runs(self, status: str | None = None, refresh: Refresh = Refresh.AUTO, *, kind: str | None = None,
                  host: str | None = None, search: str | None = None, limit: int | None = None,
                  offset: int = 0) -> list[Run]:
        """Runs newest first, filtered before the sync and re-read after it, so a
        run that left the filtered status during the sync shows as it now is.
        `search` matches the run id, the prompt's name or its text."""
        query = Run.select(Run.id).join(Prompt).order_by(Run.created_at.desc(), Run.id)
        for column, value in ((Run.status, status), (Run.kind, kind), (Run.host, host)):
            if value:
                query = query.where(column == value)
        if search:
            query = query.where(Run.id.contains(search) | Prompt.name.contains(search) | Prompt.text.contains(search))
        ids = [row.id for row in query.limit(limit).offset(offset or None)]
        if refresh is not Refresh.NONE:
            self.sync(refresh, deadline=self._budget_deadline())
        by_id = {run.id: run for run in _chunked_select(ids)}
        return [by_id[i] for i in ids if i in by_id]

    def count_by_status(self) -> dict[str, int]:
        """Runs per status; counted again only when a status changed since the last count."""
        changes = Changes.get_by_id(1).count
        if self._counts is None or self._counts[0] != changes:
            rows = Run.select(Run.status, fn.COUNT(Run.id).alias("n")).group_by(Run.status)
            self._counts = (changes, {row.status: row.n for row in rows})
        return dict(self._counts[1])

    def count_unsettled(self) -> int:
        """Runs starting, running or with a download to finish."""
        return Run.select().where(Run.status.in_(LAUNCHING + ACTIVE) | Run.download_status.in_(DOWNLOADABLE)).count()

    def retry_download(self, run_id: str) -> bool:
        """Queue a failed download again; False (and no change) if it was not failed."""
        run = self.get_run(run_id, Refresh.NONE)
        if run.download_status != DownloadStatus.FAILED.value:
            return False
        # The facts stored when the run ended may have been wrong or missing: the next turn asks again.
        return Run.update(download_status=DownloadStatus.PENDING.value, download_error=None,
                          download_attempts=0, remote_files="{}", files="[]").where(
            (Run.id == run_id) & (Run.download_status == DownloadStatus.FAILED.value)).execute() == 1

    def local_dir(self, run_id: str) -> Path:
        return self.outputs_dir / f"run_{run_id}"

    # -- hosts ---------------------------------------------------------------

    def host_states(self) -> dict[str, HostState]:
        return {h.name: h for h in HostState.select()}

    def unreachable_hosts(self) -> dict[str, str]:
        return {h.name: h.last_error for h in HostState.select().where(HostState.last_error.is_null(False))}

    def _claim_probe(self, host: str, now: float, force: bool) -> bool:
        """The cross-process throttle: at most one probe per host per interval."""
        HostState.insert(name=host).on_conflict_ignore().execute()
        query = HostState.update(last_probe_at=now).where(HostState.name == host)
        if not force:
            query = query.where(HostState.last_probe_at <= now - self.sync_config.min_interval_seconds)
        return query.execute() == 1

    def record_host(self, host: str, error: str | None) -> None:
        """How the last contact with `host` went (None: it answered)."""
        HostState.insert(name=host).on_conflict_ignore().execute()
        fields: dict[str, object] = {"last_error": error}
        if error is None:
            fields["last_ok_at"] = self.clock()
        HostState.update(**fields).where(HostState.name == host).execute()

    # -- sync ----------------------------------------------------------------

    def _budget_deadline(self) -> float:
        return time.monotonic() + self.sync_config.download_budget_seconds

    def sync(self, refresh: Refresh = Refresh.AUTO, deadline: float | None = None,
             on_progress: ProgressListener | None = None) -> SyncReport:
        """Probe hosts with unfinished runs, apply what changed, download what is due.

        `deadline` (time.monotonic) bounds the time spent downloading; None downloads
        to the end. `on_progress(run_id, bytes_done, bytes_total)` hears of downloads.
        """
        report = SyncReport()
        if self.checker is None or refresh is Refresh.NONE:
            return report
        with ExitStack() as held:
            # A launch from this machine whose lock we can take is orphaned: its process died.
            runs = [run for run in self._runs_to_probe()
                    if run.status not in LAUNCHING
                    or (run.launched_on == MACHINE and held.enter_context(self.run_lock(run.id)))]
            for host, host_runs in _by_host(runs).items():
                self._probe_host(host, host_runs, refresh is Refresh.FORCE, report)
        self._download_due(deadline, report, on_progress)
        self.last_report = report
        return report

    def _runs_to_probe(self) -> list[Run]:
        """Unfinished runs, and settled ones whose container is still to remove (two indexed queries:
        one with an OR would read every run)."""
        running = list(Run.select().where(Run.status.in_(ACTIVE + LAUNCHING)))
        # Container names are deterministic, so even a launch that failed midway is cleaned up.
        cleanup = Run.select().where((Run.container_removed == False) & Run.status.in_(TERMINAL)  # noqa: E712
                                     & Run.download_status.in_(SETTLED))
        return running + list(cleanup)

    def _probe_host(self, host: str, runs: list[Run], force: bool, report: SyncReport) -> None:
        assert self.checker is not None
        if host not in self.checker.hosts:
            report.unreachable[host] = f"host {host} is not in the config"
            return
        active = [r for r in runs if r.status in ACTIVE + LAUNCHING]
        state = HostState.get_or_none(HostState.name == host)
        last_error = state.last_error if state else None
        if not active and not force and last_error:
            return  # only clean-up to do on a host that was down: wait for a forced sync or a new run
        if not self._claim_probe(host, self.clock(), force):
            if last_error:
                report.unreachable[host] = last_error  # what the last probe, by any process, found
            return
        settled = [docker.container_name(r.id) for r in runs if r.status in TERMINAL]
        targets = [ProbeTarget(r.id, r.remote_run_dir, remote_files(r.kind, RunStatus.COMPLETED)) for r in active]
        try:
            result = self.checker.probe(host, targets, settled)
        except (RemoteError, ProbeError) as exc:
            report.unreachable[host] = str(exc)
            self.record_host(host, str(exc))
            return
        self.record_host(host, None)
        report.probed.append(host)
        now = self.clock()
        with Run._meta.database.atomic():  # one host's transitions land together or not at all
            for run in active:
                change = decide(_facts(run), result.observations[run.id], now, self.sync_config.lost_after_seconds)
                if change is not None and self._apply(change):
                    report.transitions += 1
        removed = [name.removeprefix("cosmos-") for name in result.removed]
        if removed:
            Run.update(container_removed=True).where(Run.id.in_(removed)).execute()

    def _apply(self, change: Transition) -> bool:
        return self.transition(change.run_id, change.expect, **change.fields)

    def _download_due(self, deadline: float | None, report: SyncReport, on_progress: ProgressListener | None) -> None:
        assert self.checker is not None
        due = list(Run.select().where(Run.download_status.in_(DOWNLOADABLE)).order_by(Run.completed_at))
        failed_hosts: set[str] = set()  # one failed connection per host per sync is enough
        for run in due:
            if run.host not in self.checker.hosts:
                report.unreachable[run.host] = f"host {run.host} is not in the config"
            if run.host in failed_hosts or run.host not in self.checker.hosts or (
                    deadline is not None and time.monotonic() >= deadline):
                continue
            with self.run_lock(run.id) as owned:
                if owned and not self._download(Run.get_by_id(run.id), deadline, report, on_progress):
                    failed_hosts.add(run.host)

    @contextmanager
    def run_lock(self, run_id: str, wait: bool = False) -> Iterator[bool]:
        """An exclusive lock on the run's local directory, held while a process
        launches the run or downloads its outputs; yields whether it was taken
        (`wait` blocks until it is). The OS drops it when its process dies, so a
        killed process blocks nobody."""
        directory = self.local_dir(run_id)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True

    def _download(self, run: Run, deadline: float | None, report: SyncReport,
                  on_progress: ProgressListener | None) -> bool:
        """Download what the run needs; False if its host could not be reached."""
        assert self.checker is not None
        if run.download_status not in DOWNLOADABLE:
            return True  # another process finished it before we got the lock
        reported = json.loads(run.remote_files)
        wanted = remote_files(run.kind, RunStatus(run.status))
        facts = {name: FileFacts(*reported[name]) for name in wanted if name in reported}
        missing = [name for name in wanted if name not in facts]
        if missing:
            try:
                facts |= self.checker.file_facts(run.host, run.remote_run_dir, missing)
            except (RemoteError, ProbeError) as exc:
                self._download_failed(run, f"download from {run.host} failed: {exc}", final=False)
                return False
            Run.update(remote_files=json.dumps({n: f.stored() for n, f in facts.items()})).where(
                Run.id == run.id).execute()
            missing = [name for name in wanted if name not in facts]
        refused = [reason for name, f in facts.items() if (reason := f.refusal(name))]
        if refused:
            self._download_failed(run, f"{'; '.join(refused)} (on host {run.host})", final=True)
            return True
        if missing and run.status == RunStatus.COMPLETED.value:
            self._download_failed(run, f"{', '.join(missing)} not found on host {run.host}", final=True)
            return True
        Run.update(download_status=DownloadStatus.DOWNLOADING.value,
                   bytes_total=sum(f.size for f in facts.values())).where(Run.id == run.id).execute()
        writer = _ProgressWriter(run.id, self.clock, on_progress, verified=json.loads(run.files))
        try:
            done = self.checker.download_outputs(run.host, run.remote_run_dir, facts, self.local_dir(run.id),
                                                 writer, deadline)
        except LocalWriteError as exc:
            self._download_failed(run, str(exc), final=False)
            return True
        except (RemoteError, OSError, DownloadError) as exc:
            if writer.advanced and not isinstance(exc, DownloadError):  # failures count in a row: bytes
                run.download_attempts = 0  # arrived before this one (and were kept, unlike a bad file's)
            if isinstance(exc, DownloadError):  # the file is not what the host said: ask again next time
                Run.update(remote_files="{}").where(Run.id == run.id).execute()
            self._download_failed(run, f"download from {run.host} failed: {exc}", final=False)
            return not isinstance(exc, RemoteError)
        finally:
            writer.flush()  # what arrived so far, also when the budget or the link ended this turn
        if writer.advanced:
            Run.update(download_attempts=0).where(Run.id == run.id).execute()
        if done:
            self._download_finished(run, facts)
            report.downloads_done += 1
        return True

    def _download_finished(self, run: Run, facts: dict[str, FileFacts]) -> None:
        local = self.local_dir(run.id)
        files = [str((local / name).resolve()) for name in facts]
        output = local / "outputs" / OUTPUT_FILE[run.kind]
        fields: dict[str, object] = {
            "download_status": DownloadStatus.DONE.value, "download_error": None, "files": json.dumps(files),
            "bytes_done": sum(f.size for f in facts.values()),
        }
        if run.status == RunStatus.COMPLETED.value:
            fields["output_path"] = str(output.resolve())
            if run.kind == "enhance":
                fields["enhanced_text"] = _enhanced_text(output)
        Run.update(**fields).where(Run.id == run.id).execute()

    def _download_failed(self, run: Run, reason: str, final: bool) -> None:
        attempts = run.download_attempts + 1
        give_up = final or attempts >= MAX_DOWNLOAD_ATTEMPTS
        status = DownloadStatus.FAILED if give_up else DownloadStatus.PENDING
        Run.update(download_status=status.value, download_error=reason, download_attempts=attempts).where(
            Run.id == run.id).execute()


class _ProgressWriter:
    """Stores download progress (and tells the listener), at most every PROGRESS_EVERY_SECONDS;
    `flush` stores the latest figures when the download stops."""

    def __init__(self, run_id: str, clock: Callable[[], float], listener: ProgressListener | None,
                 verified: list[str]) -> None:
        self.run_id = run_id
        self.clock = clock
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
        Run.update(files=json.dumps(self.verified)).where(Run.id == self.run_id).execute()

    def progress(self, bytes_done: int, bytes_total: int) -> None:
        if self.started_at is None:
            self.started_at = bytes_done
        self.advanced = self.advanced or bytes_done > self.started_at
        self.unsaved = (bytes_done, bytes_total)
        now = self.clock()
        if now - self.last >= PROGRESS_EVERY_SECONDS or bytes_done >= bytes_total:
            self.last = now
            self.flush()

    def flush(self) -> None:
        if self.unsaved is None:
            return
        bytes_done, bytes_total = self.unsaved
        self.unsaved = None
        Run.update(bytes_done=bytes_done, bytes_total=bytes_total).where(Run.id == self.run_id).execute()
        if self.listener is not None:
            self.listener(self.run_id, bytes_done, bytes_total)


def _enhanced_text(path: Path) -> str | None:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return str(entries[0]["upsampled_prompt"])
    except (OSError, ValueError, LookupError, TypeError):
        return None


def _count_change() -> None:
    """Inside the transaction that changes a run's status: readers recount."""
    Changes.update(count=Changes.count + 1).where(Changes.id == 1).execute()


def _facts(run: Run) -> RunFacts:
    return RunFacts(run.id, run.kind, RunStatus(run.status), run.created_at, run.missing_since, run.model,
                    run.progress)


def _needs_sync(run: Run) -> bool:
    return run.status in LAUNCHING + ACTIVE or run.download_status in DOWNLOADABLE


def _by_host(runs: Sequence[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.host, []).append(run)
    return grouped


def _chunked_select(ids: list[str], size: int = 500) -> Iterator[Run]:
    for start in range(0, len(ids), size):
        yield from Run.select().where(Run.id.in_(ids[start:start + size]))


def _check_text(label: str, text: str, required: bool) -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"{label} must be text")
    if required and not text.strip():
        raise InvalidInput(f"{label} is empty")
    if "\x00" in text:
        raise InvalidInput(f"{label} contains a NUL character")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"{label} is {len(text)} characters long; the limit is {MAX_PROMPT_CHARS}")
    return text.strip()


def _check_file(label: str, path: Path) -> str:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInput(f"{label} {path} does not exist or is not a file")
    return str(path.resolve())

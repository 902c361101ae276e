"""RunStore: every database read and write of prompts, runs, download leases and host states.

Plain reads and writes: `repository.DataRepository` adds the reads that first let the lazy sync
move unfinished runs forward, and the sync itself reads and writes through the methods here, so
that every query of the product lives in this one module.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from peewee import Expression, Node, fn

from cosmos_core.config import SyncConfig
from cosmos_core.install import install_id
from cosmos_core.lifecycle import (
    ACTIVE,
    DOWNLOADABLE,
    LAUNCHING,
    SETTLED,
    TERMINAL,
    DownloadStatus,
    RunStatus,
    Transition,
)
from cosmos_core.store.host_states import HostStore
from cosmos_core.store.tables import Changes, DownloadLease, Prompt, Run, database_now, on_postgres
from cosmos_core.upstream.models import DEFAULT_MODEL

MAX_PROMPT_CHARS = 20_000
_COUNT = "n"  # the alias of COUNT(...) in the counts per status or host

__all__ = ["InvalidInput", "NotFound", "RunEndHook", "RunStore", "new_id"]


class NotFound(LookupError):
    pass


class InvalidInput(ValueError):
    pass


def new_id(prefix: str) -> str:
    """Opaque, safe in file names and container names."""
    return f"{prefix}_{secrets.token_hex(8)}"


class RunEndHook(Protocol):
    """Told of each run that ends (the webhook's `notify.Notifier`): `record` inside the transaction
    that ends it, `deliver` once that transaction committed."""

    def record(self, run_id: str) -> None: ...

    def deliver(self) -> int: ...


class RunStore(HostStore):
    def __init__(self, outputs_dir: Path, sync: SyncConfig, clock: Callable[[], float] = time.time,
                 notifier: RunEndHook | None = None) -> None:
        self.outputs_dir = Path(outputs_dir)
        self.sync_config = sync
        self.clock = clock
        self.notifier = notifier  # None: no webhook, no outbox rows
        self._counts: tuple[int, dict[str, int]] | None = None  # (Changes.count when counted, runs per status)

    # -- prompts -------------------------------------------------------------

    def create_prompt(self, text: str, video: Path, *, name: str | None = None, negative_prompt: str = "",
                      depth: Path | None = None, seg: Path | None = None) -> Prompt:
        """A new prompt; or, when one has the same text, negative prompt and files (and name, when one
        is given), that one: a run started again from the same inputs stores no duplicate."""
        text = _check_text("prompt", text, required=True)
        negative_prompt = _check_text("negative prompt", negative_prompt, required=False)
        files = {label: _check_file(label, path) for label, path in
                 (("video", video), ("depth video", depth), ("segmentation video", seg)) if path is not None}
        named = (name or "").strip()
        name = named or " ".join(text.split())[:60].strip()
        if len(name) > 200 or "\x00" in name:
            raise InvalidInput("prompt name must be at most 200 characters, with no NUL")
        same = Prompt.select().where(  # the same text and files (and name, if given): no duplicate row
            (Prompt.text == text) & (Prompt.negative_prompt == negative_prompt) & ((Prompt.name == name) | (not named))
            & (Prompt.video_path == files["video"]) & (Prompt.depth_path == files.get("depth video"))
            & (Prompt.seg_path == files.get("segmentation video"))).order_by(Prompt.created_at).first()
        return same or Prompt.create(
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
                   model: str = DEFAULT_MODEL, sweep_id: str | None = None) -> Run:
        self.get_prompt(prompt_id)
        with Run._meta.database.atomic():
            _count_change()
            return Run.create(
                id=run_id, prompt=prompt_id, kind=kind, host=host, parent_run_id=parent_run_id,
                params=json.dumps(params), status=RunStatus.PENDING.value, remote_run_dir=remote_run_dir,
                created_at=self.clock(), launched_on=install_id(), model=model, sweep_id=sweep_id,
            )  # fmt: skip

    def transition(self, run_id: str, expect: RunStatus | Iterable[RunStatus], **fields: object) -> bool:
        """Compare-and-set: write `fields` only if the run's status is still `expect`.
        A new status must lie ahead of every expected one (status only moves forward)."""
        expected = [expect] if isinstance(expect, RunStatus) else list(expect)
        status = RunStatus(str(fields["status"])) if "status" in fields else None
        if status is not None and not all(e.can_move_to(status) for e in expected):
            raise ValueError(f"status cannot move from {[e.value for e in expected]} to {fields['status']}")
        allowed = [e.value for e in expected]
        fields = {k: json.dumps(v) if k == "remote_files" else v for k, v in fields.items()}
        notifier = self.notifier if status is not None and status.is_terminal() else None  # told if this ends it
        with Run._meta.database.atomic():
            if status is not None:  # the one Changes row first: two transactions ending runs in different
                _lock_changes()     # orders then queue on it instead of deadlocking on each other's runs
            changed = Run.update(**fields).where((Run.id == run_id) & Run.status.in_(allowed)).execute() == 1
            if changed and status is not None:
                _count_change()
                if notifier is not None:
                    notifier.record(run_id)  # the webhook's outbox row, in this same transaction
        if changed and notifier is not None and not Run._meta.database.in_transaction():
            notifier.deliver()  # committed (a sync's transitions: delivered once all are, see sync.py)
        return changed

    def find_run(self, run_id: str) -> Run:
        run = Run.get_or_none(Run.id == run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}")
        return run

    def run_ids(self, status: str | None = None, *, kind: str | None = None, host: str | None = None,
                search: str | None = None, limit: int | None = None, offset: int = 0,
                sweep: str | None = None, starred: bool = False, note: str | None = None,
                order: Sequence[Node] = ()) -> list[str]:
        """Ids of the runs that match, in `order` (default: newest first). `search` matches the run id, the
        prompt's name or its text, the run's note, or is the run's sweep id; `starred`: only starred runs;
        `note`: only runs whose note contains it."""
        query = Run.select(Run.id).join(Prompt).order_by(*(order or (Run.created_at.desc(), Run.id)))
        for column, value in ((Run.status, status), (Run.kind, kind), (Run.host, host), (Run.sweep_id, sweep),
                              (Run.starred, starred or None)):
            if value:
                query = query.where(column == value)
        if note:
            query = query.where(Run.note.contains(note))
        if search:
            query = query.where(Run.id.contains(search) | Prompt.name.contains(search) | Prompt.text.contains(search)
                                | Run.note.contains(search) | (Run.sweep_id == search))
        return [row.id for row in query.limit(limit).offset(offset or None)]

    def runs_in_order(self, ids: list[str]) -> list[Run]:
        """The runs of `ids` that still exist, in that order."""
        by_id = {run.id: run for run in _chunked_select(ids)}
        return [by_id[i] for i in ids if i in by_id]

    def count_by_status(self) -> dict[str, int]:
        """Runs per status; counted again only when a status changed since the last count."""
        changes = Changes.get_by_id(1).count
        if self._counts is None or self._counts[0] != changes:
            rows = Run.select(Run.status, fn.COUNT(Run.id).alias(_COUNT)).group_by(Run.status)
            self._counts = (changes, {row.status: _count_of(row) for row in rows})
        return dict(self._counts[1])

    def sweep_counts(self, sweep_id: str) -> dict[str, int]:
        """The runs of a sweep per status."""
        rows = (Run.select(Run.status, fn.COUNT(Run.id).alias(_COUNT)).where(Run.sweep_id == sweep_id)
                .group_by(Run.status))
        return {row.status: _count_of(row) for row in rows}

    def count_unsettled(self) -> int:
        """Runs starting, running or with a download to finish."""
        return Run.select().where(Run.status.in_(LAUNCHING + ACTIVE) | Run.download_status.in_(DOWNLOADABLE)).count()

    def retry_download(self, run_id: str) -> bool:
        """Queue a failed download again; False (and no change) if it was not failed."""
        run = self.find_run(run_id)
        if run.download_status != DownloadStatus.FAILED.value:
            return False
        # The facts stored when the run ended may have been wrong or missing: the next turn asks again.
        return Run.update(download_status=DownloadStatus.PENDING.value, download_error=None,
                          download_attempts=0, remote_files="{}", files="[]").where(
            (Run.id == run_id) & (Run.download_status == DownloadStatus.FAILED.value)).execute() == 1

    def stored_run(self, run_id: str) -> Run:
        return Run.get_by_id(run_id)

    def update_run(self, run_id: str, **fields: object) -> None:
        """Fields that are not the status (download progress, facts), written as they are."""
        Run.update(**fields).where(Run.id == run_id).execute()

    def apply_transitions(self, changes: Iterable[Transition]) -> int:
        """Compare-and-set each, all in one transaction; how many applied."""
        with Run._meta.database.atomic():
            return sum(self.transition(c.run_id, c.expect, **c.fields) for c in changes)

    def deliver_notifications(self) -> None:
        """Post the webhook messages due (this process's new ones, retries, those of processes that died)."""
        if self.notifier is not None:
            self.notifier.deliver()

    def active_run_ids(self) -> list[str]:
        """Runs starting, queued or running (the page's title counts them)."""
        return [r.id for r in Run.select(Run.id).where(Run.status.in_(ACTIVE + LAUNCHING))]

    def runs_to_probe(self) -> list[Run]:
        """Unfinished runs, and settled ones whose job is still to clean up (two indexed queries:
        one with an OR would read every run)."""
        running = list(Run.select().where(Run.status.in_(ACTIVE + LAUNCHING)))
        # Job names are deterministic, so even a launch that failed midway is cleaned up.
        cleanup = Run.select().where((Run.container_removed == False) & Run.status.in_(TERMINAL)  # noqa: E712
                                     & Run.download_status.in_(SETTLED))
        return running + list(cleanup)

    def mark_cleaned(self, run_ids: Iterable[str]) -> None:
        ids = list(run_ids)
        if ids:
            Run.update(container_removed=True).where(Run.id.in_(ids)).execute()

    def downloads_due(self) -> list[Run]:
        return list(Run.select().where(Run.download_status.in_(DOWNLOADABLE)).order_by(Run.completed_at))

    def local_dir(self, run_id: str) -> Path:
        return self.outputs_dir / f"run_{run_id}"

    @contextmanager
    def run_lock(self, run_id: str, wait: bool = False, name: str = ".lock") -> Iterator[bool]:
        """An exclusive lock on the run's local directory, held while a process of this install
        launches the run or downloads its outputs (`name`: another lock file, for another purpose, such
        as its scoring); yields whether it was taken (`wait` blocks until it is). The OS drops it when
        its process dies, so a killed process blocks nobody."""
        directory = self.local_dir(run_id)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / name, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True

    # -- deleting ------------------------------------------------------------

    def runs_of_prompt(self, prompt_id: str) -> list[Run]:
        return list(Run.select().where(Run.prompt == prompt_id).order_by(Run.created_at.desc(), Run.id))

    def upscales_of(self, run_id: str) -> list[Run]:
        """The runs made from this one (its upscales: `parent_run_id`)."""
        return list(Run.select().where(Run.parent_run_id == run_id))

    def prompts_using_file(self, path: str) -> list[str]:
        """Ids of the prompts whose video, depth or seg file is `path`."""
        query = Prompt.select(Prompt.id).where(
            (Prompt.video_path == path) | (Prompt.depth_path == path) | (Prompt.seg_path == path))
        return [p.id for p in query]

    def delete_run(self, run_id: str) -> bool:
        """Delete a finished run's row (and its download lease); False (and no change) if it is gone
        or no longer finished."""
        with Run._meta.database.atomic():
            _lock_changes()
            deleted = Run.delete().where((Run.id == run_id) & Run.status.in_(TERMINAL)).execute() == 1
            if deleted:
                DownloadLease.delete().where(DownloadLease.run_id == run_id).execute()
                _count_change()  # the counts per status change too
        return deleted

    def delete_prompt(self, prompt_id: str) -> bool:
        """Delete a prompt that no run uses; False (and no change) if it is gone or a run uses it."""
        with Prompt._meta.database.atomic():
            if Run.select().where(Run.prompt == prompt_id).exists():
                return False
            return Prompt.delete().where(Prompt.id == prompt_id).execute() == 1

    # -- download leases -------------------------------------------------------

    def take_lease(self, run_id: str, owner: str, seconds: float) -> bool:
        """Take or renew the run's download lease for `owner` (an install id), until `seconds` from now
        by the database's clock: granted when nobody holds it, `owner` already does, or its holder let
        it expire."""
        expires_at = database_now() + seconds
        DownloadLease.insert(run_id=run_id, owner=owner, expires_at=expires_at).on_conflict_ignore().execute()
        return DownloadLease.update(owner=owner, expires_at=expires_at).where(
            (DownloadLease.run_id == run_id)
            & ((DownloadLease.owner == owner) | (DownloadLease.expires_at < database_now()))).execute() == 1

    def renew_lease(self, run_id: str, owner: str, seconds: float) -> bool:
        """Extend `owner`'s unexpired lease to `seconds` from now; False (and no change) once it lost it."""
        return DownloadLease.update(expires_at=database_now() + seconds).where(
            _lease_held(run_id, owner)).execute() == 1

    def write_download(self, run_id: str, owner: str, release: bool = False, **fields: object) -> bool:
        """Write the run's download `fields` only if `owner` still holds its unexpired lease, checked in
        the same statement, then give the lease up if `release`. False: the lease was lost (expired, or
        taken over by another install), and nothing was written."""
        held = DownloadLease.select(DownloadLease.run_id).where(_lease_held(run_id, owner))
        if on_postgres():
            held = held.for_update()  # a takeover committed meanwhile is seen, or waits for this write
        with Run._meta.database.atomic():
            if Run.update(**fields).where((Run.id == run_id) & Run.id.in_(held)).execute() != 1:
                return False
            if release:
                self.release_lease(run_id, owner)
        return True

    def release_lease(self, run_id: str, owner: str) -> bool:
        """Give up `owner`'s unexpired lease; False if it no longer held one."""
        return DownloadLease.delete().where(_lease_held(run_id, owner)).execute() == 1

    def active_runs_by_host(self) -> dict[str, int]:
        rows = (Run.select(Run.host, fn.COUNT(Run.id).alias(_COUNT)).where(Run.status.in_(ACTIVE + LAUNCHING))
                .group_by(Run.host))
        return {row.host: _count_of(row) for row in rows}


def _lease_held(run_id: str, owner: str) -> Expression:
    """The lease row of `run_id`, if `owner` holds it and it has not expired by the database's clock."""
    return ((DownloadLease.run_id == run_id) & (DownloadLease.owner == owner)
            & (DownloadLease.expires_at > database_now()))


def _lock_changes() -> None:
    """Take the Changes row's write lock (a write that changes nothing), for the rest of the transaction."""
    Changes.update(count=Changes.count).where(Changes.id == 1).execute()


def _count_change() -> None:
    """Inside the transaction that changes a run's status: readers recount."""
    Changes.update(count=Changes.count + 1).where(Changes.id == 1).execute()


def _count_of(row: Run) -> int:
    """The COUNT(...) of a grouped row: an attribute peewee sets under its alias, unknown to its types."""
    count: int = getattr(row, _COUNT)
    return count


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

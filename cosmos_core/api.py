"""CosmosAPI: the one facade the dashboard and the CLI use. Plain data in and out."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from cosmos_core import scoring, sweeps, uploads
from cosmos_core.config import Config
from cosmos_core.config_schema import DEFAULT_RUN_ARGS
from cosmos_core.deletion import DeleteError, Deleter
from cosmos_core.errors import CosmosError, as_cosmos_error
from cosmos_core.executors import Executor, SubmitError, make_executor
from cosmos_core.executors.hostcheck import CHECK_ITEMS
from cosmos_core.export import export_rows
from cosmos_core.hosts_api import HostsAPI
from cosmos_core.lifecycle import STATUSES, DownloadStatus, RunStatus
from cosmos_core.live_config import LiveConfig
from cosmos_core.notify import Notifier
from cosmos_core.records import prompt_to_dict
from cosmos_core.repository import DataRepository, Refresh
from cosmos_core.rerun import INPUT_LABELS
from cosmos_core.run_views import SCORES, RunViews, format_seconds, sweep_cell
from cosmos_core.scoring import output_here
from cosmos_core.ssh.host import RemoteError
from cosmos_core.ssh.onboarding import DEFAULT_KEY_FILE, DEFAULT_KNOWN_HOSTS, key_check_command
from cosmos_core.standing import Standing
from cosmos_core.start_steps import StartReport, StartStep
from cosmos_core.starts_api import StartsAPI
from cosmos_core.status import LOG_FILE, StatusChecker
from cosmos_core.store import run_table, tables
from cosmos_core.store.run_table import SORT_KEYS
from cosmos_core.store.tables import Run
from cosmos_core.sweeps import MAX_RUNS, SWEPT
from cosmos_core.sync import ProgressListener, SyncReport
from cosmos_core.tailing import tail_lines
from cosmos_core.upstream.models import DEFAULT_MODEL, MODELS
from cosmos_core.upstream.params import STRENGTHS, InferenceParams
from cosmos_core.words import agreeing, count, sizes

__all__ = ["CHECK_ITEMS", "Config", "DEFAULT_KEY_FILE", "DEFAULT_KNOWN_HOSTS", "DEFAULT_MODEL", "DEFAULT_RUN_ARGS",
           "INPUT_LABELS", "MAX_RUNS", "MODELS", "SCORES", "SORT_KEYS", "STATUSES", "STRENGTHS", "SWEPT", "CosmosAPI",
           "CosmosError", "InferenceParams", "Refresh", "StartReport", "StartStep", "agreeing", "count",
           "describe_sweep", "format_seconds", "key_check_command", "output_here", "sizes", "sweep_cell",
           "sweep_grid"]


class CosmosAPI(HostsAPI, StartsAPI):
    def __init__(self, config: Config) -> None:
        self.config = config
        self._live = LiveConfig(config)
        self.db = tables.connect(config.storage.database, config.storage.busy_timeout_seconds)
        sync = config.sync
        # A refresh answers within the probe timeout, whatever the host.
        self.executors: dict[str, Executor] = {h.name: make_executor(h, sync.probe_timeout_seconds)
                                               for h in config.hosts}
        self._notifier = Notifier(config.notify.url) if config.notify.url else None
        self.repo = DataRepository(config.storage.outputs_dir, sync, notifier=self._notifier)
        self.repo.initialize_status_checker(StatusChecker(self.executors, sync.lost_after_seconds))
        self.last_sync = SyncReport()
        self._views = RunViews(self.repo, lambda: self.config)

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.close()
        for executor in self.executors.values():
            executor.close()
        self.db.close()

    # -- prompts -------------------------------------------------------------

    def add_prompt(self, text: str, video: str | Path, *, name: str | None = None, negative_prompt: str = "",
                   depth: str | Path | None = None, seg: str | Path | None = None,
                   keep_copies: Collection[str] = ()) -> dict:
        """A new prompt, or the stored one with the same text and files. `keep_copies`: the roles (of "video",
        "depth", "seg") whose files are uploads, each stored as its copy kept under outputs_dir (uploads.py);
        a refused prompt keeps none of the copies this call made."""
        files = {"video": video, "depth": depth, "seg": seg}
        if unknown := set(keep_copies) - files.keys():
            raise CosmosError(f"keep_copies takes video, depth and seg, not {', '.join(sorted(unknown))}")
        with as_cosmos_error(), uploads.kept_files(self.config.storage.outputs_dir, files, keep_copies) as kept:
            prompt = self.repo.create_prompt(text, kept["video"] or Path(video), name=name,
                                             negative_prompt=negative_prompt, depth=kept["depth"], seg=kept["seg"])
        return prompt_to_dict(prompt)

    def keep_upload(self, path: str | Path) -> Path:
        """A copy of an uploaded file kept under outputs_dir/inputs/ by its content (one already there is its
        own copy), so that the page can serve it and a prompt's file outlives the browser session."""
        return uploads.keep(self.config.storage.outputs_dir, path).path

    def list_prompts(self) -> list[dict]:
        return [prompt_to_dict(p) for p in self.repo.list_prompts()]

    def get_prompts(self, prompt_ids: Iterable[str]) -> dict[str, dict]:
        """The prompts with these ids, by id, in one query (ids not found are left out)."""
        return {p.id: prompt_to_dict(p) for p in self.repo.prompts_by_id(set(prompt_ids))}

    def get_prompt(self, prompt_id: str) -> dict:
        with as_cosmos_error():
            return prompt_to_dict(self.repo.get_prompt(prompt_id))

    # -- sweeps --------------------------------------------------------------

    def sweep_summary(self, sweep_id: str) -> dict[str, int]:
        """Runs of the sweep per status (empty: no such sweep)."""
        return self.repo.sweep_counts(sweep_id)

    def recent_sweeps(self, limit: int = 50) -> list[str]:
        """Sweep ids, the newest sweep first."""
        return run_table.recent_sweeps(limit)

    def placed(self, run_id: str) -> dict:
        """The run as its host says it stands now, with its place once it waits in the host's GPU queue
        (see standing.py)."""
        with as_cosmos_error():
            return self._views.one(self._standing().placed(run_id))

    def _standing(self) -> Standing:
        return Standing(self.repo, self._stored_run, self._executor, self.config.sync.probe_timeout_seconds)

    # -- reading and moving runs ---------------------------------------------

    def list_runs(self, status: str | None = None, refresh: Refresh = Refresh.AUTO, **filters) -> list[dict]:
        if status is not None and status not in {s.value for s in RunStatus}:
            raise CosmosError(f"unknown status {status!r}; use one of {', '.join(s.value for s in RunStatus)}")
        with as_cosmos_error():  # `sort`: a SORT_KEYS name
            runs = self.repo.list_runs(status, refresh, **filters)
        self._note_unreachable()
        return self._views.dicts(runs)

    def get_run(self, run_id: str, refresh: Refresh = Refresh.AUTO) -> dict:
        with as_cosmos_error():
            run = self.repo.get_run(run_id, refresh)
        self._note_unreachable()
        return self._views.one(run)

    def mark(self, run_id: str, *, starred: bool | None = None, note: str | None = None) -> dict:
        """Star or unstar a run, and/or give it a one-line note ("" clears it)."""
        with as_cosmos_error():
            return self._views.mark(run_id, starred, note)

    def sweep_view(self, sweep_id: str, sort_by: str = SCORES[0], refresh: Refresh = Refresh.AUTO) -> dict:
        """Its runs best first by `sort_by`, with the parameters varying across them and their scores."""
        with as_cosmos_error():
            return self._views.sweep(sweep_id, self.list_runs(None, refresh, sweep=sweep_id), sort_by)

    def count_by_status(self) -> dict[str, int]:
        return self.repo.count_by_status()

    def active_run_ids(self) -> list[str]:
        """Runs starting, queued or running, from the database alone."""
        return self.repo.active_run_ids()

    def sync(self, refresh: Refresh = Refresh.FORCE, deadline: float | None = None,
             on_progress: ProgressListener | None = None) -> SyncReport:
        """Sync now; `on_progress(run_id, bytes_done, bytes_total)` hears of downloads."""
        self.last_sync = self.repo.sync(refresh, deadline, on_progress)
        return self.last_sync

    def pending_work(self) -> int:
        """Runs still running, or with a download still to do."""
        return self.repo.count_unsettled()

    def retry_download(self, run_id: str, on_progress: ProgressListener | None = None) -> dict:
        """Download again a failed download, to the end; a done download is left as it is."""
        run = self._stored_run(run_id)
        if run.download_status == DownloadStatus.DONE.value:
            return self._views.one(run)
        in_progress = (DownloadStatus.PENDING, DownloadStatus.DOWNLOADING)
        if not self.repo.retry_download(run_id) and run.download_status not in in_progress:
            raise CosmosError(f"run {run_id} has no download to retry (download status {run.download_status})")
        self.sync(Refresh.FORCE, deadline=None, on_progress=on_progress)
        if self._stored_run(run_id).download_status in in_progress:
            with self.repo.run_lock(run_id, wait=True):
                pass  # another process was downloading it: let it finish its turn, then take ours
            self.sync(Refresh.FORCE, deadline=None, on_progress=on_progress)
        run = self._stored_run(run_id)
        if run.download_status != DownloadStatus.DONE.value:
            raise CosmosError(f"run {run_id}: download {run.download_status}: {run.download_error or 'not finished'}")
        return self._views.one(run)

    def cancel(self, run_id: str) -> dict:
        run = self._stored_run(run_id)
        if RunStatus(run.status).is_terminal():
            raise CosmosError(f"run {run_id} is already {run.status}")
        executor = self._executor(run)
        # Decide first, then stop: a sync between the two would otherwise see the stopped job and
        # record a failure. A launch in progress sees the cancel and starts nothing.
        unfinished = [RunStatus.PENDING, RunStatus.UPLOADING, RunStatus.QUEUED, RunStatus.RUNNING]
        if not self.repo.transition(run.id, unfinished, status=RunStatus.CANCELLED.value, completed_at=time.time(),
                                    error="Cancelled by the user", progress=None):
            raise CosmosError(f"run {run_id} finished before it could be cancelled")
        if run.status in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
            try:
                executor.cancel(run.id, run.container_id)
            except RemoteError as exc:
                raise CosmosError(f"run {run_id} is cancelled, but its job could not be stopped now ({exc}); "
                                  f"the next sync that reaches the host removes it") from exc
        return self.get_run(run_id, Refresh.NONE)

    def _executor(self, run: Run) -> Executor:
        executor = self.executors.get(run.host)
        if executor is None:
            raise CosmosError(f"run {run.id} ran on host {run.host}, which is not in the config")
        return executor

    # -- the GPU queue ---------------------------------------------------------

    def pause_queue(self, host: str, paused: bool = True) -> None:
        """Hold (or release) the runs waiting for GPUs on `host`; running runs go on."""
        with as_cosmos_error():
            config = self.config.host(host)
        try:
            self.executors[config.name].pause_queue(paused)
        except (RemoteError, SubmitError) as exc:
            raise CosmosError(f"cannot {'pause' if paused else 'resume'} the queue of {config.name}: {exc}") from exc

    def move_to_front(self, run_id: str) -> dict:
        """A queued run goes ahead of every other waiting on its host (as it stands now: see standing.py)."""
        with as_cosmos_error():
            return self._views.one(self._standing().move_to_front(run_id))

    def _stored_run(self, run_id: str) -> Run:
        with as_cosmos_error():
            return self.repo.get_run(run_id, Refresh.NONE)

    def has_local_log(self, run_id: str) -> bool:
        """Whether the run's log has been downloaded (reading it then needs no host)."""
        return self._local_log(run_id).is_file()

    def _local_log(self, run_id: str) -> Path:
        return self.repo.local_dir(run_id) / LOG_FILE

    def logs(self, run_id: str, tail: int | None = None) -> str:
        """The run's log: the downloaded copy once there is one, else from the host."""
        run = self._stored_run(run_id)
        local = self._local_log(run.id)
        if local.is_file():
            return tail_lines(local, tail) if tail else local.read_text(errors="replace")
        if not run.remote_run_dir:
            return ""
        try:
            return self._executor(run).read_log(run.remote_run_dir, tail)
        except RemoteError as exc:
            raise CosmosError(f"cannot read the log of run {run_id}: {exc}") from exc

    # -- deleting and exporting -------------------------------------------------

    def run_deletion(self, run_id: str) -> dict:
        """What `delete_run` would remove; CosmosError if it would refuse. Reads the database only, after
        a probe of its host if the run was unfinished when last seen (a refusal names its status now)."""
        with _deleting():
            self._standing().now(run_id)
            return self._deleter().plan_run(run_id).to_dict()

    def delete_run(self, run_id: str) -> dict:
        """Delete a finished run: its directory on its host, its local directory, its row (see deletion.py)."""
        with _deleting():
            self._standing().now(run_id)
            return self._deleter().delete_run(run_id).to_dict()

    def prompt_deletion(self, prompt_id: str, with_runs: bool = False) -> dict:
        """What `delete_prompt` would remove (reads the database only); CosmosError if it would refuse."""
        with _deleting():
            return self._deleter().plan_prompt(prompt_id, with_runs).to_dict()

    def delete_prompt(self, prompt_id: str, with_runs: bool = False) -> dict:
        """Delete a prompt no run uses, or, `with_runs`, its finished runs first."""
        with _deleting():
            return self._deleter().delete_prompt(prompt_id, with_runs).to_dict()

    def _deleter(self) -> Deleter:
        return Deleter(self.repo, self.executors, self.config)

    def compute_metrics(self, run_id: str) -> dict:
        """(Re)compute a completed inference run's thumbnail and scores here (scoring.py): `metrics` says why not."""
        with as_cosmos_error():
            return self._views.one(scoring.rescore(self.repo, self.repo.find_run(run_id)))

    def export_runs(self, status: str | None = None, host: str | None = None) -> tuple[list[str], list[dict]]:
        """(columns, rows): every run (filtered) with its prompt and parameters, from the database alone."""
        runs = self.list_runs(status, Refresh.NONE, host=host)
        return export_rows(runs, self.get_prompts(r["prompt_id"] for r in runs))

    # -- views ---------------------------------------------------------------

    @property
    def unreachable(self) -> dict[str, str]:
        return dict(self.last_sync.unreachable)

    @property
    def slow(self) -> dict[str, str]:
        """Hosts that answered the last sync but whose engine was too slow to say everything (docker)."""
        return dict(self.last_sync.slow)

    def _note_unreachable(self) -> None:
        self.last_sync = self.repo.last_report


def sweep_grid(lists: Mapping[str, str], weights: Sequence[str]) -> dict[str, list]:
    """The grid of a sweep's lists as typed, by SWEPT name, and its weight sets (sweeps.parse_grid);
    CosmosError naming the list and the value that is wrong."""
    with as_cosmos_error():
        return sweeps.parse_grid(lists, weights)


def describe_sweep(prompt_count: int, grid: Mapping[str, Sequence], max_runs: int = MAX_RUNS) -> str:
    """'4 runs: 1 prompt × 2 seeds × 2 weight sets'; CosmosError if the sweep is empty or over `max_runs`."""
    with as_cosmos_error():
        sweeps.check_size(prompt_count, grid, max_runs)
    return sweeps.describe(prompt_count, grid)


@contextmanager
def _deleting() -> Iterator[None]:
    """_as_cosmos_error, and a refused or failed deletion."""
    try:
        with as_cosmos_error():
            yield
    except DeleteError as exc:
        raise CosmosError(str(exc)) from exc

"""Deleting a finished run (its local directory, its directory on its host, its row) and a prompt.

Nothing is removed before every check has passed: the run has finished and nothing is
downloading it, no unfinished upscale still reads its output, and the directory recorded
for it on its host is exactly `<checkout>/cosmos_runs/<run_id>` under the host's checkout
(never another run's directory, never anything else). The host's directory goes first: an
unreachable host leaves everything in place, so a later retry does it all. A prompt goes
with its runs only when asked, and takes along only the input files the dashboard kept for
it (under `outputs_dir/inputs/`) that no other prompt uses.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from cosmos_core.config import Config
from cosmos_core.executors import Executor, SubmitError
from cosmos_core.launcher import RUN_ID, RUNS_SUBDIR, run_dir_refusal
from cosmos_core.lifecycle import DOWNLOADABLE, RunStatus
from cosmos_core.repository import DataRepository, Refresh
from cosmos_core.ssh.host import RemoteError
from cosmos_core.store.tables import Run
from cosmos_core.uploads import is_kept, remove
from cosmos_core.words import count


class DeleteError(Exception):
    """A deletion was refused or failed; the message is one line saying which and why."""


@dataclass(frozen=True)
class RunDeletion:
    """What deleting one run removes."""

    id: str
    host: str
    status: str
    local_dir: str  # outputs_dir/run_<id>
    local_bytes: int  # what its files there weigh (0: none)
    remote_dir: str | None  # its directory on the host; None: none was recorded

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PromptDeletion:
    """What deleting one prompt removes: its runs (when asked) and the input files kept for it."""

    id: str
    name: str
    runs: tuple[RunDeletion, ...]
    files: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "runs": [r.to_dict() for r in self.runs],
                "files": list(self.files), "local_bytes": sum(r.local_bytes for r in self.runs),
                "hosts": sorted({r.host for r in self.runs})}


class Deleter:
    def __init__(self, repo: DataRepository, executors: Mapping[str, Executor], config: Config) -> None:
        self.repo = repo
        self.executors = executors
        self.config = config

    # -- runs ----------------------------------------------------------------

    def plan_run(self, run_id: str) -> RunDeletion:
        """What deleting the run removes; DeleteError if it may not be deleted now. Reads the database only."""
        run = self.repo.get_run(run_id, Refresh.NONE)
        if not RUN_ID.fullmatch(run.id):
            raise DeleteError(f"run id {run.id!r} is not a plain name: refusing to delete anything for it")
        if not RunStatus(run.status).is_terminal():
            raise DeleteError(f"run {run.id} is {run.status}: cancel it first")
        if run.download_status in DOWNLOADABLE:
            raise DeleteError(f"run {run.id} is still downloading its outputs: let it finish (sync --wait), "
                              f"then delete it")
        busy = [r for r in self.repo.upscales_of(run.id) if not RunStatus(r.status).is_terminal()]
        if busy:
            raise DeleteError(f"run {run.id} is the input of {busy[0].kind} run {busy[0].id}, which is "
                              f"{busy[0].status}: wait for it or cancel it first")
        if run.host not in self.executors:
            raise DeleteError(f"run {run.id} ran on host {run.host}, which is not in the config: "
                              f"its directory there cannot be deleted")
        if run.remote_run_dir is not None:
            self._check_remote_dir(run, run.remote_run_dir)
        local = self.repo.local_dir(run.id)
        return RunDeletion(run.id, run.host, run.status, str(local), _size(local), run.remote_run_dir)

    def _check_remote_dir(self, run: Run, run_dir: str) -> None:
        """The recorded directory `run_dir` must be exactly the run's own under the host's checkout for its model."""
        try:
            checkout = self.config.host(run.host).setup(run.model).remote_dir
        except KeyError:
            raise DeleteError(f"run {run.id} ran model {run.model!r}, unknown here: "
                              f"refusing to delete its directory on host {run.host}") from None
        expected = posixpath.join(checkout, RUNS_SUBDIR, run.id)
        refusal = run_dir_refusal(run_dir, run.id)
        if refusal is not None or run_dir != expected:
            raise DeleteError(f"run {run.id}: its directory on host {run.host} is recorded as "
                              f"{run_dir!r}, not {expected!r}: refusing to delete it")

    def delete_run(self, run_id: str) -> RunDeletion:
        """Delete the run's directory on its host, then its local directory, then its row."""
        plan = self.plan_run(run_id)
        with self.repo.run_lock(plan.id) as owned:  # no process of this install downloads it meanwhile
            if not owned:
                raise DeleteError(f"run {plan.id} is in use by another process (a download): try again shortly")
            plan = self.plan_run(run_id)  # as it is now that we hold it
            run = self.repo.stored_run(plan.id)
            executor = self.executors[plan.host]
            if plan.remote_dir is not None:
                try:
                    executor.delete_run_dir(plan.remote_dir)
                except (RemoteError, SubmitError) as exc:
                    raise DeleteError(f"run {plan.id} not deleted (nothing was): {exc}") from exc
            if not run.container_removed:
                executor.cleanup([plan.id])  # best effort: its exited container, if the sync left one
            _remove_tree(Path(plan.local_dir))
            self.repo.delete_run(plan.id)
        return plan

    # -- prompts -------------------------------------------------------------

    def plan_prompt(self, prompt_id: str, with_runs: bool = False) -> PromptDeletion:
        prompt = self.repo.get_prompt(prompt_id)
        runs = self.repo.runs_of_prompt(prompt.id)
        if runs and not with_runs:
            uses = "1 run uses" if len(runs) == 1 else f"{len(runs)} runs use"
            raise DeleteError(f"{uses} prompt {prompt.id}: delete them first or pass --with-runs")
        plans = []
        for run in runs:
            try:
                plans.append(self.plan_run(run.id))
            except DeleteError as exc:
                raise DeleteError(f"prompt {prompt.id} not deleted: {exc}") from exc
        return PromptDeletion(prompt.id, prompt.name, tuple(plans), tuple(self._kept_files(prompt.id)))

    def _kept_files(self, prompt_id: str) -> list[str]:
        """The prompt's input files that the dashboard kept for it and no other prompt uses."""
        prompt = self.repo.get_prompt(prompt_id)
        paths = dict.fromkeys(p for p in (prompt.video_path, prompt.depth_path, prompt.seg_path) if p)
        return [p for p in paths if is_kept(self.config.storage.outputs_dir, p) and Path(p).is_file()
                and self.repo.prompts_using_file(p) == [prompt_id]]

    def delete_prompt(self, prompt_id: str, with_runs: bool = False) -> PromptDeletion:
        """Its runs first (each entirely), then its row, then the input files kept for it alone."""
        plan = self.plan_prompt(prompt_id, with_runs)
        for done, run in enumerate(plan.runs):
            try:
                self.delete_run(run.id)
            except DeleteError as exc:
                raise DeleteError(f"prompt {plan.id} kept: {done} of its {count(len(plan.runs), 'run')} deleted, "
                                  f"then {exc}") from exc
        if not self.repo.delete_prompt(plan.id):
            raise DeleteError(f"prompt {plan.id} not deleted: a run started with it meanwhile")
        for path in plan.files:
            remove(path)  # and the upload's own directory, once empty
        return plan


def _size(path: Path) -> int:
    """Bytes of the files under `path` (symlinks not followed; 0 when it does not exist)."""
    if path.is_symlink() or not path.is_dir():
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _remove_tree(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)

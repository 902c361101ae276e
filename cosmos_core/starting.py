"""Starting a run: the host it goes to, its row, then its job through the host's executor.

The launch holds the run's lock from the row's creation until the job is submitted: a sync that can take
the lock of a run still `pending` or `uploading` knows the launching process died. A cancel during the
upload is a change in the database, which the upload notices between files: then nothing is started.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace

from peewee import PeeweeException

from cosmos_core.config import Config
from cosmos_core.executors import Executor, JobState, SubmitError
from cosmos_core.launcher import LaunchPlan
from cosmos_core.lifecycle import RunStatus, entered_at
from cosmos_core.repository import DataRepository, Refresh
from cosmos_core.ssh.host import RemoteError
from cosmos_core.start_steps import StartProgress, StartReport
from cosmos_core.store.queries import InvalidInput
from cosmos_core.store.tables import Run
from cosmos_core.upstream import gpu_queue

log = logging.getLogger(__name__)


class StartError(Exception):
    """A run could not be started; the message is one line saying why (the run, if created, is failed)."""


def hosts_serving(config: Config, model_name: str) -> list[str]:
    """The names of the configured hosts that serve the model, in the config's order."""
    return [h.name for h in config.hosts if model_name in h.models]


class Starter:
    def __init__(self, repo: DataRepository, executors: Mapping[str, Executor], config: Config) -> None:
        self.repo = repo
        self.executors = executors
        self.config = config

    def host_serving(self, model_name: str, host: str | None) -> str:
        """The named host, which must serve the model; else, of the hosts serving it, the one with the
        fewest active runs among those whose last contact did not fail (a new host included), else among
        the rest (config order breaks ties)."""
        if host is not None:
            config = self.config.host(host)
            if model_name not in config.models:
                served = ", ".join(config.models)
                raise InvalidInput(f"host {config.name} does not serve {model_name}; its models: {served}")
            return config.name
        serving = hosts_serving(self.config, model_name)
        if not serving:
            self.config.host(None)  # no hosts at all: that error says how to add one
            raise InvalidInput(f"no configured host serves {model_name} (add it to a host's models)")
        states = self.repo.host_states()
        busy = self.repo.active_runs_by_host()

        def failed(name: str) -> bool:
            return bool(states.get(name) and states[name].last_error)

        return min(serving, key=lambda name: (failed(name), busy.get(name, 0), serving.index(name)))

    def launch(self, plan: LaunchPlan, prompt_id: str, kind: str, host_name: str, params: dict, *,
               parent_run_id: str | None = None, on_progress: StartProgress | None = None,
               sweep_id: str | None = None) -> str:
        """Create the run and start its job; its id. StartError when the job could not start."""
        executor = self.executors[host_name]
        host = self.config.host(host_name)
        with self.repo.run_lock(plan.run_id):
            run = self.repo.create_run(plan.run_id, prompt_id, kind, host_name, params, parent_run_id,
                                       remote_run_dir=plan.remote_dir(host), model=plan.model, sweep_id=sweep_id)
            if executor.has_gpu_queue:  # its place in the host's GPU queue: creation order
                plan = replace(plan, ticket=gpu_queue.ticket(run.created_at, run.id), gpu_slots=host.gpus)
            self.repo.transition(run.id, RunStatus.PENDING, status=RunStatus.UPLOADING.value)
            self._submit(run, executor, plan, self._recording(run.id, on_progress))
        return run.id

    def _recording(self, run_id: str, listener: StartProgress | None) -> StartProgress:
        """Tells `listener` every report, and keeps each new step in the run's row (its `progress`, while
        it is still uploading) for whoever looks at the run meanwhile: one write per step, not per byte.
        That write only informs: a database locked by another process delays the start by its busy
        timeout, never stops it (the start's own record then meets the lock, and says so)."""
        kept = [""]

        def record(report: StartReport) -> None:
            words = report.step_words()
            if words != kept[0]:
                kept[0] = words
                try:
                    self.repo.transition(run_id, RunStatus.UPLOADING, progress=words)
                except PeeweeException as exc:
                    log.info("run %s: its start's step was not recorded: %s", run_id, exc)
            if listener is not None:
                listener(report)

        return record

    def _submit(self, run: Run, executor: Executor, plan: LaunchPlan, on_progress: StartProgress) -> None:
        def cancelled() -> bool:
            return self.repo.stored_run(run.id).status == RunStatus.CANCELLED.value

        try:
            handle = executor.submit(plan, on_progress, cancelled)
        except (SubmitError, RemoteError, OSError) as exc:
            if cancelled():
                return
            if isinstance(exc, RemoteError):
                self.repo.record_host(run.host, str(exc))
            self._fail(run, str(exc))
            raise StartError(f"run {run.id} failed to start: {exc}") from exc
        except KeyboardInterrupt:
            self._fail(run, "Interrupted while starting")
            executor.cleanup([run.id])
            raise
        self.repo.record_host(run.host, None)  # it answered: a host that passed its last contact
        status = RunStatus.QUEUED if executor.first_state is JobState.QUEUED else RunStatus.RUNNING
        started = self.repo.transition(run.id, RunStatus.UPLOADING, status=status.value, container_id=handle,
                                       progress=None, **{entered_at(status): time.time()})
        if not started:  # cancelled (or failed by someone else) while uploading: nothing may run
            executor.cancel(run.id, handle)
            executor.cleanup([run.id])
            now = self.repo.get_run(run.id, Refresh.NONE)
            if now.status != RunStatus.CANCELLED.value:
                raise StartError(f"run {run.id} became {now.status} while starting: {now.error}")

    def _fail(self, run: Run, error: str) -> None:
        self.repo.transition(run.id, [RunStatus.PENDING, RunStatus.UPLOADING], status=RunStatus.FAILED.value,
                             error=error, completed_at=time.time(), progress=None)

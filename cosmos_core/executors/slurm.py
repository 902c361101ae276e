"""The Slurm executor: each run is a batch job submitted on a login node over SSH.

The run's files go to the login node as for a Docker host (a cluster's home and
scratch are shared with its compute nodes); `sbatch --parsable` submits a job
script that runs the image in the foreground; one probe per sync asks `sacct` and
`squeue` about every job at once, by id or, where no id was recorded, by the job's
name `cosmos-<run_id>`; `scancel` cancels. Slurm keeps the jobs' records, so the
clean-up of a settled run is only to cancel a job it still has alive (a cancel that
failed, a start whose sbatch reply was lost): each probe does it until Slurm no
longer lists the job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cosmos_core.config import HostConfig
from cosmos_core.executors.base import JobState, ProbeReport, ProbeTarget, Shell, SubmitError
from cosmos_core.executors.shell import RunFiles, ShellExecutor
from cosmos_core.executors.slurm_cli import JOB_SCRIPT, cancel_command, job_script, parse_job_id, sbatch_command
from cosmos_core.executors.slurm_probe import build_probe_script, parse_probe_output
from cosmos_core.launcher import WORKSPACE, LaunchPlan
from cosmos_core.ssh.host import RemoteError
from cosmos_core.start_steps import StartProgress, StartStep, StepReporter
from cosmos_core.upstream.models import model


class SlurmExecutor(ShellExecutor):
    first_state = JobState.QUEUED  # Slurm decides when it runs
    has_gpu_queue = False

    def __init__(self, config: HostConfig, shell: Shell, files: RunFiles, probe_timeout: float) -> None:
        super().__init__(shell, files, probe_timeout)
        if config.slurm is None:
            raise ValueError(f"host {config.name} has no Slurm settings")
        self.config = config
        self.slurm = config.slurm

    def submit(self, plan: LaunchPlan, progress: StartProgress | None, cancelled: Callable[[], bool]) -> str:
        cfg = self.config
        setup = cfg.setup(plan.model)
        run_dir = plan.remote_dir(cfg)
        script = job_script(cfg, setup, plan.run_id, WORKSPACE, plan.env(cfg.num_gpus), plan.argv)
        steps = StepReporter(plan.run_id, cfg.name, progress)
        steps.step(StartStep.CONNECTING)
        self.files.upload(run_dir, setup.remote_dir, model(plan.model).checkout, plan.files_to_send(),
                          {**plan.texts, JOB_SCRIPT: script}, steps.upload, cancelled)
        if cancelled():
            raise SubmitError("cancelled before its job was submitted")
        steps.step(StartStep.SUBMITTING, "sbatch")
        result = self.shell.run(sbatch_command(self.slurm, plan.run_id, run_dir))
        job_id = parse_job_id(result.stdout) if result.ok else None
        if job_id is None:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise SubmitError(f"sbatch failed on {cfg.name} (exit {result.exit_code}): {detail[0]}")
        return job_id

    def probe(self, targets: Sequence[ProbeTarget], cleanup: Sequence[str] = ()) -> ProbeReport:
        script = build_probe_script(targets, cleanup)
        return parse_probe_output(self.shell.run("bash -s", stdin=script, timeout=self.probe_timeout).stdout,
                                  targets)

    def cancel(self, run_id: str, handle: str | None) -> None:
        """`scancel`; when it fails, the probes cancel the job of the now settled run."""
        self.shell.run(cancel_command(run_id, handle))

    def pause_queue(self, paused: bool) -> None:
        raise SubmitError("Slurm queues its own jobs: use scontrol hold/release")

    def move_to_front(self, run_id: str, ticket: str) -> None:
        raise SubmitError("Slurm orders its own queue: use scontrol top")

    def cleanup(self, run_ids: Sequence[str]) -> None:
        """Best effort: cancel any job still alive under these runs' names (for a run that stays in the
        database, the probes do it again until Slurm no longer lists its job)."""
        if not run_ids:
            return
        try:
            self.shell.run("; ".join(cancel_command(run_id, None) for run_id in run_ids))
        except RemoteError:
            pass

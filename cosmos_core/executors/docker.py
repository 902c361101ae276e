"""The Docker executor: each run is a container, on a GPU host over SSH or on this machine.

`docker run -d` with the run's checkout mounted at /workspace, named and labelled
by run id and kept after it exits (so that its exit code stays inspectable) until
its run has settled; one probe script per sync answers for every run at once.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Sequence

from cosmos_core.config import HostConfig
from cosmos_core.executors import docker_cli
from cosmos_core.executors.base import JobState, ProbeReport, ProbeTarget, Shell, SubmitError
from cosmos_core.executors.docker_probe import build_probe_script, parse_probe_output
from cosmos_core.executors.shell import RunFiles, ShellExecutor
from cosmos_core.launcher import WORKSPACE, LaunchPlan
from cosmos_core.ssh.host import RemoteError
from cosmos_core.start_steps import StartProgress, StartStep, StepReporter
from cosmos_core.upstream import gpu_queue
from cosmos_core.upstream.models import model


class DockerExecutor(ShellExecutor):
    # `docker run -d` starts the container at once; its script then waits in the host's GPU queue.
    first_state = JobState.QUEUED
    has_gpu_queue = True

    def __init__(self, config: HostConfig, shell: Shell, files: RunFiles, probe_timeout: float) -> None:
        super().__init__(shell, files, probe_timeout)
        self.config = config
        self.queue = config.queue_dir
        self.tickets, self.slots = (posixpath.join(self.queue, sub) for sub in (gpu_queue.TICKETS, gpu_queue.SLOTS))
        self.make_queue = gpu_queue.make_command(self.queue)

    def submit(self, plan: LaunchPlan, progress: StartProgress | None, cancelled: Callable[[], bool]) -> str:
        cfg = self.config
        setup = cfg.setup(plan.model)
        steps = StepReporter(plan.run_id, cfg.name, progress)
        steps.step(StartStep.CONNECTING)
        self.files.upload(plan.remote_dir(cfg), setup.remote_dir, model(plan.model).checkout,
                          plan.files_to_send(), plan.texts, steps.upload, cancelled)
        if cancelled():
            raise SubmitError("cancelled before its container started")
        env = plan.env(cfg.num_gpus)
        if plan.ticket:
            env |= self._slot_env(setup.run_args)
        command = docker_cli.run_command(
            cfg.docker, run_id=plan.run_id, image=setup.image, run_args=setup.run_args,
            mount_dir=setup.remote_dir, workspace=WORKSPACE, env=env, argv=plan.argv,
            mounts={self.queue: gpu_queue.MOUNT} if plan.ticket else None,
        )  # fmt: skip
        if plan.ticket:  # a bind mount's source must exist (podman refuses it otherwise)
            command = f"{self.make_queue} && {command}"
        steps.step(StartStep.STARTING, f"{posixpath.basename(cfg.docker[-1])} run")
        try:
            result = self.shell.run(command)
        except RemoteError:
            self.cleanup([plan.run_id])
            raise
        container_id = result.stdout.strip().splitlines()[-1:]
        if not result.ok or not container_id:
            self.cleanup([plan.run_id])
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise SubmitError(f"docker run failed on {cfg.name} (exit {result.exit_code}): {detail[0]}")
        return container_id[0]

    def _slot_env(self, run_args: Sequence[str]) -> dict[str, str]:
        """The queue's view of the machine for a run's script: which of the machine's GPUs its container
        gets (`--gpus "device=2,3"`: slots 2 and 3; else every GPU it sees, from 0), and how much memory
        in use makes a GPU busy outside the queue."""
        env = {"COSMOS_BUSY_MIB": str(self.config.busy_memory_mib)}
        ids = docker_cli.device_ids(docker_cli.split_gpus(run_args)[1])
        if ids is not None:
            env["COSMOS_GPU_IDS"] = ",".join(map(str, ids))
        return env

    def probe(self, targets: Sequence[ProbeTarget], cleanup: Sequence[str] = ()) -> ProbeReport:
        script = build_probe_script(self.config.docker, targets, cleanup, self.queue, probe_timeout=self.probe_timeout)
        answer = self.shell.run("bash -s", stdin=script, timeout=self.probe_timeout).stdout
        return parse_probe_output(answer, targets)

    def cancel(self, run_id: str, handle: str | None) -> None:
        self.shell.run(docker_cli.stop_command(self.config.docker, run_id))

    def pause_queue(self, paused: bool) -> None:
        """Hold (or release) the runs waiting in the host's GPU queue."""
        flag = shlex.quote(posixpath.join(self.tickets, gpu_queue.PAUSED))
        command = f"{self.make_queue} && touch {flag}" if paused else f"rm -f {flag}"
        self._checked(command, "pause" if paused else "resume")

    def move_to_front(self, run_id: str, ticket: str) -> None:
        """Give a queued run the ticket `ticket` (see gpu_queue.front_ticket); its lock goes with it."""
        command = (f"cd {shlex.quote(self.tickets)} && set -- *-{shlex.quote(run_id)} && [ -e \"$1\" ] "
                   f"&& mv -- \"$1\" {shlex.quote(ticket)}")
        self._checked(command, f"move run {run_id} to the front")

    def _checked(self, command: str, doing: str) -> None:
        result = self.shell.run(command)
        if not result.ok:
            detail = (result.stderr.strip() or f"exit {result.exit_code}").splitlines()[-1]
            raise SubmitError(f"cannot {doing} on {self.config.name}: {detail}")

    def cleanup(self, run_ids: Sequence[str]) -> None:
        """Best effort: the sync's clean-up removes what is left if the host cannot be reached now."""
        try:
            self.shell.run(docker_cli.remove_command(self.config.docker, map(docker_cli.container_name, run_ids)))
        except RemoteError:
            pass

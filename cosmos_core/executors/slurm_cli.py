"""Slurm command lines, the job script, and the reading of Slurm's answers (pure).

A run is one batch job named after it: its script runs the run's image with
the chosen container runtime (`docker`, `apptainer` or `pyxis`) in the
foreground, so the job's exit code is the container's. Slurm's states map onto
the engine-neutral `JobState` with a plain reason; `ExitCode=N:S` (exit code N,
or killed by signal S) onto one exit code as a shell would report it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from cosmos_core.config import HostConfig, ModelSetup, SlurmConfig
from cosmos_core.executors.base import JobState
from cosmos_core.executors.docker_cli import container_name, run_command, split_gpus
from cosmos_core.upstream.markers import MARKER_PREFIX

JOB_SCRIPT = "job.sh"  # in the run's directory
JOB_OUTPUT = "slurm.out"  # the job's own stdout and stderr (the model's log is run.log)
_JOB_GPUS = "@COSMOS_JOB_GPUS@"  # in a docker job's command, where the job's own GPUs go
# A docker job's GPUs: Slurm's global indices of them (SLURM_JOB_GPUS, set in batch jobs and not
# relative to the job's device cgroup), for the Docker daemon, which sees every GPU of the node. Without
# any, the run ends at once saying so, as the GPU queue's script does, rather than take them all.
_DOCKER_GPUS = f"""gpus=${{SLURM_JOB_GPUS:-}}
case $gpus in
  '' | *[!0-9,]*)
    printf '%s\\n' \\
      "[COSMOS_QUEUE] needs GPUs from Slurm: its job has none (SLURM_JOB_GPUS='$gpus'); set gres, e.g. gpu:1" \\
      "{MARKER_PREFIX}1" >>run.log
    exit 1 ;;
esac"""

RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED", "RESIZING",
                            "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "STOPPED"})
QUEUED_STATES = frozenset({"PENDING"})

# What a terminal state says about why a job ended, in plain words (COMPLETED and FAILED: the exit code says).
ENDED_BECAUSE = {
    "TIMEOUT": "it reached its time limit (Slurm TIMEOUT)",
    "OUT_OF_MEMORY": "out of memory (Slurm OUT_OF_MEMORY)",
    "CANCELLED": "cancelled in Slurm (CANCELLED)",
    "NODE_FAIL": "its node failed (Slurm NODE_FAIL)",
    "PREEMPTED": "preempted by another job (Slurm PREEMPTED)",
    "BOOT_FAIL": "its node failed to boot (Slurm BOOT_FAIL)",
    "DEADLINE": "it missed its deadline (Slurm DEADLINE)",
}

# Why a job waits, in plain words; any other reason is shown as Slurm spells it.
WAITING_BECAUSE = {
    "Resources": "GPUs or nodes to free up (Resources)",
    "Priority": "jobs with a higher priority (Priority)",
    "None": "the scheduler",
    "PartitionConfig": "a partition that can never fit the request (PartitionConfig): check gres and CPUs",
    "PartitionNodeLimit": "a partition that can never fit the request (PartitionNodeLimit)",
    "ReqNodeNotAvail": "a node that is down or reserved (ReqNodeNotAvail)",
    "Dependency": "another job (Dependency)",
    "QOSMaxJobsPerUserLimit": "your other jobs: the per-user job limit (QOSMaxJobsPerUserLimit)",
    "AssocGrpGRES": "your group's GPU quota (AssocGrpGRES)",
}


def sbatch_command(slurm: SlurmConfig, run_id: str, run_dir: str) -> str:
    """`sbatch --parsable` of the run's job script, with the host's partition, GPUs, time and account."""
    args = ["sbatch", "--parsable", "--job-name", container_name(run_id), "--chdir", run_dir,
            "--output", f"{run_dir}/{JOB_OUTPUT}"]
    for flag, value in (("--partition", slurm.partition), ("--gres", slurm.gres), ("--time", slurm.time_limit),
                        ("--account", slurm.account)):
        if value:
            args += [flag, value]
    return shlex.join([*args, f"{run_dir}/{JOB_SCRIPT}"])


def parse_job_id(stdout: str) -> str | None:
    """`--parsable` prints `JOBID` or `JOBID;CLUSTER`."""
    line = stdout.strip().splitlines()[-1:] or [""]
    job_id = line[0].split(";", 1)[0].strip()
    return job_id if job_id.isdigit() else None


def cancel_command(run_id: str, job_id: str | None) -> str:
    """`scancel` of the run's job: by its id, or by its name (among this user's jobs) when no id was recorded."""
    return shlex.join(["scancel", job_id] if job_id else ["scancel", "--me", "--name", container_name(run_id)])


def job_script(host: HostConfig, setup: ModelSetup, run_id: str, workspace: str, env: Mapping[str, str],
               argv: Sequence[str]) -> str:
    """The batch script: runs the job's container in the foreground (so its exit code is the job's) and,
    when Slurm signals the job (scancel, time limit), stops the container first so that the run's script
    still ends its log with the completion marker. A docker container gets the job's GPUs alone;
    apptainer and pyxis run inside the job's allocation, where Slurm already limits them to those."""
    runtime = host.slurm.container if host.slurm else "docker"
    env = {**env, "COSMOS_RUN_ID": run_id}
    prelude = ""
    if runtime == "docker":  # the container gets the job's GPUs, whatever run_args' --gpus says
        run_args = [*split_gpus(setup.run_args)[0], "--gpus", _JOB_GPUS]
        start = run_command(host.docker, run_id=run_id, image=setup.image, run_args=run_args,
                            mount_dir=setup.remote_dir, workspace=workspace, env=env, argv=argv, detach=False)
        start = start.replace(f" {_JOB_GPUS} ", ' "\\"device=$gpus\\"" ', 1)  # quoted as the NVIDIA toolkit asks
        stop = shlex.join([*host.docker, "stop", "-t", "10", container_name(run_id)])
        prelude = _DOCKER_GPUS
    elif runtime == "apptainer":
        env_args = [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
        start = shlex.join(["apptainer", "exec", "--nv", "--bind", f"{setup.remote_dir}:{workspace}",
                            "--pwd", workspace, *env_args, setup.image, *argv])
        stop = ""
    else:  # pyxis: srun's container options (enroot underneath)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        start = f"{exports} " + shlex.join(["srun", "--ntasks=1", f"--container-image={setup.image}",
                                           f"--container-mounts={setup.remote_dir}:{workspace}",
                                           f"--container-workdir={workspace}", *argv])
        stop = ""
    return "\n".join([
        "#!/bin/bash",
        f"# Cosmos run {run_id}, written by the Cosmos Run Dashboard.",
        *([prelude] if prelude else []),
        f"stop_container() {{ {stop or 'kill -TERM $child 2>/dev/null'}; }}",
        "trap stop_container TERM INT",
        f"{start} &",
        "child=$!",
        'wait "$child"; code=$?',
        'while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done  # a signal interrupted the wait',
        'exit "$code"',
    ]) + "\n"


def exit_code(text: str) -> int | None:
    """`ExitCode=N:S` as a shell reports it: N, or 128 + S when a signal S ended the job."""
    code, _, signal = text.partition(":")
    if not code.isdigit() or (signal and not signal.isdigit()):
        return None
    return 128 + int(signal) if signal and int(signal) else int(code)


def observed(state: str, code: str, reason: str) -> dict:
    """One job's state (from sacct, squeue or scontrol) in the executor-neutral words of `Observation`."""
    state = state.split(" ", 1)[0].rstrip("+")  # "CANCELLED by 0", "CANCELLED+"
    if state in QUEUED_STATES:
        return {"state": JobState.QUEUED, "reason": WAITING_BECAUSE.get(reason, reason)}
    if state in RUNNING_STATES:
        return {"state": JobState.RUNNING}
    number = exit_code(code)
    if number is None:
        return {"state": JobState.GONE, "reason": f"Slurm reports the job as {state} with no exit code"}
    return {"state": JobState.FINISHED, "exit_code": number, "reason": ENDED_BECAUSE.get(state, "")}


def parse_scontrol_line(line: str) -> tuple[str, str, str, str] | None:
    """`scontrol show job -o ID`: (job id, state, exit code, reason) from its KEY=VALUE words."""
    fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
    if "JobId" not in fields or "JobState" not in fields:
        return None
    return fields["JobId"], fields["JobState"], fields.get("ExitCode", ""), fields.get("Reason", "")

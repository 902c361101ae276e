"""The private Slurm cluster (tests/slurmkit.py) works, reached as the product
will reach it: over SSH to its login node, with strict host key checking.

What is pinned here is what the product's slurm executor must cope with:
sbatch --parsable ids, sacct -X rows (a job is missing from them for its
first seconds), squeue's live pending reason, scancel's "CANCELLED by 0",
and jobs that run the stand-in image through the docker shim.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostkit import TestHost, wait_until
from tests.slurmkit import SlurmCluster, SlurmLoginHost, short_hostname

SACCT = "sacct -n -P -X -o JobID,State,ExitCode,Reason -j"


@pytest.fixture(scope="module")
def cluster(slurm_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """The session's cluster (which checks, once stopped, that nothing had to be killed and nothing of
    it is left running); this module's jobs are cancelled after it."""
    yield slurm_cluster
    slurm_cluster.cancel_jobs()


@pytest.fixture(scope="module")
def login(slurm_login: SlurmLoginHost) -> SlurmLoginHost:
    return slurm_login


def submit(login: SlurmLoginHost, *args: str, cwd: Path | None = None) -> str:
    """sbatch --parsable over SSH; the job id."""
    chdir = ["-D", str(cwd)] if cwd else []
    result = login.ssh_run(["sbatch", "--parsable", *chdir, *args])
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip()
    assert job.isdigit(), result
    return job


def wait_sacct(login: SlurmLoginHost, job: str, state: str, timeout: float = 30) -> str:
    """Poll sacct over SSH until the job's row has ``state``; the row.

    A job is absent from sacct for its first 0-4 s (empty output, rc 0)."""

    def row() -> str:
        result = login.ssh_run(f"{SACCT} {job}")
        assert result.returncode == 0, result.stderr
        line = result.stdout.strip()
        return line if line.split("|")[1:2] == [state] else ""

    return wait_until(row, timeout, f"job {job} to be {state} in sacct", interval=0.3)


def squeue(login: SlurmLoginHost, job: str) -> str:
    result = login.ssh_run(["squeue", "-h", "-j", job, "-o", "%T|%r"])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_cluster_is_up_on_this_node(cluster: SlurmCluster) -> None:
    assert set(cluster.pids()) == {"munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd"}
    assert cluster.node == short_hostname()
    info = cluster.run("sinfo", "-h", "-o", "%P|%N|%G").stdout.split()
    assert info == [f"{cluster.partition}*|{cluster.node}|gpu:2"]
    assert cluster.timings["start"] < 20, cluster.timings


def test_login_session_has_slurm_conf_and_shim(login: SlurmLoginHost, gpu_host: TestHost) -> None:
    result = login.ssh_run('echo "$SLURM_CONF"; command -v docker sbatch')
    assert result.stdout.split() == [login.cluster.conf, gpu_host.docker_cmd, "/usr/bin/sbatch"], result


def test_exit_code_over_ssh(login: SlurmLoginHost, tmp_path: Path) -> None:
    job = submit(login, "--wrap", "exit 3", cwd=tmp_path)
    assert wait_sacct(login, job, "FAILED") == f"{job}|FAILED|3:0|None"


def test_gres_gpu_sets_cuda_visible_devices(login: SlurmLoginHost, tmp_path: Path) -> None:
    job = submit(login, "--gres=gpu:1", "--wrap", 'echo "$CUDA_VISIBLE_DEVICES" > cvd.txt', cwd=tmp_path)
    wait_sacct(login, job, "COMPLETED")
    assert (tmp_path / "cvd.txt").read_text().strip() in ("0", "1")


def test_too_many_cpus_stays_pending(login: SlurmLoginHost, tmp_path: Path) -> None:
    job = submit(login, "-c", "8", "--wrap", "true", cwd=tmp_path)
    try:
        wait_until(lambda: squeue(login, job) == "PENDING|PartitionConfig", 15, "reason PartitionConfig", 0.3)
    finally:
        login.ssh_run(["scancel", job])


def test_scancel_running_job(login: SlurmLoginHost, tmp_path: Path) -> None:
    job = submit(login, "--wrap", "sleep 300", cwd=tmp_path)
    wait_until(lambda: squeue(login, job).startswith("RUNNING|"), 15, "the job to run", 0.3)
    assert login.ssh_run(["scancel", job]).returncode == 0
    assert wait_sacct(login, job, "CANCELLED by 0") == f"{job}|CANCELLED by 0|0:0|None"


def test_job_runs_standin_image_through_shim(login: SlurmLoginHost, gpu_host: TestHost, tmp_path: Path) -> None:
    # sbatch exports the submitting (SSH) environment: the job's docker is the podman shim.
    script = f"command -v docker > docker.txt; docker run --rm {shlex.quote(gpu_host.image)} sh -c 'exit 5'"
    job = submit(login, "--wrap", script, cwd=tmp_path)
    assert wait_sacct(login, job, "FAILED") == f"{job}|FAILED|5:0|None"
    assert (tmp_path / "docker.txt").read_text().strip() == gpu_host.docker_cmd


def test_host_config_toml(login: SlurmLoginHost, gpu_host: TestHost) -> None:
    config = tomllib.loads(login.host_config_toml(models=("transfer1", "transfer2.5")))
    [host] = config["hosts"]
    assert host["port"] == login.port != gpu_host.port
    assert host["hostname"] == login.hostname
    assert (host["executor"], host["partition"], host["gres"], host["time_limit"]) == (
        "slurm",
        login.cluster.partition,
        "gpu:1",
        "00:10:00",
    )
    assert host["docker"] == gpu_host.docker_cmd
    assert "executor" not in host["model"]["transfer2.5"]
    # Strict host key checking against the known_hosts the block names.
    client = login.connect()
    client.close()

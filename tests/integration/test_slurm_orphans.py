"""No orphaned Slurm jobs (issue 19, item 2): jobs are found by their name `cosmos-<run_id>` as well as
by id, a run whose job id was never recorded is never failed while its job lives, and the job of a run
that is terminal in the database is cancelled by the probes until Slurm no longer lists it.

The faults are real Slurm failure modes, made on the login node by stand-ins first on its PATH that
call the real clients: `sbatch` submitting the job but answering "Socket timed out" (the reply is
lost), and `scancel` failing while the controller does not answer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, CosmosError, Refresh
from cosmos_core.config import load_config
from tests.hostkit import TestHost, make_video, wait_until
from tests.slurmkit import SlurmCluster, SlurmLoginHost
from tests.workspace import write_config

TIMED_OUT = "Socket timed out on send/recv operation"

SBATCH = """#!/bin/bash
# With {dir}/sbatch.lose present (removed on use): submit, then answer as if the reply were lost.
if [ -e {dir}/sbatch.lose ]; then
  rm -f {dir}/sbatch.lose
  {real} "$@" >/dev/null || exit
  echo "sbatch: error: Batch job submission failed: {timed_out}" >&2
  exit 1
fi
exec {real} "$@"
"""

SCANCEL = """#!/bin/bash
# Logs each call; fails while {dir}/scancel.failures counts failures still to come.
echo "$*" >>{dir}/scancel.calls
left=$(cat {dir}/scancel.failures 2>/dev/null || echo 0)
if [ "$left" -gt 0 ]; then
  echo $((left - 1)) >{dir}/scancel.failures
  echo "scancel: error: Kill job error on job id $*: {timed_out}" >&2
  exit 1
fi
exec {real} "$@"
"""


@pytest.fixture(scope="module")
def shims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("slurm-shims")
    for name, text in (("sbatch", SBATCH), ("scancel", SCANCEL)):
        real = shutil.which(name)
        assert real is not None, f"{name} is not installed"
        (directory / name).write_text(text.format(dir=directory, real=real, timed_out=TIMED_OUT))
        (directory / name).chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def login(gpu_host: TestHost, slurm_cluster: SlurmCluster, shims: Path) -> Iterator[SlurmLoginHost]:
    """A login node of its own, whose sessions find the stand-ins first on their PATH."""
    with SlurmLoginHost(gpu_host, slurm_cluster, shims) as login:
        yield login
    slurm_cluster.cancel_jobs()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, login: SlurmLoginHost) -> Iterator[CosmosAPI]:
    root = tmp_path_factory.mktemp("slurm-orphans")
    api = CosmosAPI(load_config(write_config(root, login.host, hosts_toml=login.host_config_toml("slurm1"))))
    yield api  # lost_after_seconds = 3: a run taken for gone would fail at once
    api.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "sample.mp4")


def start(api: CosmosAPI, text: str, video: Path) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"], host="slurm1")


def running(api: CosmosAPI, text: str, video: Path) -> dict:
    """A run started on slurm1 whose job runs."""
    run = start(api, text, video)
    wait_until(lambda: api.get_run(run["id"], Refresh.FORCE)["status"] == "running", 60, "the job to run",
               interval=0.5)
    return run


def live_jobs(login: SlurmLoginHost, run_id: str) -> list[str]:
    """`JOBID|STATE` of the jobs Slurm lists as alive under the run's name."""
    return login.cluster.run("squeue", "-h", "-n", f"cosmos-{run_id}", "-o", "%i|%T").stdout.split()


def settled(api: CosmosAPI, run_id: str, timeout: float) -> dict:
    def done() -> dict | None:
        run = api.get_run(run_id, Refresh.FORCE)
        ended = run["status"] in ("completed", "failed", "cancelled")
        return run if ended and run["download"]["status"] in ("done", "failed") else None

    return wait_until(done, timeout, f"run {run_id} to settle", interval=0.5)


def synced_until_gone(api: CosmosAPI, login: SlurmLoginHost, run_id: str, timeout: float) -> None:
    """Sync (as any refresh does) until Slurm no longer lists the run's job as alive."""
    wait_until(lambda: api.sync() and not live_jobs(login, run_id), timeout,
               f"the job of run {run_id} to be cancelled", interval=0.5)


def test_a_run_whose_job_id_was_never_recorded_is_found_by_name_and_completes(api, login, video):
    run = start(api, "id lost [sleep=4]", video)
    assert live_jobs(login, run["id"])
    api.repo.update_run(run["id"], container_id=None)  # the reply with the job id never arrived
    final = settled(api, run["id"], 90)
    assert (final["status"], final["exit_code"], final["error"]) == ("completed", 0, None)


def test_a_launch_that_died_after_sbatch_is_adopted_by_its_jobs_name(api, login, video):
    run = start(api, "launcher died [sleep=4]", video)
    [job] = live_jobs(login, run["id"])
    # The launching process died between sbatch and recording the job: the run is still uploading.
    api.repo.update_run(run["id"], status="uploading", container_id=None, started_at=None)
    adopted = wait_until(lambda: (r := api.get_run(run["id"], Refresh.FORCE))["status"] != "uploading" and r, 30,
                         "the sync to take the orphaned launch up", interval=0.5)
    assert adopted["status"] in ("queued", "running"), adopted["error"]
    assert job.startswith(api.repo.stored_run(run["id"]).container_id or "none")
    final = settled(api, run["id"], 90)
    assert (final["status"], final["exit_code"]) == ("completed", 0)


def test_a_lost_sbatch_reply_fails_the_start_and_the_probe_cancels_its_job(api, login, shims, video):
    prompt = api.add_prompt("reply lost [sleep=600]", video)["id"]
    (shims / "sbatch.lose").touch()
    with pytest.raises(CosmosError, match=f"sbatch failed on slurm1.*{TIMED_OUT}"):
        api.start_inference(prompt, host="slurm1")
    [run] = [r for r in api.list_runs(refresh=Refresh.NONE) if r["prompt_id"] == prompt]
    assert run["status"] == "failed"
    assert live_jobs(login, run["id"])  # the fault is real: Slurm runs a job nothing knows
    synced_until_gone(api, login, run["id"], 60)
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "failed"


def test_a_cancel_whose_scancel_failed_is_retried_by_later_probes_until_the_job_is_gone(api, login, shims, video):
    run = running(api, "cancel me [sleep=600]", video)
    (shims / "scancel.failures").write_text("2")  # the cancel's scancel and the next probe's both fail
    assert api.cancel(run["id"])["status"] == "cancelled"
    assert live_jobs(login, run["id"])
    synced_until_gone(api, login, run["id"], 60)
    assert len((shims / "scancel.calls").read_text().splitlines()) >= 3  # the cancel's, then the probes'
    wait_until(lambda: api.sync() and api.repo.stored_run(run["id"]).container_removed, 30,
               "the run's clean-up to be recorded once its job is gone", interval=0.5)
    assert f"cosmos-{run['id']}" not in login.host.docker("ps", "--format", "{{.Names}}").stdout
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "cancelled"


def test_deleting_a_cancelled_run_whose_job_lives_on_cancels_the_job(api, login, shims, video):
    run = running(api, "deleted at once [sleep=600]", video)
    (shims / "scancel.failures").write_text("1")  # the cancel's scancel fails
    api.cancel(run["id"])
    assert live_jobs(login, run["id"])
    api.delete_run(run["id"])  # no probe will ever ask about it again
    # The stand-in's job fails by itself once its directory is gone (a real model would compute on),
    # so what counts is the cancel the login node was asked for.
    assert f"--me --name cosmos-{run['id']}" in (shims / "scancel.calls").read_text()

"""Runs on a real Slurm cluster through the Slurm executor (issue 'Outgrowing one GPU box', point 4).

A private single-node Slurm 22.05 with accounting (tests/slurmkit.py) runs the stand-in model: the
product submits over SSH to the login node with `sbatch --parsable`, and each job runs the stand-in
image through the host's `docker` (podman) in the foreground. The node has 2 CPUs and 2 GPUs (gres).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, CosmosError, Refresh, StartReport
from cosmos_core.config import load_config
from tests.hostkit import make_video, wait_until
from tests.slurmkit import SlurmLoginHost
from tests.workspace import write_config

TIME_LIMIT_SECONDS = 150  # Slurm checks limits every 30 s and kills after KillWait: a 1 min limit ends in 74-87 s


@pytest.fixture(scope="module")
def login(slurm_login: SlurmLoginHost) -> Iterator[SlurmLoginHost]:
    """The session's cluster and login node; this module's jobs are cancelled after it."""
    yield slurm_login
    slurm_login.cluster.cancel_jobs()


# One product, one database (the models' database is one per process), four views of the cluster.
HOSTS = {
    "slurm1": {"gres": "gpu:1"},
    "slurm_too_big": {"gres": "gpu:3"},  # the node has 2
    "slurm_limited": {"gres": "gpu:1", "time_limit": "00:01:00"},  # its job holds one of the node's 2 GPUs
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, login: SlurmLoginHost) -> Iterator[CosmosAPI]:
    root = tmp_path_factory.mktemp("slurm")
    hosts = "".join(login.host_config_toml(name, **host) for name, host in HOSTS.items())
    api = CosmosAPI(load_config(write_config(root, login.host, hosts_toml=hosts, lost_after_seconds=60)))
    yield api
    api.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "sample.mp4")


@pytest.fixture(scope="module")
def time_limited(api: CosmosAPI, video: Path) -> str:
    """A run started first, on a host whose jobs get 1 minute, that sleeps for 10: checked last, so
    the other tests run while Slurm waits for its limit."""
    return start(api, "over time [sleep=600]", video, "slurm_limited")["id"]


def until(api: CosmosAPI, run_id: str, done, timeout: float, what: str) -> dict:
    return wait_until(lambda: (run := api.get_run(run_id, Refresh.FORCE)) and done(run) and run, timeout, what,
                      interval=0.5)


def settled(run: dict) -> bool:
    return run["status"] in ("completed", "failed", "cancelled") and run["download"]["status"] in ("done", "failed")


def start(api: CosmosAPI, text: str, video: Path, host: str = "slurm1") -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"], host=host)


def test_a_run_is_queued_then_completes_and_its_output_arrives_identical(time_limited, api, login,
                                                                          video):
    steps: list[StartReport] = []
    run = api.start_inference(api.add_prompt("on the cluster [sleep=1]", video)["id"], host="slurm1",
                              on_progress=steps.append)
    assert run["status"] == "queued" and run["host"] == "slurm1"
    said = list(dict.fromkeys(step.step_words() for step in steps))  # each step once, in order
    assert said == ["connecting to slurm1", "uploading to slurm1", "submitting the job on slurm1 (sbatch)"]
    assert run["progress"] is None  # the step is kept while it starts only
    job = login.cluster.run("squeue", "-h", "-o", "%i|%j").stdout
    assert f"cosmos-{run['id']}" in job  # submitted under the run's name
    final = until(api, run["id"], settled, 90, "the Slurm run to complete")
    assert (final["status"], final["exit_code"], final["error"]) == ("completed", 0, None)
    remote = Path(login.host.remote_dir) / "cosmos_runs" / run["id"] / "outputs" / "output.mp4"
    assert hashlib.sha256(Path(final["output_path"]).read_bytes()).digest() == hashlib.sha256(
        remote.read_bytes()).digest()
    assert final["started_at"] is not None


def test_a_failing_job_fails_the_run_with_its_exit_code(time_limited, api, video):
    run = start(api, "fails [exit=3]", video)
    final = until(api, run["id"], settled, 90, "the Slurm run to fail")
    assert (final["status"], final["exit_code"]) == ("failed", 3)
    assert final["error"].startswith("Job exited with code 3"), final["error"]
    assert final["download"]["status"] == "done"  # its log came back to read


def test_a_waiting_job_shows_queued_with_slurms_reason_and_cancel_stops_it(time_limited, api, login, video):
    """The time-limited job holds one GPU and one CPU of the node, the first job here the others."""
    first = start(api, "holds the GPUs [sleep=600]", video)
    until(api, first["id"], lambda r: r["status"] == "running", 60, "the first job to run")
    second = start(api, "waits [sleep=1]", video)
    waiting = until(api, second["id"], lambda r: "Resources" in (r["progress"] or ""), 60,
                    "the second job to wait for resources")
    assert waiting["status"] == "queued" and waiting["progress"].startswith("waiting for ")
    cancelled = api.cancel(first["id"])
    assert cancelled["status"] == "cancelled"
    wait_until(lambda: "CANCELLED" in login.cluster.run(
        "sacct", "-X", "-n", "-P", "-j", _job_id(api, first["id"]), "-o", "State").stdout, 30,
        "Slurm to record the cancel")
    wait_until(lambda: f"cosmos-{first['id']}" not in login.host.docker("ps", "--format", "{{.Names}}").stdout,
               30, "the cancelled job's container to stop")
    final = until(api, second["id"], settled, 90, "the waiting run to run once the GPUs are free")
    assert final["status"] == "completed"
    assert api.get_run(first["id"], Refresh.FORCE)["status"] == "cancelled"  # terminal: never changes


def _job_id(api: CosmosAPI, run_id: str) -> str:
    job_id = api.repo.stored_run(run_id).container_id
    assert job_id is not None, f"{run_id} has no Slurm job id"
    return job_id


def test_a_request_slurm_can_never_grant_is_refused_at_submit(time_limited, api, video):
    with pytest.raises(CosmosError, match="sbatch failed on slurm_too_big.*Requested node configuration"):
        start(api, "too big", video, "slurm_too_big")
    assert api.list_runs(refresh=Refresh.NONE, host="slurm_too_big")[0]["status"] == "failed"


def test_a_job_past_its_time_limit_fails_saying_so(time_limited, api):
    final = until(api, time_limited, settled, TIME_LIMIT_SECONDS, "Slurm to stop the job at its time limit")
    assert final["status"] == "failed"
    assert "time limit" in final["error"] and "TIMEOUT" in final["error"], final["error"]


def test_hosts_check_on_a_login_node_checks_slurm_and_the_checkout(time_limited, api):
    report = api.check_host("slurm1")
    assert report["ok"] and report["slurm"]["status"] == "ok" and "debug" in report["slurm"]["detail"]
    assert report["remote_dir"]["status"] == "ok" and "image" not in report and "docker" not in report

"""A slow Docker daemon never kills a live run (issue 19, item 4), on the real stand-in host.

The stand-in's docker shim is made slow (`TestHost.slow_docker`: a delay before the chosen docker
commands of SSH sessions) while a run computes. A container the probe listed but could not inspect
in time is unknown, never gone: its run is not failed however long `lost_after_seconds` has passed,
its container is never removed, and once docker answers again the run completes and downloads. The
docker calls of one probe share a budget below the probe timeout, so a slow daemon is reported as
docker being slow, not as the host being unreachable.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.executors import docker_cli
from cosmos_core.executors.base import ProbeTarget
from cosmos_core.lifecycle import RunStatus
from cosmos_core.status import remote_files
from tests.hostkit import TestHost, wait_until
from tests.workspace import Workspace, write_config

pytestmark = pytest.mark.slow

# Above the 10 s that each docker call of a probe once had on its own: with a shorter probe timeout
# the old probe timed out as a whole instead of reporting the container gone.
INSPECT_PROBE_TIMEOUT = 12.0
SLOW_INSPECT = 11.0  # past the budget of the probe's docker calls, and past the old 10 s per call
PROBE_TIMEOUT = 4.0
SLOW_ALL = 6.0  # every docker call, past the whole probe timeout


def slow_workspace(root: Path, host: TestHost, probe_timeout: float) -> Workspace:
    """A workspace that fails a lost run at once (`lost_after_seconds` 0) and waits `probe_timeout`."""
    return Workspace(root, write_config(root, host, lost_after_seconds=0, probe_timeout_seconds=probe_timeout), host)


def start(api: CosmosAPI, text: str, video: Path) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"])


def sync_until(api: CosmosAPI, run_id: str, done, timeout: float = 90, what: str = "") -> dict:
    return wait_until(lambda: (run := api.get_run(run_id, Refresh.FORCE)) and done(run) and run,
                      timeout, what or f"run {run_id}", interval=0.1)


def settled(run: dict) -> bool:
    terminal = run["status"] in ("completed", "failed", "cancelled")
    return terminal and run["download"]["status"] in ("done", "failed", "none")


def container_status(host: TestHost, run_id: str) -> str:
    """The run's container's state as podman has it now ("" when it does not exist); asked from this
    machine, so never slowed."""
    name = docker_cli.container_name(run_id)
    result = host.docker("inspect", "--format", "{{.State.Status}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def assert_completed_and_downloaded(api: CosmosAPI, workspace: Workspace, run_id: str) -> None:
    final = sync_until(api, run_id, settled, what="the run to complete once docker answers in time")
    assert (final["status"], final["exit_code"], final["error"]) == ("completed", 0, None)
    assert final["download"]["status"] == "done"
    remote = workspace.remote_run_dir(run_id) / "outputs" / "output.mp4"
    assert hashlib.sha256(Path(final["output_path"]).read_bytes()).digest() == hashlib.sha256(
        remote.read_bytes()).digest()


def test_a_container_docker_is_too_slow_to_inspect_is_unknown_and_its_run_completes(tmp_path, gpu_host, sample_video):
    """Injects: `docker inspect` takes 11 s (listing stays fast) while a run computes, with
    `lost_after_seconds` 0, and a cancelled run's container waits to be cleaned up. The probe reports
    the listed container unknown, not gone; three forced syncs (enough, before the fix, to note it
    gone, fail it and remove its container) leave the run running, never noted missing, its container
    in place and the host reachable, with docker named slow. Once inspect is fast again, clean-up
    removes the cancelled run's container and never the live one's, and the run completes with its
    output identical."""
    workspace = slow_workspace(tmp_path, gpu_host, INSPECT_PROBE_TIMEOUT)
    api = workspace.api()
    try:
        run_id = start(api, "computing while docker is slow [sleep=40]", sample_video)["id"]
        sync_until(api, run_id, lambda r: r["status"] == "running", what="the run to hold its GPU")
        settled_id = start(api, "cancelled, its container to clean up", sample_video)["id"]
        assert api.cancel(settled_id)["status"] == "cancelled"  # its container is stopped, not removed
        stored = api.repo.stored_run(run_id)
        target = ProbeTarget(run_id, stored.remote_run_dir, remote_files("inference", RunStatus.COMPLETED))
        with gpu_host.slow_docker(SLOW_INSPECT, "inspect"):
            seen = api.repo.syncer.checker.check_container_status("gpu1", target)
            assert seen.state == "unknown" and "docker" in seen.reason, seen
            for _ in range(3):
                report = api.sync(Refresh.FORCE)
                stored = api.repo.stored_run(run_id)
                assert (stored.status, stored.missing_since, stored.container_removed) == ("running", None, False)
                assert container_status(gpu_host, run_id) in ("running", "exited")  # never removed
                assert report.probed == ["gpu1"] and not report.unreachable, report
                assert "docker" in report.slow["gpu1"] and "inspect" in report.slow["gpu1"], report
        assert api.repo.host_state("gpu1").last_error is None  # it answered each time: no back-off
        wait_until(lambda: api.sync(Refresh.FORCE) and api.repo.stored_run(settled_id).container_removed, 30,
                   "the cancelled run's container to be cleaned up")
        assert container_status(gpu_host, settled_id) == ""
        assert container_status(gpu_host, run_id) in ("running", "exited")
        assert_completed_and_downloaded(api, workspace, run_id)
    finally:
        api.close()


def test_a_slow_daemon_is_docker_slow_not_an_unreachable_host(tmp_path, gpu_host, sample_video):
    """Injects: every docker command takes 6 s, longer than the whole probe timeout (4 s). A sync
    still returns within the probe timeout with the host probed (not unreachable, no back-off), the
    run unknown and unchanged, and docker named slow; `runs` exits 0 with one stderr line saying
    docker on gpu1 is slow. Once docker is fast again the run completes and downloads."""
    workspace = slow_workspace(tmp_path, gpu_host, PROBE_TIMEOUT)
    api = workspace.api()
    try:
        run_id = start(api, "computing while docker is slow [sleep=12]", sample_video)["id"]
        sync_until(api, run_id, lambda r: r["status"] == "running", what="the run to hold its GPU")
        with gpu_host.slow_docker(SLOW_ALL):
            began = time.monotonic()
            report = api.sync(Refresh.FORCE)
            seconds = time.monotonic() - began
            assert not report.unreachable and report.probed == ["gpu1"], report
            assert seconds < PROBE_TIMEOUT, seconds
            assert "docker" in report.slow["gpu1"] and "slow" in report.slow["gpu1"], report
            assert api.repo.host_state("gpu1").last_error is None
            assert api.repo.stored_run(run_id).status == "running"
            listed = workspace.cli("runs")
            assert listed.returncode == 0, listed.stderr
            lines = listed.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("warning: host gpu1: docker is slow"), listed.stderr
            assert "unreachable" not in listed.stderr
        assert container_status(gpu_host, run_id) in ("running", "exited")
        assert_completed_and_downloaded(api, workspace, run_id)
    finally:
        api.close()

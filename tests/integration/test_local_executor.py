"""The local executor (issue 'Outgrowing one GPU box': `executor = "local"`): the same scripts,
probes and status rules as a host over SSH, docker run as a local process, files copied instead of
sent over SFTP.

The stand-in host's checkout and docker shim (podman) are on this machine, so a `[[hosts]]` table
with `executor = "local"` pointing at them runs the stand-in model for real; its sshd log shows
that nothing went over SSH.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.executors import docker_cli
from cosmos_core.executors.local import LocalShell
from cosmos_core.launcher import SCRIPTS_DIR
from cosmos_core.ssh.host import CommandTimeout
from tests.hostkit import RUN_ARGS, TestHost, processes_mentioning, wait_until
from tests.workspace import Workspace, write_config

PROBE_TIMEOUT = 2.0  # sync.probe_timeout_seconds where a test waits for it


def local_config(root: Path, host: TestHost, docker: str | None = None, probe_timeout: float = 15) -> Path:
    """cosmos.toml with one host, `local1`, run on this machine (no hostname or user: the defaults)."""

    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return write_config(root, host, lost_after_seconds=30, probe_timeout_seconds=probe_timeout, hosts_toml=(
        "[[hosts]]\n"
        'name = "local1"\n'
        'executor = "local"\n'
        f"remote_dir = {q(host.remote_dir)}\n"
        f"image = {q(host.image)}\n"
        f"docker = {q(docker or host.docker_cmd)}\n"
        f"run_args = [{', '.join(q(a) for a in RUN_ARGS)}]\n"))


@pytest.fixture
def local(tmp_path: Path, gpu_host: TestHost) -> Workspace:
    return Workspace(tmp_path, local_config(tmp_path, gpu_host), gpu_host)


@pytest.fixture
def local_api(local: Workspace) -> Iterator[CosmosAPI]:
    api = local.api()
    try:
        yield api
    finally:
        names = [docker_cli.container_name(r["id"]) for r in api.list_runs(refresh=Refresh.NONE)]
        api.close()
        if names:
            local.host.docker("rm", "-f", "-t", "0", *names, check=False)


def start(api: CosmosAPI, text: str, video: Path) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"])


def settled(run: dict) -> bool:
    terminal = run["status"] in ("completed", "failed", "cancelled")
    return (terminal and run["download"]["status"] in ("done", "failed", "none")
            and run["metrics_status"] != "pending")  # a verified output's scores are made after it


def sync_until(api: CosmosAPI, run_id: str, done, timeout: float = 60, what: str = "") -> dict:
    return wait_until(lambda: (run := api.get_run(run_id, Refresh.FORCE)) and done(run) and run, timeout,
                      what or f"run {run_id}", interval=0.1)


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ssh_traffic(host: TestHost) -> tuple[int, int]:
    """(exec sessions, SFTP opens) the stand-in's sshd has logged so far."""
    return host.count_exec_sessions(), host.count_sftp_opens("")


def container_state(host: TestHost, run_id: str) -> str:
    result = host.docker("inspect", "--format", "{{.State.Status}}", docker_cli.container_name(run_id), check=False)
    return result.stdout.strip() if result.returncode == 0 else "gone"


def test_a_local_run_completes_and_its_output_is_copied_identical_without_ssh(local, local_api, sample_video):
    """The config defaults a local host's hostname and user; a run starts as a local container with
    the product's own scripts copied into its run dir, completes, and its output and log arrive
    byte-identical; the container is cleaned up, the run dir stays; the stand-in's sshd saw no exec
    session and no SFTP open in all that."""
    host = local_api.config.host("local1")
    assert (host.executor, host.hostname) == ("local", "localhost") and host.user
    traffic = ssh_traffic(local.host)
    run = start(local_api, "a local robot [sleep=2]", sample_video)
    assert run["host"] == "local1" and run["status"] == "queued"
    assert container_state(local.host, run["id"]) == "running"
    run_dir = local.remote_run_dir(run["id"])
    for script in SCRIPTS_DIR.glob("*.sh"):  # the same scripts as over SSH, copied
        assert (run_dir / "scripts" / script.name).read_bytes() == script.read_bytes()
    assert (run_dir / "inputs").is_dir()

    final = sync_until(local_api, run["id"], settled, what="the local run to complete")
    assert (final["status"], final["exit_code"], final["error"]) == ("completed", 0, None)
    assert final["download"]["status"] == "done"
    assert final["download"]["bytes_done"] == final["download"]["bytes_total"] > 0
    local_dir = local.root / "outputs" / f"run_{run['id']}"
    assert final["output_path"] == str(local_dir / "outputs" / "output.mp4")
    assert sha256(final["output_path"]) == sha256(run_dir / "outputs" / "output.mp4")
    assert (local_dir / "run.log").read_bytes() == (run_dir / "run.log").read_bytes()
    assert sorted(final["download"]["files"]) == sorted([final["output_path"], str(local_dir / "run.log")])
    assert not list(local_dir.rglob("*.part"))

    local_api.sync(Refresh.FORCE)  # settled: its container goes, its directory stays
    assert container_state(local.host, run["id"]) == "gone"
    assert run_dir.is_dir()
    assert local_api.get_run(run["id"], Refresh.FORCE) == final
    assert ssh_traffic(local.host) == traffic  # nothing went over SSH


def test_a_failing_local_run_fails_with_its_exit_code_and_its_log_is_copied(local, local_api, sample_video):
    run = start(local_api, "break locally [exit=3]", sample_video)
    final = sync_until(local_api, run["id"], settled, what="the local run to fail")
    assert (final["status"], final["exit_code"], final["error"]) == ("failed", 3, "Container exited with code 3")
    log = local.root / "outputs" / f"run_{run['id']}" / "run.log"
    assert final["download"]["status"] == "done" and final["download"]["files"] == [str(log)]
    assert final["output_path"] is None
    assert log.read_bytes() == (local.remote_run_dir(run["id"]) / "run.log").read_bytes()
    assert log.read_text().strip().endswith("[COSMOS_COMPLETE] exit_code=3")
    assert local_api.has_local_log(run["id"])


def test_cancel_stops_the_local_container(local, local_api, sample_video):
    run = start(local_api, "long local [sleep=60]", sample_video)
    assert container_state(local.host, run["id"]) == "running"
    result = local.cli("cancel", run["id"], check=True)
    assert "cancelled" in result.stdout
    assert container_state(local.host, run["id"]) in ("exited", "stopped", "gone")
    final = sync_until(local_api, run["id"], settled, what="the cancelled run to settle")
    assert (final["status"], final["error"]) == ("cancelled", "Cancelled by the user")
    log = (local.remote_run_dir(run["id"]) / "run.log").read_text()
    assert log.strip().endswith("[COSMOS_COMPLETE] exit_code=143")  # stopped by `docker stop` (SIGTERM)
    again = local.cli("cancel", run["id"])
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_logs_tail_reads_the_local_log_while_running_and_the_copy_after(local, local_api, sample_video):
    run = start(local_api, "logged locally [sleep=4]", sample_video)
    remote_log = local.remote_run_dir(run["id"]) / "run.log"
    wait_until(lambda: remote_log.is_file() and "standin: step" in remote_log.read_text(), 30,
               "a progress line in the log")
    assert not local_api.has_local_log(run["id"])
    tail = local.cli("logs", run["id"], "--tail", "2", check=True).stdout
    lines = tail.splitlines()
    assert len(lines) == 2, tail
    written = remote_log.read_text().splitlines()
    assert any(written[i:i + 2] == lines for i in range(len(written) - 1)), (lines, written[-5:])
    whole = local.cli("logs", run["id"], check=True).stdout
    assert remote_log.read_text().startswith(whole) and len(whole.splitlines()) > 2

    sync_until(local_api, run["id"], settled, what="the logged run to complete")
    assert local_api.has_local_log(run["id"])
    last = local.cli("logs", run["id"], "--tail", "1", check=True).stdout
    assert last.strip() == "[COSMOS_COMPLETE] exit_code=0"
    assert local_api.logs(run["id"], tail=3).splitlines() == remote_log.read_text().splitlines()[-3:]


def test_upscale_of_a_completed_local_run(local, local_api, sample_video):
    parent = start(local_api, "a local forest", sample_video)
    sync_until(local_api, parent["id"], settled, what="the parent run to complete")
    traffic = ssh_traffic(local.host)
    upscale = local_api.start_upscale(parent["id"], 0.5)
    assert upscale["host"] == "local1" and upscale["parent_run_id"] == parent["id"]
    up = sync_until(local_api, upscale["id"], settled, what="the upscale to complete")
    assert up["status"] == "completed" and up["output_path"].endswith("/outputs/output_4k.mp4")
    remote = local.remote_run_dir(upscale["id"]) / "outputs" / "output_4k.mp4"
    assert sha256(up["output_path"]) == sha256(remote)
    assert ssh_traffic(local.host) == traffic


def test_a_hung_local_docker_costs_a_refresh_the_probe_timeout_not_more(tmp_path, gpu_host, sample_video):
    """Injects: the local docker hangs (a gate in front of the shim holds every docker command). A
    sync returns within about the probe timeout naming local1's docker slow (not unreachable), the
    run does not move; once docker answers again the next sync sees it running, and it completes."""
    gate, waiting = tmp_path / "gate", tmp_path / "waiting"
    shim = tmp_path / "docker"
    shim.write_text("#!/bin/sh\n"
                    f"while [ -e {shlex.quote(str(gate))} ]; do touch {shlex.quote(str(waiting))}; sleep 0.05; done\n"
                    f'exec {shlex.quote(gpu_host.docker_cmd)} "$@"\n')
    shim.chmod(0o755)
    workspace = Workspace(tmp_path, local_config(tmp_path, gpu_host, str(shim), PROBE_TIMEOUT), gpu_host)
    api = workspace.api()
    run = {"id": "none-started"}
    try:
        run = start(api, "hung docker [sleep=6]", sample_video)
        sync_until(api, run["id"], lambda r: r["status"] == "running", what="the run to hold its GPU")
        healthy, _ = timed(lambda: api.sync(Refresh.FORCE))
        gate.touch()
        try:
            seconds, report = timed(lambda: api.sync(Refresh.FORCE))
            assert waiting.exists()  # the probe did reach docker, and waited there
        finally:
            gate.unlink()
        print(f"\nlocal sync: {healthy:.2f} s, {seconds:.2f} s with docker hung")
        assert not report.unreachable and set(report.slow) == {"local1"}, report
        assert report.slow["local1"].startswith("docker is slow: `docker ps` did not answer"), report
        assert seconds < healthy + PROBE_TIMEOUT + 3.0
        assert api.get_run(run["id"], Refresh.NONE)["status"] == "running"
        assert api.sync(Refresh.FORCE).probed == ["local1"]
        final = sync_until(api, run["id"], settled, what="the run to complete once docker answers")
        assert final["status"] == "completed" and final["download"]["status"] == "done"
    finally:
        api.close()
        gpu_host.docker("rm", "-f", "-t", "0", docker_cli.container_name(run["id"]), check=False)


def test_a_local_command_that_times_out_leaves_no_process_behind(tmp_path):
    """The command's shell starts a child and waits on it; at the timeout both go, not the shell alone."""
    marker = f"300.{secrets.randbelow(10**9):09d}"  # a sleep of its own, found by its command line
    try:
        with pytest.raises(CommandTimeout, match=r"^this machine: command timed out after 1 s$"):
            LocalShell().run(f"sleep {marker} & wait", timeout=1)
        wait_until(lambda: not processes_mentioning(marker), 10, "the shell and its child to be gone")
    finally:
        for pid in processes_mentioning(marker):
            os.kill(pid, signal.SIGKILL)


def timed(call) -> tuple[float, object]:
    began = time.monotonic()
    value = call()
    return time.monotonic() - began, value

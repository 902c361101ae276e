"""The product through the REAL Docker CLI (/usr/local/bin/docker) and Docker's own output formats.

There is no Docker engine here: podman serves the Docker Engine API from the
stand-in host's podman state (TestHost.start_docker_api), and the host's
`docker` is a shim that runs the real CLI against it.  Docker differs from
podman where the product parses: `inspect` prints `.Name` with a leading
slash, a missing container exits 1 with "Error: No such object".
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.executors import docker_cli as docker
from tests.hostkit import DOCKER_CLI, TestHost, processes_mentioning, wait_until
from tests.workspace import Workspace, write_config


@pytest.fixture(scope="module", autouse=True)
def docker_api(gpu_host: TestHost) -> Iterator[TestHost]:
    """The podman Docker API for this module; stopped (by PID, netns deleted) after it."""
    yield gpu_host.start_docker_api()
    gpu_host.stop_docker_api()


@pytest.fixture
def workspace(tmp_path: Path, gpu_host: TestHost) -> Workspace:
    """Overrides conftest's: the same workspace, but the host's `docker` is the real Docker CLI."""
    gpu_host.start_docker_api()  # no-op while it runs
    config = write_config(tmp_path, gpu_host)
    text = config.read_text()
    podman_block = gpu_host.host_config_toml("gpu1")
    assert podman_block in text
    config.write_text(text.replace(podman_block, gpu_host.host_config_toml("gpu1", docker_cli=True)))
    assert f'docker = "{gpu_host.docker_cli_cmd}"' in config.read_text()
    return Workspace(tmp_path, config, gpu_host)


def sync_until(api: CosmosAPI, run_id: str, done: Callable[[dict], bool], timeout: float = 30) -> dict:
    """Query the run (each query is a lazy sync) until `done(run)`; return it."""
    return wait_until(
        lambda: (run := api.get_run(run_id, Refresh.FORCE)) and done(run) and run, timeout, f"run {run_id}"
    )


def settled(run: dict) -> bool:
    terminal = run["status"] in ("completed", "failed", "cancelled")
    return (terminal and run["download"]["status"] in ("done", "failed", "none")
            and run["metrics_status"] != "pending")  # a verified output's scores are made after it


def start(api: CosmosAPI, text: str, video: Path) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"])


def inspect_over_ssh(host: TestHost, name: str) -> str:
    """The product's own `inspect` command line, run on the host over SSH as the product runs it."""
    result = host.ssh_run(docker.inspect_command((host.docker_cli_cmd,), [name]))
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_removed(host: TestHost, name: str) -> None:
    gone = host.docker_cli("inspect", "--format", "{{.Name}}", name, check=False)
    assert gone.returncode == 1 and gone.stderr.strip() == f"Error: No such object: {name}"


def test_hosts_check_is_ok_through_the_docker_cli(workspace):
    report = workspace.cli_json("hosts", "check", "gpu1")
    assert report["ok"], report
    podman = workspace.host.docker("version", "--format", "{{.Client.Version}}").stdout.strip()
    assert report["docker"] == {"status": "ok", "detail": podman}  # `.Server.Version` of the podman service
    assert report["image"]["status"] == "ok" and report["remote_dir"]["status"] == "ok"
    # The product's `docker` on the host is the Docker CLI itself, not podman.
    real = re.match(
        r"Docker version (\S+),",
        subprocess.run([DOCKER_CLI, "--version"], capture_output=True, text=True, check=True).stdout,
    )
    client = workspace.host.ssh_run([workspace.host.docker_cli_cmd, "version", "--format", "{{.Client.Version}}"])
    assert real and client.stdout == f"{real.group(1)}\n" and client.stdout.strip() != podman


def test_inference_completes_its_output_arrives_identical_then_the_container_is_removed(api, workspace, sample_video):
    host = workspace.host
    # conftest's `api` uses this module's workspace
    assert api.executors["gpu1"].shell.config.docker == (host.docker_cli_cmd,)
    run = start(api, "a red robot [sleep=2]", sample_video)
    name = docker.container_name(run["id"])
    sync_until(api, run["id"], lambda r: r["status"] == "running")  # queued until its script holds GPUs
    sync_until(api, run["id"], lambda r: r["download"]["status"] == "done")
    # Docker's format for the exited container; cleanup waits for the sync after the download.
    assert inspect_over_ssh(host, name) == f"/{name}\texited\t0\tfalse\n"
    final = sync_until(api, run["id"], settled)  # its scores are made in the syncs after
    assert (final["status"], final["exit_code"], final["error"]) == ("completed", 0, None)
    assert final["download"]["status"] == "done"
    local = workspace.root / "outputs" / f"run_{run['id']}" / "outputs" / "output.mp4"
    remote = workspace.remote_run_dir(run["id"]) / "outputs" / "output.mp4"
    assert final["output_path"] == str(local)
    assert local.read_bytes() == remote.read_bytes()
    api.sync(Refresh.FORCE)
    assert_removed(host, name)
    assert api.get_run(run["id"], Refresh.FORCE) == final
    assert workspace.remote_run_dir(run["id"]).is_dir()


def test_docker_formats_and_docker_kill_fails_with_137_and_a_kill_reason(api, workspace, sample_video):
    host = workspace.host
    run = start(api, "long [sleep=60]", sample_video)
    name = docker.container_name(run["id"])
    # What the Docker CLI prints for the product's own `ps` and `inspect` command lines.
    listed = host.ssh_run(docker.list_command((host.docker_cli_cmd,)))
    assert listed.returncode == 0 and name in listed.stdout.splitlines()  # `ps` names: no slash
    line = inspect_over_ssh(host, name)
    assert line == f"/{name}\trunning\t0\tfalse\n"  # Docker's .Name has the leading slash
    assert docker.parse_inspect_line(line) == docker.ContainerState(name, "running", 0, False)
    # The same container through the podman shim: no slash there.
    assert host.docker("inspect", "--format", "{{.Name}}", name).stdout == f"{name}\n"
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "running"

    host.docker_cli("kill", name)
    line = wait_until(lambda: "running" not in (out := inspect_over_ssh(host, name)) and out, 10, f"{name} to exit")
    assert line == f"/{name}\texited\t137\tfalse\n"
    assert docker.parse_inspect_line(line) == docker.ContainerState(name, "exited", 137, False)
    final = sync_until(api, run["id"], settled)
    assert (final["status"], final["exit_code"]) == ("failed", 137)
    assert final["error"] == "Container exited with code 137: killed (SIGKILL)"
    api.sync(Refresh.FORCE)
    assert_removed(host, name)


def test_cancel_stops_the_container_through_the_docker_cli(api, workspace, sample_video):
    host = workspace.host
    run = start(api, "long [sleep=60]", sample_video)
    name = docker.container_name(run["id"])
    result = workspace.cli("cancel", run["id"], check=True)
    assert "cancelled" in result.stdout
    # `docker stop -t 10`: SIGTERM, the script's trap writes the marker and exits 143.
    assert inspect_over_ssh(host, name) == f"/{name}\texited\t143\tfalse\n"
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "cancelled"
    again = workspace.cli("cancel", run["id"])
    assert again.returncode == 1 and "already cancelled" in again.stderr

    def removed_by_a_sync() -> bool:
        api.sync(Refresh.FORCE)
        return host.docker_cli("inspect", name, check=False).returncode != 0

    wait_until(removed_by_a_sync, 10, f"{name} to be removed")
    assert_removed(host, name)


def test_a_docker_daemon_that_is_down_is_reported_and_changes_no_run(api, workspace, sample_video):
    host = workspace.host
    run = start(api, "long [sleep=60]", sample_video)
    sync_until(api, run["id"], lambda r: r["status"] == "running")
    host.stop_docker_api()
    try:
        report = api.sync(Refresh.FORCE)
        assert "Cannot connect to the Docker daemon" in report.unreachable["gpu1"]
        assert api.get_run(run["id"], Refresh.FORCE)["status"] == "running"
        check = workspace.cli("hosts", "check", "gpu1", "--json")
        assert check.returncode == 1
        docker_check = json.loads(check.stdout)["docker"]
        assert docker_check["status"] == "fail" and "Cannot connect to the Docker daemon" in docker_check["detail"]
    finally:
        host.start_docker_api()
    # The container outlived the daemon (its conmon is not the service's child), as the run did.
    assert api.get_run(run["id"], Refresh.FORCE)["status"] == "running"
    assert inspect_over_ssh(host, docker.container_name(run["id"])).split("\t")[1] == "running"
    host.docker_cli("rm", "-f", docker.container_name(run["id"]))


def test_the_docker_api_stops_by_its_pid_and_leaves_nothing(gpu_host):
    gpu_host.start_docker_api()
    pid, netns, sock = gpu_host.docker_api_pid, gpu_host.docker_api_netns, str(gpu_host.docker_api_socket)
    assert pid and netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert processes_mentioning(sock) == [pid]
    gpu_host.stop_docker_api()
    assert gpu_host.docker_api_pid is None and not Path(f"/proc/{pid}").exists()
    assert processes_mentioning(sock) == []
    assert netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    cli = subprocess.run([gpu_host.docker_cli_cmd, "ps"], capture_output=True, text=True)  # Docker, no daemon
    assert cli.returncode == 1
    assert cli.stderr.strip() == f"Cannot connect to the Docker daemon at unix://{sock}. Is the docker daemon running?"

"""The SSH edge on the real sshd: reconnecting, sharing one Host between threads, a broken known_hosts."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cosmos_core.api import Refresh
from cosmos_core.config import load_config
from cosmos_core.executors.base import FileFacts
from cosmos_core.executors.ssh_files import SshFiles
from cosmos_core.ssh.host import Host
from tests.hostkit import free_port, kill_tree, wait_until
from tests.workspace import Workspace, write_config


def test_commands_and_sftp_reconnect_after_sshd_restarts(workspace):
    host = Host(load_config(workspace.config).hosts[0])
    try:
        assert host.run("echo one").stdout == "one\n"
        with host.sftp_session("listing") as sftp:
            assert "checkpoints" in sftp.listdir(workspace.host.remote_dir)
        workspace.host.stop_sshd()
        workspace.host.start_sshd()
        assert host.run("echo two").stdout == "two\n"  # a stale connection is replaced before anything runs
        with host.sftp_session("listing") as sftp:  # so is a stale SFTP client
            assert "checkpoints" in sftp.listdir(workspace.host.remote_dir)
    finally:
        host.close()


def test_one_host_shared_by_threads(workspace):
    host = Host(load_config(workspace.config).hosts[0])

    def command(i: int) -> str:
        return host.run(f"echo {i}").stdout.strip()

    def listing(_: int) -> bool:
        with host.sftp_session("listing") as sftp:
            return "checkpoints" in sftp.listdir(workspace.host.remote_dir)

    try:
        with ThreadPoolExecutor(8) as pool:
            echoes = list(pool.map(command, range(24)))
            listings = list(pool.map(listing, range(8)))
        assert echoes == [str(i) for i in range(24)] and all(listings)
    finally:
        host.close()


@pytest.mark.slow
def test_a_connection_that_carried_more_than_512_mib_still_runs_commands(workspace, tmp_path):
    """paramiko asks for new keys itself after 512 MiB, and a channel that the host closes meanwhile
    deadlocked its transport thread until "Key-exchange timed out" (paramiko #822). Two downloads of
    256 MiB put the 512th MiB just before the second one's close; commands follow on the connection."""
    size = 256 * 1024 * 1024
    remote = Path(workspace.host.remote_dir) / "256mib.bin"
    with open(remote, "wb") as f:
        f.truncate(size)  # zeros the host reads fast
    host = Host(load_config(workspace.config).hosts[0], command_timeout=20)
    files = SshFiles(host, read_timeout=20)
    try:
        for turn in range(2):
            local = tmp_path / f"copy{turn}"
            assert files._download_file(str(remote), local, FileFacts(size), lambda n: None, None)
            assert local.stat().st_size == size
            local.unlink()
        assert [host.run(f"echo {i}").stdout for i in range(5)] == [f"{i}\n" for i in range(5)]
    finally:
        host.close()
        remote.unlink()


def test_the_connection_asks_for_aes_gcm_first(workspace):
    host = Host(load_config(workspace.config).hosts[0])
    try:
        host.run("true")
        transport = host._client.get_transport()  # the one connection the host keeps
        assert (transport.local_cipher, transport.remote_cipher) == ("aes128-gcm@openssh.com",) * 2
    finally:
        host.close()


def test_a_host_without_aes_gcm_is_still_reached(workspace, tmp_path):
    """Injects: a second sshd of the stand-in offering AES-CTR only (as a hardened or old host might)."""
    config = tmp_path / "sshd_config"
    port = free_port()
    workspace.host.write_sshd_config(config, workspace.host.hostname, port, tmp_path / "sshd.pid")
    config.write_text(config.read_text() + "Ciphers aes128-ctr,aes256-ctr\n")
    workspace.host.trust(workspace.host.hostname, port)
    host = Host(dataclasses.replace(load_config(workspace.config).hosts[0], port=port))
    sshd = workspace.host.launch_sshd(config, workspace.host.hostname, port)
    try:
        assert host.run("echo ctr").stdout == "ctr\n"
        assert host._client.get_transport().remote_cipher == "aes128-ctr"
    finally:
        host.close()
        kill_tree(sshd.pid)
        sshd.wait(timeout=10)


def test_a_bad_known_hosts_line_fails_its_host_alone(tmp_path, gpu_host, sample_video):
    """gpu2's known_hosts gets a garbage line after its run started: syncs say so in one line naming
    the file and the line, and gpu1 (its own, good file) goes on as usual."""
    bad = tmp_path / "known_hosts_gpu2"
    good_lines = Path(gpu_host.known_hosts).read_text()
    bad.write_text(good_lines)
    hosts = (gpu_host.host_config_toml("gpu1") + "\n"
             + gpu_host.host_config_toml("gpu2").replace(gpu_host.known_hosts, str(bad)))
    ws = Workspace(tmp_path, write_config(tmp_path, gpu_host, hosts_toml=hosts), gpu_host)
    api = ws.api()
    prompt = api.add_prompt("[sleep=1] a street at night", sample_video)["id"]
    first, second = (api.start_inference(prompt, host=h)["id"] for h in ("gpu1", "gpu2"))
    api.close()
    bad.write_text(good_lines + "this-host ssh-ed25519 not*base64\n")
    where = f"{bad} line {len(good_lines.splitlines()) + 1}"

    api = ws.api()  # new connections, which read known_hosts again
    try:
        wait_until(lambda: api.get_run(first, Refresh.FORCE)["status"] == "completed", 60, "gpu1's run to complete")
        assert where in api.unreachable["gpu2"] and "gpu1" not in api.unreachable
        assert api.get_run(second, Refresh.NONE)["status"] in ("queued", "running")
    finally:
        api.close()
    shown = ws.cli("show", second)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert [line for line in shown.stderr.splitlines() if where in line] == shown.stderr.splitlines()[:1]

"""The SSH edge on the real sshd: reconnecting, and sharing one Host between threads."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cosmos_core.config import load_config
from cosmos_core.executors.base import FileFacts
from cosmos_core.executors.ssh_files import SshFiles
from cosmos_core.ssh.host import Host
from tests.hostkit import free_port, kill_tree


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
    sshd = workspace.host.launch_sshd(config, workspace.host.hostname, port)
    host = Host(dataclasses.replace(load_config(workspace.config).hosts[0], port=port))
    try:
        assert host.run("echo ctr").stdout == "ctr\n"
        assert host._client.get_transport().remote_cipher == "aes128-ctr"
    finally:
        host.close()
        kill_tree(sshd.pid)
        sshd.wait(timeout=10)

"""The SSH edge on the real sshd: reconnecting, and sharing one Host between threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cosmos_core.config import load_config
from cosmos_core.ssh.host import Host


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

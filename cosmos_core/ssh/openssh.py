"""Bulk downloads through OpenSSH's own `sftp` client, when it is installed.

paramiko does its cryptography in Python threads and reaches about half of
OpenSSH's throughput on a small machine; the big output files go through the
`sftp` binary instead, with the same host, user, key and known_hosts as the
paramiko connection and host keys still checked strictly. `reget` resumes from
the local file's size; a turn that must end early sends SIGINT, on which sftp
cuts the local file back to the bytes it has in order, so a resumed file never
has a hole.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from cosmos_core.config import HostConfig

POLL_SECONDS = 0.1  # how often progress is reported while sftp runs
MIN_BYTES = 16 * 1024 * 1024  # smaller files go over the connection already open
MIN_TURN_SECONDS = 20  # shorter download turns (the dashboard's) too
_SPECIAL = '\\"*?[]'  # escaped in sftp's quoted arguments (quote, escape, remote glob characters)


class OpenSshFailed(Exception):
    """sftp exited with an error; the message is its last line."""


def available() -> bool:
    return shutil.which("sftp") is not None


def sftp_command(config: HostConfig, connect_timeout: float) -> list[str]:
    """`sftp` in batch mode (commands on stdin), ignoring the user's ssh config: the product's
    config decides the host, port, user, key and known_hosts, and unknown keys are refused."""
    options = {
        "BatchMode": "yes", "StrictHostKeyChecking": "yes", "UserKnownHostsFile": str(config.known_hosts),
        "IdentitiesOnly": "yes", "ConnectTimeout": str(math.ceil(connect_timeout)),
        "ServerAliveInterval": str(math.ceil(connect_timeout / 3)), "ServerAliveCountMax": "3",
    }  # fmt: skip
    args = ["sftp", "-q", "-b", "-", "-F", "none", "-P", str(config.port), "-i", str(config.key_file)]
    for key, value in options.items():
        args += ["-o", f"{key}={value}"]
    return [*args, f"{config.user}@{config.hostname}"]


def quote(path: str) -> str:
    """A path as one sftp batch argument: double-quoted, with quotes, backslashes and glob
    characters escaped (sftp expands globs in remote paths)."""
    return '"' + "".join(f"\\{c}" if c in _SPECIAL else c for c in path) + '"'


def fetch(config: HostConfig, remote_path: str, part: Path, size: int, on_progress: Callable[[int], None],
          deadline: float | None, connect_timeout: float, lock_fd: int) -> bool:
    """Bring the remote file into `part`, resuming from its size. False if `deadline`
    (time.monotonic) came first; raises OpenSshFailed when sftp fails. sftp holds `lock_fd`
    open: should this process die, no other starts writing the file until sftp is done."""
    process = subprocess.Popen(sftp_command(config, connect_timeout), stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(lock_fd,))
    assert process.stdin is not None and process.stderr is not None
    process.stdin.write(f"reget {quote(remote_path)} {quote(str(part))}\n".encode())
    process.stdin.close()
    while True:
        try:
            code = process.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            try:
                on_progress(size_of(part))
            except BaseException:  # the listener stopped the download: so does sftp
                _interrupt(process)
                raise
            if deadline is not None and time.monotonic() >= deadline:
                _interrupt(process)
                on_progress(size_of(part))
                return False
    errors = process.stderr.read().decode(errors="replace").strip()
    on_progress(size_of(part))
    if code != 0:
        raise OpenSshFailed(errors.splitlines()[-1] if errors else f"sftp exited with code {code}")
    return True


def _interrupt(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # sftp then truncates the file to its in-order bytes
    process.wait()


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0

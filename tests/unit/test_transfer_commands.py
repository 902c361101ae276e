"""The shell commands a download sends to the host, run here by sh as the host's shell runs them."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from cosmos_core.ssh.transfer import hash_command, stream_command

AWKWARD_NAMES = ["output.mp4", "with space.mp4", "it's \"quoted\" $HOME `x`.mp4", "-dash.mp4", "ünï.mp4"]


def sh(command: str, path: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PATH": path} if path else None
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, env=env, timeout=30)


@pytest.fixture
def data() -> bytes:
    return os.urandom(300_000)


@pytest.mark.parametrize("name", AWKWARD_NAMES)
@pytest.mark.parametrize("offset", [0, 1, 65_536, 299_999])
def test_the_stream_command_writes_exactly_the_bytes_from_the_offset(tmp_path, data, name, offset):
    remote = tmp_path / name
    remote.write_bytes(data)
    result = sh(stream_command(str(remote), offset, len(data)))
    assert result.returncode == 0 and result.stdout == data[offset:]


def test_the_stream_command_stops_at_the_size_taken_when_the_file_has_grown_since(tmp_path, data):
    remote = tmp_path / "output.mp4"
    remote.write_bytes(data + b"appended later")
    assert sh(stream_command(str(remote), 10, len(data))).stdout == data[10:]


def test_the_stream_command_of_a_missing_file_says_why_on_stderr(tmp_path):
    result = sh(stream_command(str(tmp_path / "gone.mp4"), 0, 10))
    assert result.stdout == b"" and b"gone.mp4" in result.stderr


def bin_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only these tools (and the shell's basics)."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for tool in tools:
        (directory / tool).symlink_to(f"/usr/bin/{tool}")
    return str(directory)


@pytest.mark.parametrize("name", AWKWARD_NAMES)
@pytest.mark.parametrize("tools", [("openssl", "sha256sum"), ("sha256sum",)], ids=["openssl", "coreutils"])
def test_the_hash_command_prints_the_sha256_first_with_openssl_or_without(tmp_path, data, name, tools):
    remote = tmp_path / name
    remote.write_bytes(data)
    result = sh(hash_command(str(remote)), bin_with(tmp_path, *tools))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(b" ", 1)[0].decode() == hashlib.sha256(data).hexdigest()


def test_the_hash_command_of_a_missing_file_fails_with_sha256sums_reason(tmp_path):
    result = sh(hash_command(str(tmp_path / "gone.mp4")), bin_with(tmp_path, "openssl", "sha256sum"))
    assert result.returncode != 0 and b"gone.mp4" in result.stderr and result.stdout == b""


@pytest.mark.parametrize("command", [lambda p: stream_command(p, 0, 10), hash_command], ids=["stream", "hash"])
def test_a_symlink_is_refused_without_reading_what_it_leads_to(tmp_path, command):
    target = tmp_path / "host-file"
    target.write_bytes(b"secret")
    os.utime(target, (0, target.stat().st_mtime))  # atime before mtime: a read would move it (relatime)
    (tmp_path / "output.mp4").symlink_to(target)
    result = sh(command(str(tmp_path / "output.mp4")))
    assert (result.returncode, result.stdout) == (3, b"")
    assert result.stderr.decode() == f"symlink to {target}\n"
    assert target.stat().st_atime == 0

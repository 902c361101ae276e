"""Files between this machine and a host: uploads over SFTP, and resumable, verified downloads.

A download streams the file from a command on the host (`tail -c +N`, see `stream_command`)
over the connection already open: the bytes arrive in order, so the part file never has a
hole and the sha256 is computed as they arrive. It goes to `<file>.part`, resumes from that
file's size, is checked by size and sha256 against the host's file, and only then is renamed
into place: a crash or a cut connection at any point leaves something the next attempt
continues, never a wrong file under the real name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import posixpath
import shlex
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import paramiko

from cosmos_core.ssh.host import Started

READ_SIZE = 256 * 1024


class DownloadError(Exception):
    """A download cannot succeed as things stand (the file is wrong, not the link)."""


class LocalWriteError(Exception):
    """This machine could not write a downloaded file: its own disk, not the host or the link."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason} (this machine's disk)")


class DownloadRecorder(Protocol):
    def progress(self, bytes_done: int, bytes_total: int) -> None: ...

    def is_verified(self, path: Path) -> bool:
        """Whether this local file was checked and put in place by an earlier turn."""

    def file_done(self, path: Path) -> None:
        """This local file is now checked and in place."""


def sha256_of(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            digest.update(chunk)
    return digest


# Brings the remote file into the part file from `offset` on: False if the turn's deadline came
# first. Given a digest, it also feeds it every byte (so the file need not be read again).
Fetch = Callable[[Path, int, "hashlib._Hash | None"], bool]


def stream_fetch(start: Callable[[int], Started], remote_path: str, size: int, on_progress: Callable[[int], None],
                 deadline: float | None) -> Fetch:
    """Fetch from a command's output: `start(offset)` starts one on the host that writes the file from
    byte `offset` on (see `stream_command`). The bytes arrive in order, so the part file never has a hole
    and a digest sees every byte once; a turn that must end early stops the command."""
    def fetch(part: Path, offset: int, digest: hashlib._Hash | None) -> bool:
        stream = start(offset)
        try:
            complete = _append(iter(lambda: stream.read(READ_SIZE), b""), remote_path, part, offset, size,
                               on_progress, deadline, digest)
        except DownloadError:  # the output ended short: the host's reason, if it gave one
            reason = stream.wait().stderr.strip()
            if reason:
                raise DownloadError(f"cannot read {remote_path} on the host: {reason.splitlines()[-1]}") from None
            raise
        except BaseException:
            stream.stop()
            raise
        if not complete:
            stream.stop()
            return False
        result = stream.wait()
        if not result.ok:
            reason = (result.stderr.strip() or f"exit {result.exit_code}").splitlines()[-1]
            raise DownloadError(f"cannot read {remote_path} on the host: {reason}")
        return True

    return fetch


def stream_command(remote_path: str, offset: int, size: int) -> str:
    """The shell command that writes bytes `offset`..`size` of a file (a file grown since stops there)."""
    quoted = shlex.quote(remote_path)
    return f"{_refuse_symlink(quoted)}tail -c +{offset + 1} -- {quoted} | head -c {size - offset}"


def hash_command(remote_path: str) -> str:
    """The shell command that prints a file's sha256 first: OpenSSL's where installed (several times
    faster than coreutils' `sha256sum` on CPUs with SHA instructions), else `sha256sum`."""
    quoted = shlex.quote(remote_path)
    return f"{_refuse_symlink(quoted)}openssl dgst -sha256 -r -- {quoted} 2>/dev/null || sha256sum -- {quoted}"


def _refuse_symlink(quoted: str) -> str:
    """A shell guard that fails (exit 3, "symlink to TARGET" on stderr) when the path is a symlink:
    the file may have become one since the probe saw it, and what it leads to (maybe out of the run's
    directory) is never read."""
    return f"if [ -L {quoted} ]; then printf 'symlink to %s\\n' \"$(readlink -- {quoted})\" >&2; exit 3; fi; "


def download_file(fetch: Fetch, remote_path: str, local_path: Path, size: int, remote_sha256: Callable[[], str],
                  on_progress: Callable[[int], None]) -> bool:
    """Bring `remote_path` (`size` bytes) to `local_path` with `fetch`, verified. False if the
    turn's deadline passed first; the `.part` file then holds what arrived.

    `remote_sha256()` is asked only once the bytes are all here. A download that spans
    many short dashboard refreshes is hashed once, at the end, never re-read each turn;
    one fetched whole in one turn is hashed as it arrives."""
    if local_path.is_file() and local_path.stat().st_size == size and \
            sha256_of(local_path).hexdigest() == remote_sha256():  # put in place by a turn whose record was lost
        on_progress(size)
        return True
    part = local_path.with_name(local_path.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "ab") as lock:
        try:  # another process of this machine is writing it: leave it that turn
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        offset = part.stat().st_size
        if offset > size:
            os.truncate(part, 0)
            offset = 0
        on_progress(offset)
        digest = hashlib.sha256() if offset == 0 else None
        if offset < size and not fetch(part, offset, digest):
            return False
        if (digest or sha256_of(part)).hexdigest() != remote_sha256():
            os.truncate(part, 0)
            raise DownloadError(f"{remote_path}: sha256 mismatch after download (the partial file was discarded)")
        os.replace(part, local_path)
    return True


def local_fetch(source: Path, size: int, on_progress: Callable[[int], None], deadline: float | None) -> Fetch:
    """Fetch by copying a file on this machine (the local executor's runs)."""
    def fetch(part: Path, offset: int, digest: hashlib._Hash | None) -> bool:
        with open(source, "rb") as src:
            src.seek(offset)
            return _append(iter(lambda: src.read(READ_SIZE), b""), str(source), part, offset, size, on_progress,
                           deadline, digest)

    return fetch


def _append(chunks: Iterator[bytes], name: str, part: Path, offset: int, size: int,
            on_progress: Callable[[int], None], deadline: float | None, digest: hashlib._Hash | None) -> bool:
    """Append `chunks` (bytes `offset`.. of the file) to `part`, and to `digest`, up to `size` bytes;
    False if `deadline` came first."""
    with open(part, "ab") as dst:
        for chunk in chunks:
            chunk = chunk[: size - offset]  # a file grown since its size was taken: its sha256 will tell
            try:
                dst.write(chunk)
            except OSError as exc:
                raise LocalWriteError(part, exc.strerror or str(exc)) from exc
            if digest is not None:
                digest.update(chunk)
            offset += len(chunk)
            on_progress(offset)
            if offset >= size:
                return True
            # Checked after a chunk, so that every call makes progress.
            if deadline is not None and time.monotonic() >= deadline:
                return False
    if offset < size:
        raise DownloadError(f"{name} is shorter than the {size} bytes reported")
    return True


def upload_file(sftp: paramiko.SFTPClient, local_path: Path, remote_path: str,
                on_progress: Callable[[int, int], None] | None = None) -> None:
    sftp.put(str(local_path), remote_path, callback=on_progress, confirm=True)


def make_dirs(sftp: paramiko.SFTPClient, remote_dir: str) -> None:
    """`mkdir -p` over SFTP."""
    missing = []
    path = remote_dir.rstrip("/")
    while path and not _is_dir(sftp, path):
        missing.append(path)
        path = posixpath.dirname(path)
    for directory in reversed(missing):
        sftp.mkdir(directory)


def _is_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except FileNotFoundError:
        return False

"""Files over SFTP: uploads, and resumable, verified downloads.

A download goes to `<file>.part`, resumes from that file's size, is checked by
size and sha256 against the host's file, and only then is renamed into place: a
crash or a cut connection at any point leaves something the next attempt
continues, never a wrong file under the real name. A file fetched whole in one
go is hashed as it arrives, so nothing is read twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import posixpath
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import paramiko

READ_SIZE = 256 * 1024
# A download asks for one window at a time, every request of the window in
# flight at once: paramiko's prefetch falls off a cliff (~5 MB/s) when its
# concurrency is capped low (paramiko #2455), so it is not capped at all; the
# window bounds what a budget-limited download requests and then throws away.
PREFETCH_WINDOW = 32 * 1024 * 1024


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
# first. Given a digest, it also feeds it every byte (so the file need not be read again). The last
# argument is the part file's lock: a process the fetch starts must hold it open until it ends.
Fetch = Callable[[Path, int, "hashlib._Hash | None", int], bool]


def sftp_fetch(sftp: paramiko.SFTPClient, remote_path: str, size: int, on_progress: Callable[[int], None],
               deadline: float | None) -> Fetch:
    """Fetch over paramiko's SFTP client."""
    return lambda part, offset, digest, lock: _fetch(sftp, remote_path, part, offset, size, on_progress, deadline,
                                                     digest)


def download_file(fetch: Fetch, remote_path: str, local_path: Path, size: int, remote_sha256: Callable[[], str],
                  on_progress: Callable[[int], None], streams: bool = True) -> bool:
    """Bring `remote_path` (`size` bytes) to `local_path` with `fetch`, verified. False if the
    turn's deadline passed first; the `.part` file then holds what arrived.

    `remote_sha256()` is asked only once the bytes are all here. A download that spans
    many short dashboard refreshes is hashed once, at the end, never re-read each turn;
    one fetched whole in one turn by a fetch that `streams` is hashed as it arrives."""
    if local_path.is_file() and local_path.stat().st_size == size and \
            sha256_of(local_path).hexdigest() == remote_sha256():  # put in place by a turn whose record was lost
        on_progress(size)
        return True
    part = local_path.with_name(local_path.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "ab") as lock:
        try:  # a transfer started by a process that has died may still be writing it: wait for its end
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        offset = part.stat().st_size
        if offset > size:
            os.truncate(part, 0)
            offset = 0
        on_progress(offset)
        digest = hashlib.sha256() if offset == 0 and streams else None
        if offset < size and not fetch(part, offset, digest, lock.fileno()):
            return False
        if (digest or sha256_of(part)).hexdigest() != remote_sha256():
            os.truncate(part, 0)
            raise DownloadError(f"{remote_path}: sha256 mismatch after download (the partial file was discarded)")
        os.replace(part, local_path)
    return True


def local_fetch(source: Path, size: int, on_progress: Callable[[int], None], deadline: float | None) -> Fetch:
    """Fetch by copying a file on this machine (the local executor's runs)."""
    def fetch(part: Path, offset: int, digest: hashlib._Hash | None, lock: int) -> bool:
        with open(source, "rb") as src:
            return _append(src, str(source), part, offset, size, on_progress, deadline, digest, None)

    return fetch


def _fetch(sftp: paramiko.SFTPClient, remote_path: str, part: Path, offset: int, size: int,
           on_progress: Callable[[int], None], deadline: float | None, digest: hashlib._Hash | None) -> bool:
    with sftp.open(remote_path, "rb") as src:
        return _append(src, remote_path, part, offset, size, on_progress, deadline, digest, src.prefetch)


class _Source(Protocol):
    """A file read at offsets: a local one, or paramiko's SFTPFile."""

    def seek(self, offset: int, /) -> object: ...

    def read(self, size: int, /) -> bytes: ...


def _append(src: _Source, name: str, part: Path, offset: int, size: int, on_progress: Callable[[int], None],
            deadline: float | None, digest: hashlib._Hash | None, prefetch: Callable[[int], None] | None) -> bool:
    """Append bytes `offset`..`size` of `src` to `part` (and to `digest`), a window at a time, each
    window asked for at once with `prefetch`; False if `deadline` came first."""
    with open(part, "ab") as dst:
        while offset < size:
            window_end = min(size, offset + PREFETCH_WINDOW)
            src.seek(offset)
            if prefetch is not None:
                prefetch(window_end)
            while offset < window_end:
                chunk = src.read(min(READ_SIZE, window_end - offset))
                if not chunk:
                    raise DownloadError(f"{name} is shorter than the {size} bytes reported")
                try:
                    dst.write(chunk)
                except OSError as exc:
                    raise LocalWriteError(part, exc.strerror or str(exc)) from exc
                if digest is not None:
                    digest.update(chunk)
                offset += len(chunk)
                on_progress(offset)
                # Checked after a chunk, so that every call makes progress.
                if deadline is not None and time.monotonic() >= deadline and offset < size:
                    return False
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

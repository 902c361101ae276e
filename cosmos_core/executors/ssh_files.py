"""A run's files on a host reached over SSH: uploads over SFTP, verified downloads, log reads.

Downloads stream over the connection already open (see ssh/transfer.py); the host hashes
the file while it transfers, never inside a probe.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import paramiko

from cosmos_core.executors.base import FileFacts, SubmitError, UploadProgress
from cosmos_core.executors.run_probe import build_facts_script, parse_facts_output
from cosmos_core.executors.shell import download_all
from cosmos_core.ssh.host import Host, Started
from cosmos_core.ssh.transfer import (
    DownloadError,
    DownloadRecorder,
    download_file,
    hash_command,
    make_dirs,
    sha256_of,
    stream_command,
    stream_fetch,
    upload_file,
)


class SshFiles:
    """The files of runs on one host, over its one SSH connection."""

    def __init__(self, host: Host, read_timeout: float) -> None:
        self.host = host
        self.read_timeout = read_timeout  # a host silent this long during a read is given up on
        self.hashes = _RemoteHashes(host)

    # -- uploads -------------------------------------------------------------

    def upload(self, run_dir: str, checkout: str, checkout_name: str, uploads: Mapping[str, Path],
               texts: Mapping[str, str], on_upload: UploadProgress | None, cancelled: Callable[[], bool]) -> None:
        """The run's directory with inputs/, scripts/ and outputs/, its files and texts. Stops (with
        SubmitError) as soon as `cancelled()` says so, between files."""
        with self.host.sftp_session("uploading the run's files") as sftp:
            _check_checkout(sftp, checkout, checkout_name, self.host.config.name)
            for sub in ("inputs", "scripts", "outputs"):
                make_dirs(sftp, f"{run_dir}/{sub}")
            for name, local in uploads.items():
                callback = _watched(name, on_upload, cancelled)
                if name.startswith("inputs/"):
                    _upload_input(sftp, local, run_dir, name, callback)
                else:
                    upload_file(sftp, local, f"{run_dir}/{name}", callback)
            for name, text in texts.items():
                with sftp.open(f"{run_dir}/{name}", "w") as f:
                    f.write(text.encode())

    # -- reads ---------------------------------------------------------------

    def read_log(self, path: str, tail: int | None) -> str:
        quoted = shlex.quote(path)
        return self.host.run(f"tail -n {int(tail)} -- {quoted}" if tail else f"cat -- {quoted}").stdout

    def file_facts(self, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]:
        result = self.host.run("bash -s", stdin=build_facts_script(run_dir, names), timeout=self.read_timeout)
        return parse_facts_output(result.stdout)

    # -- downloads -----------------------------------------------------------

    def download(self, run_dir: str, files: Mapping[str, FileFacts], local_dir: Path,
                 recorder: DownloadRecorder, deadline: float | None) -> bool:
        def download_one(name: str, local: Path, facts: FileFacts, progress: Callable[[int], None]) -> bool:
            return self._download_file(f"{run_dir}/{name}", local, facts, progress, deadline)

        return download_all(files, local_dir, recorder, download_one)

    def _download_file(self, remote: str, local: Path, facts: FileFacts, progress: Callable[[int], None],
                       deadline: float | None) -> bool:
        known, size = facts.sha256, facts.size

        def start(offset: int) -> Started:
            stream = self.host.start(stream_command(remote, offset, size), timeout=self.read_timeout)
            if known is None:  # asked once the bytes flow: the hash is needed only when they are all here
                self.hashes.start(remote)
            return stream

        remote_sha256 = (lambda: known) if known else (lambda: self.hashes.result(remote))
        return download_file(stream_fetch(start, remote, size, progress, deadline), remote, local, size,
                             remote_sha256, progress)


CANCEL_CHECK_SECONDS = 0.5  # how often an upload asks whether its run was cancelled meanwhile
INPUT_STORE = ".inputs"  # beside the run directories: each input's bytes once, named by their sha256


def _upload_input(sftp: paramiko.SFTPClient, local: Path, run_dir: str, name: str,
                  callback: Callable[[int, int], None]) -> None:
    """An input crosses to the host once per content (a sweep's runs share their video): into the store
    beside the run directories, named by its sha256, unless a file of that name and size is there
    already; the run's own path is a relative symlink to it, which the container sees inside the same
    mount. The store's files are whole: each is written under a name of its own, then renamed."""
    size = local.stat().st_size
    store = posixpath.join(posixpath.dirname(run_dir), INPUT_STORE)
    stored = f"{store}/{sha256_of(local).hexdigest()}{local.suffix}"
    if _size_of(sftp, stored) == size:
        callback(size, size)
    else:
        make_dirs(sftp, store)
        part = f"{stored}.{secrets.token_hex(4)}.part"
        upload_file(sftp, local, part, callback)
        sftp.posix_rename(part, stored)
    link = f"{run_dir}/{name}"
    sftp.symlink(posixpath.relpath(stored, posixpath.dirname(link)), link)


def _size_of(sftp: paramiko.SFTPClient, path: str) -> int | None:
    try:
        return sftp.stat(path).st_size
    except FileNotFoundError:
        return None


def _watched(name: str, on_upload: UploadProgress | None, cancelled: Callable[[], bool]) -> Callable[[int, int], None]:
    """The progress callback of one file's upload: reports progress, and stops the upload (SubmitError)
    once the run is cancelled, asked at most every CANCEL_CHECK_SECONDS (a database read)."""
    asked = [time.monotonic()]

    def callback(sent: int, total: int) -> None:
        if on_upload is not None:
            on_upload(name, sent, total)
        if time.monotonic() - asked[0] >= CANCEL_CHECK_SECONDS:
            asked[0] = time.monotonic()
            if cancelled():
                raise SubmitError("cancelled while uploading")

    if cancelled():
        raise SubmitError("cancelled while uploading")
    return callback


def _check_checkout(sftp: paramiko.SFTPClient, checkout: str, checkout_name: str, host_name: str) -> None:
    try:
        sftp.stat(checkout)
    except FileNotFoundError:
        raise SubmitError(f"remote_dir {checkout} does not exist on host {host_name} "
                          f"(it must be the {checkout_name} checkout)") from None


class _RemoteHashes:
    """The sha256 of files on a host, computed there while the transfers run (neither waits for the
    other). One hash per file per process: a turn that ends before its file is whole leaves the
    hash running for a later turn instead of starting another."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.running: dict[str, Started] = {}

    def start(self, path: str) -> None:
        """Start the file's hash, unless one is running (one on a connection since lost is not)."""
        started = self.running.get(path)
        if started is None or started.connection_lost:
            self.running[path] = self.host.start(hash_command(path))

    def result(self, path: str) -> str:
        self.start(path)
        result = self.running.pop(path).wait()
        digest = result.stdout.split(" ", 1)[0]
        if not result.ok or not re.fullmatch(r"[0-9a-f]{64}", digest):
            detail = (result.stderr.strip() or result.stdout.strip() or f"exit {result.exit_code}").splitlines()[0]
            raise DownloadError(f"cannot hash {path} on the host: {detail}")
        return digest

"""One SSH connection per GPU host: commands and SFTP, with strict host keys.

The connection opens on first use and is reused for the life of the process.
paramiko and socket errors become `RemoteError`s whose message says which host
failed and what a user can do about it.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import paramiko

from .config import HostConfig

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0
KEEPALIVE_SECONDS = 15


_CHANNEL_ERRORS = (TimeoutError, paramiko.SSHException, EOFError, OSError)


class RemoteError(Exception):
    """A host could not be used; the message names the host and the reason."""


class HostUnreachable(RemoteError):
    pass


class HostKeyRejected(RemoteError):
    pass


class CommandTimeout(RemoteError):
    pass


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint, the one `ssh-keygen -lf` prints."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyRejected(
            f"host key of {hostname} is not in {self.known_hosts} ({key.get_name()} {fingerprint(key)}); "
            f"refusing to connect. If this fingerprint is right, add the key with: "
            f"ssh-keyscan -t {key.get_name()} -p PORT HOST >> {self.known_hosts}"
        )


class Host:
    """A configured GPU host reached over SSH: `run(cmd) -> Result` and `sftp_session()`.

    Safe to share between threads: commands run on their own channels of the one
    connection, and SFTP work is serialised (paramiko's SFTP client is not thread-safe).
    """

    def __init__(self, config: HostConfig, connect_timeout: float = CONNECT_TIMEOUT,
                 command_timeout: float = COMMAND_TIMEOUT) -> None:
        self.config = config
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.RLock()  # guards connecting, reconnecting and closing
        self._sftp_lock = threading.Lock()  # one SFTP user at a time

    @property
    def label(self) -> str:
        c = self.config
        return f"host {c.name} ({c.user}@{c.hostname}:{c.port})"

    def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> Result:
        """Run one shell command on the host; its arguments must already be quoted."""
        return self.start(command, stdin=stdin, timeout=timeout).wait()

    def start(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> Started:
        """Start one shell command and return at once; `wait()` gives its Result. Other work
        (SFTP) can go on over the same connection meanwhile."""
        channel = self._open_channel()
        seconds = timeout or self.command_timeout
        try:
            channel.settimeout(seconds)
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
        except _CHANNEL_ERRORS as exc:
            channel.close()
            raise self._lost(exc, seconds) from exc
        except BaseException:
            channel.close()
            raise
        return Started(self, channel, seconds)

    def _lost(self, exc: Exception, seconds: float) -> RemoteError:
        """The error for a command whose channel failed; the connection is dropped."""
        self.close()
        if isinstance(exc, TimeoutError):
            return CommandTimeout(f"{self.label}: command timed out after {seconds:.0f} s")
        return HostUnreachable(f"{self.label}: connection lost: {exc or type(exc).__name__}")

    @contextmanager
    def sftp_session(self, doing: str) -> Iterator[paramiko.SFTPClient]:
        """The SFTP client, for this thread alone until the block ends. A dropped
        connection becomes HostUnreachable naming `doing`, and is closed so the
        next use reconnects."""
        with self._sftp_lock:
            try:
                yield self._sftp_client()
            except (paramiko.SSHException, EOFError, ConnectionError, TimeoutError) as exc:
                self.close()
                reason = exc or type(exc).__name__
                raise HostUnreachable(f"{self.label}: connection lost while {doing}: {reason}") from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._sftp = None

    def _sftp_client(self) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is not None and self._sftp.sock.closed:
                self.close()  # the connection died since (sshd restarted, laptop slept)
            if self._sftp is None:
                try:
                    self._sftp = self._connected().open_sftp()
                    # A stalled read (a half-open connection after sleep) must fail, not hang.
                    self._sftp.get_channel().settimeout(self.command_timeout)
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    self.close()
                    raise HostUnreachable(f"{self.label}: cannot open SFTP: {exc or type(exc).__name__}") from exc
            return self._sftp

    def _open_channel(self) -> paramiko.Channel:
        """A session channel; a stale reused connection is replaced once, since
        nothing has run on the host until the channel opens."""
        for attempt in (1, 2):
            try:
                return self._connected().get_transport().open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError, AttributeError) as exc:
                self.close()
                if attempt == 2:
                    raise HostUnreachable(f"{self.label}: cannot open a session: {exc or type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def _connected(self) -> paramiko.SSHClient:
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
                self.close()
            self._client = self._connect()
            return self._client

    def _connect(self) -> paramiko.SSHClient:
        c = self.config
        client = paramiko.SSHClient()
        known_hosts = str(c.known_hosts)
        try:
            client.load_host_keys(known_hosts)
        except FileNotFoundError:
            pass  # every key is then unknown, and refused below
        client.set_missing_host_key_policy(_RefuseUnknownKey(known_hosts))
        if not c.key_file.is_file():
            raise RemoteError(f"{self.label}: key file {c.key_file} does not exist (set key_file in the config)")
        try:
            client.connect(
                c.hostname, port=c.port, username=c.user, key_filename=str(c.key_file),
                timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout, channel_timeout=self.connect_timeout,
                look_for_keys=False, allow_agent=False,
            )  # fmt: skip
        except RemoteError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyRejected(
                f"{self.label}: HOST KEY CHANGED: got {fingerprint(exc.key)}, {known_hosts} has "
                f"{fingerprint(exc.expected_key)}; refusing to connect (possible man-in-the-middle)"
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise RemoteError(f"{self.label}: key {c.key_file} was not accepted for user {c.user}") from exc
        except TimeoutError as exc:
            client.close()
            raise HostUnreachable(f"{self.label}: no answer within {self.connect_timeout:.0f} s") from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            client.close()
            raise HostUnreachable(f"{self.label}: cannot connect: {exc or type(exc).__name__}") from exc
        client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
        return client


class Started:
    """A command running on a host (`Host.start`)."""

    def __init__(self, host: Host, channel: paramiko.Channel, seconds: float) -> None:
        self.host = host
        self.channel = channel
        self.seconds = seconds

    def wait(self) -> Result:
        """Its output and exit code, once it ends (at most the command timeout)."""
        try:
            stdout = _read_all(self.channel.recv)
            stderr = _read_all(self.channel.recv_stderr)
            code = self.channel.recv_exit_status()
        except _CHANNEL_ERRORS as exc:
            raise self.host._lost(exc, self.seconds) from exc
        finally:
            self.channel.close()
        return Result(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def abandon(self) -> None:
        """Stop waiting for it (the host ends it by itself)."""
        self.channel.close()


def _read_all(recv) -> bytes:
    chunks = []
    while chunk := recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)

"""One SSH connection per GPU host: commands and SFTP, with strict host keys.

The connection opens on first use and is reused for the life of the process.
paramiko and socket errors become `RemoteError`s whose message says which host
failed and what a user can do about it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import paramiko

from cosmos_core.config import HostConfig
from cosmos_core.ssh.hostkeys import KnownHostsError, changed_key_message, fingerprint, load_known_hosts

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 120.0
KEEPALIVE_SECONDS = 15
# paramiko asks for new keys itself after 512 MiB either way; a command's channel that the host closes
# meanwhile then deadlocks paramiko's transport thread until "Key-exchange timed out" (paramiko #822,
# open). The host's own rekeying (OpenSSH's RekeyLimit: every 1-4 GiB by default) has no such race, so
# ours is set beyond reach.
PARAMIKO_REKEY_LIMIT = 2**62


_CHANNEL_ERRORS = (TimeoutError, paramiko.SSHException, EOFError, OSError)

# Nothing paramiko says reaches the user's stderr but through our own one-line errors: it logs the
# failures it also raises, some with a traceback at ERROR ("Error reading SSH protocol banner"),
# which Python prints when no logging is set up; it never logs at CRITICAL, so this turns it off,
# unless a level was set already (`cosmos -vv` sets DEBUG before the commands load this module).
if logging.getLogger("paramiko").level == logging.NOTSET:
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
log = logging.getLogger(__name__)  # ours: connects and commands with their durations, at DEBUG (`--verbose`)


class RemoteError(Exception):
    """A host could not be used; the message names the host and the reason."""


class HostUnreachable(RemoteError):
    pass


class NoAnswer(HostUnreachable):
    """The host did not answer within the time given (connecting, or an SFTP read)."""


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


class _RefuseUnknownKey(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyRejected(
            f"host key of {hostname} is not in {self.known_hosts} ({key.get_name()} {fingerprint(key)}); "
            f"refusing to connect. If this fingerprint is right, add the host with the dashboard's Add host, "
            f"or add the key with: ssh-keyscan -t {key.get_name()} -p PORT HOST >> {self.known_hosts}"
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
        (SFTP) can go on over the same connection meanwhile.

        `timeout` (default: the command timeout) counts from now and covers connecting and
        opening the channel too: a host that stops answering, at any step, is given up on
        within it."""
        seconds = timeout or self.command_timeout
        deadline = time.monotonic() + seconds
        channel = self._open_channel(deadline)
        try:
            channel.settimeout(_left(deadline))
            _limit_silence(channel, seconds)
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
        return Started(self, channel, seconds, command)

    def _lost(self, exc: Exception, seconds: float) -> RemoteError:
        """The error for a command whose channel failed; the connection is dropped."""
        self.close()
        if isinstance(exc, TimeoutError):
            return CommandTimeout(f"{self.label}: command timed out after {seconds:.0f} s")
        return HostUnreachable(f"{self.label}: connection lost: {_reason(exc)}")

    @contextmanager
    def sftp_session(self, doing: str, timeout: float | None = None) -> Iterator[paramiko.SFTPClient]:
        """The SFTP client, for this thread alone until the block ends. A dropped
        connection becomes HostUnreachable naming `doing`, and is closed so the
        next use reconnects.

        `timeout` (default: the command timeout) bounds connecting and each wait for the
        host's answer: a stalled read (a half-open connection after a network cut or
        sleep) fails instead of hanging."""
        seconds = timeout or self.command_timeout
        with self._sftp_lock:
            try:
                sftp = self._sftp_client(min(self.connect_timeout, seconds))
                channel = sftp.get_channel()
                assert channel is not None  # open_sftp() gives a client on a channel
                channel.settimeout(seconds)
                _limit_silence(channel, seconds)
                yield sftp
            except TimeoutError as exc:
                self.close()
                raise NoAnswer(f"{self.label}: no answer within {seconds:g} s while {doing}") from exc
            except (paramiko.SSHException, EOFError, ConnectionError) as exc:
                self.close()
                raise HostUnreachable(f"{self.label}: connection lost while {doing}: {_reason(exc)}") from exc
            except OSError as exc:
                if exc.errno is not None:  # a local file's error (a full disk, say): not the link's
                    raise
                self.close()  # paramiko's own "Socket is closed" when the transport died under a write
                raise HostUnreachable(f"{self.label}: connection lost while {doing}: {_reason(exc)}") from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._sftp = None

    def _sftp_client(self, wait: float) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is not None and self._sftp.sock.closed:
                self.close()  # the connection died since (sshd restarted, laptop slept)
            if self._sftp is None:
                try:
                    self._sftp = self._connected(wait).open_sftp()
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    self.close()
                    raise HostUnreachable(f"{self.label}: cannot open SFTP: {_reason(exc)}") from exc
            return self._sftp

    def _open_channel(self, deadline: float) -> paramiko.Channel:
        """A session channel, by `deadline` (time.monotonic); a stale reused connection is
        replaced once, since nothing has run on the host until the channel opens."""
        for attempt in (1, 2):
            wait = min(self.connect_timeout, _left(deadline))
            try:
                transport = self._connected(wait).get_transport()
                if transport is None:  # closed by another thread meanwhile: as any failure to open, below
                    raise paramiko.SSHException("the connection was closed")
                return transport.open_session(timeout=wait)
            except (paramiko.SSHException, EOFError, OSError, AttributeError) as exc:
                self.close()
                if attempt == 2 or time.monotonic() >= deadline:
                    raise HostUnreachable(f"{self.label}: cannot open a session: {_reason(exc)}") from exc
        raise AssertionError("unreachable")

    def _connected(self, wait: float) -> paramiko.SSHClient:
        """The open connection, or a new one; `wait`: seconds each step of connecting may take."""
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
                self.close()
            self._client = self._connect(wait)
            return self._client

    def _connect(self, wait: float) -> paramiko.SSHClient:
        c = self.config
        client = paramiko.SSHClient()
        known_hosts = str(c.known_hosts)
        try:
            load_known_hosts(client.get_host_keys(), known_hosts)  # none when missing: each key then refused below
        except (KnownHostsError, OSError) as exc:
            raise HostKeyRejected(f"{self.label}: cannot read known_hosts: {exc}") from exc
        client.set_missing_host_key_policy(_RefuseUnknownKey(known_hosts))
        began = time.monotonic()
        log.debug("%s: connecting", self.label)
        if not c.key_file.is_file():
            raise RemoteError(f"{self.label}: key file {c.key_file} does not exist (set key_file in the config)")
        try:
            client.connect(
                c.hostname, port=c.port, username=c.user, key_filename=str(c.key_file),
                timeout=wait, banner_timeout=wait, auth_timeout=wait, channel_timeout=wait,
                look_for_keys=False, allow_agent=False, transport_factory=_transport,
            )  # fmt: skip
        except BaseException as exc:
            client.close()
            error = self._connect_error(exc, wait)
            if error is None:
                raise
            raise error from exc
        transport = client.get_transport()
        assert transport is not None  # connect() succeeded
        transport.set_keepalive(KEEPALIVE_SECONDS)
        transport.packetizer.REKEY_BYTES = transport.packetizer.REKEY_PACKETS = PARAMIKO_REKEY_LIMIT
        log.debug("%s: connected in %.2f s", self.label, time.monotonic() - began)
        return client


    def _connect_error(self, exc: BaseException, wait: float) -> RemoteError | None:
        """What a failed connect means, said in one line naming the host; None: raise `exc` as it is."""
        c = self.config
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyRejected(changed_key_message(self.label, fingerprint(exc.key), fingerprint(exc.expected_key),
                                                       str(c.known_hosts)))
        if isinstance(exc, paramiko.AuthenticationException):
            return RemoteError(f"{self.label}: key {c.key_file} was not accepted for user {c.user}")
        if isinstance(exc, TimeoutError):
            return NoAnswer(f"{self.label}: no answer within {wait:.0f} s")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):  # refused, no route: say which
            reasons = "; ".join(sorted({getattr(e, "strerror", None) or str(e) for e in exc.errors.values()}))
            return HostUnreachable(f"{self.label}: cannot connect: {reasons}")
        if isinstance(exc, (paramiko.SSHException, EOFError, OSError)) and not isinstance(exc, RemoteError):
            return HostUnreachable(f"{self.label}: cannot connect: {_reason(exc)}")
        return None  # ours already (RemoteError), or not a connection's failure (KeyboardInterrupt, a bug)


def _transport(*args: Any, **kwargs: Any) -> paramiko.Transport:
    """paramiko's transport, asking for AES-GCM first: its cryptography costs this process about a
    third less CPU than paramiko's first choice (AES-CTR with HMAC-SHA2), which is what bounds a
    download on a fast link; the host picks another of paramiko's ciphers if it has no GCM."""
    transport = paramiko.Transport(*args, **kwargs)
    options = transport.get_security_options()
    options.ciphers = tuple(sorted(options.ciphers, key=lambda name: "-gcm@" not in name))
    return transport


class Started:
    """A command running on a host (`Host.start`)."""

    def __init__(self, host: Host, channel: paramiko.Channel, seconds: float, command: str) -> None:
        self.host = host
        self.channel = channel
        self.seconds = seconds
        self.command = command
        self.began = time.monotonic()

    @property
    def connection_lost(self) -> bool:
        """Whether the connection it runs on has closed (its answer can no longer come)."""
        transport = self.channel.get_transport()
        return transport is None or not transport.is_active()

    def read(self, size: int) -> bytes:
        """Up to `size` bytes of its output as they arrive; b"" once it is all read. A host silent
        for the command timeout is given up on (CommandTimeout), as in `wait`."""
        try:
            return self.channel.recv(size)
        except _CHANNEL_ERRORS as exc:
            raise self.host._lost(exc, self.seconds) from exc  # closes the connection, and this channel with it

    def stop(self) -> None:
        """Stop reading: the channel closes, and the command on the host meets a closed pipe."""
        with suppress(*_CHANNEL_ERRORS):  # a connection already lost has nothing left to close
            self.channel.close()

    def wait(self) -> Result:
        """Its output (what `read` has not taken) and exit code, once it ends (at most the command
        timeout)."""
        try:
            stdout = _read_all(self.channel.recv)
            stderr = _read_all(self.channel.recv_stderr)
            code = self.channel.recv_exit_status()
        except _CHANNEL_ERRORS as exc:
            raise self.host._lost(exc, self.seconds) from exc
        finally:
            self.channel.close()
        log.debug("%s: exit %s in %.2f s: %.100s", self.host.label, code, time.monotonic() - self.began,
                  " ".join(self.command.split()))
        return Result(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


_TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", None)  # Linux; elsewhere the hang below remains


def _limit_silence(channel: paramiko.Channel, seconds: float) -> None:
    """Have the kernel drop the connection once data sent on it goes unacknowledged for `seconds`.

    On a cut link paramiko's sender (an upload, say) fills the socket's buffer and
    then retries `send` forever while holding the transport's send lock; every thread that needs
    that lock (a read acknowledging what it got, the keepalive) then hangs past its own timeout
    until the link comes back. TCP_USER_TIMEOUT makes that `send` fail instead. The connection is
    shared, so the latest command or SFTP session sets it for all.
    """
    if _TCP_USER_TIMEOUT is not None:
        sock = channel.get_transport().sock
        assert isinstance(sock, socket.socket)  # connect() made it (a proxy's Channel is never used here)
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_USER_TIMEOUT, max(1, int(seconds * 1000)))


def _reason(exc: BaseException) -> str:
    """An exception's message, or its name when it has none (socket timeouts, EOFError); paramiko's
    "Server connection dropped: " loses its empty tail."""
    return str(exc).strip().removesuffix(":") or type(exc).__name__


def _left(deadline: float) -> float:
    """Seconds until `deadline` (time.monotonic); never 0, which paramiko reads as "do not wait"."""
    return max(deadline - time.monotonic(), 0.01)


def _read_all(recv) -> bytes:
    chunks = []
    while chunk := recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)

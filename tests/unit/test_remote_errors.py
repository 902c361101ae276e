"""What paramiko says on its own stays off the user's stderr (cosmos_core.ssh.host's boundary)."""

from __future__ import annotations

import logging
import re
import socket
import time

import paramiko
import pytest

from cosmos_core.config import HostConfig
from cosmos_core.ssh import host


def test_paramiko_logs_nothing_that_python_would_print():
    assert not logging.getLogger("paramiko.transport").isEnabledFor(logging.ERROR)


def test_a_deadline_that_has_passed_still_waits_a_little():
    assert 0 < host._left(time.monotonic() - 5) <= 0.01  # 0 would make paramiko not wait at all


@pytest.mark.parametrize("text", [None, "h ssh-ed25519 not*base64\n"], ids=["a directory", "a bad line"])
def test_a_known_hosts_it_cannot_read_refuses_the_host_in_one_line(tmp_path, text):
    known_hosts = tmp_path / "known_hosts"
    if text is None:
        known_hosts.mkdir()
    else:
        known_hosts.write_text(text)
    config = HostConfig("gpu1", "203.0.113.7", "u", 22, tmp_path / "key", known_hosts, "/r", "img", ("docker",), (), 1)
    with pytest.raises(host.HostKeyRejected, match=rf"^host gpu1 \(.*\): cannot read known_hosts: .*{known_hosts}"):
        host.Host(config).run("true")


def test_a_host_that_never_takes_the_connection_is_no_answer(tmp_path):
    """A listening socket whose one-slot backlog is full: the next connect hears nothing until it times
    out (NoAnswer: a timeout, for the back-off), not refused."""
    key = tmp_path / "key"
    key.write_text("")
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the backlog, never accepted
            config = HostConfig("gpu1", "127.0.0.1", "u", port, key, tmp_path / "kh", "/r", "img", ("docker",), (), 1)
            with pytest.raises(host.NoAnswer, match=r"^host gpu1 \(.*\): no answer within 1 s$"):
                host.Host(config, connect_timeout=1).run("true")


def _connect_errors_host(tmp_path) -> host.Host:
    config = HostConfig("gpu1", "203.0.113.7", "u", 22, tmp_path / "key", tmp_path / "kh", "/r", "img", ("docker",),
                        (), 1)
    return host.Host(config)


@pytest.mark.parametrize(("raised", "kind", "said"), [
    (paramiko.AuthenticationException("no"), host.RemoteError, r"key .*key was not accepted for user u$"),
    (TimeoutError(), host.NoAnswer, r"no answer within 7 s$"),
    (paramiko.ssh_exception.NoValidConnectionsError({("203.0.113.7", 22): OSError(111, "Connection refused")}),
     host.HostUnreachable, r"cannot connect: Connection refused$"),
    (paramiko.SSHException("Error reading SSH protocol banner"), host.HostUnreachable,
     r"cannot connect: Error reading SSH protocol banner$"),
    (EOFError(), host.HostUnreachable, r"cannot connect: "),
    (OSError(113, "No route to host"), host.HostUnreachable, r"cannot connect: .*No route to host"),
])
def test_a_failed_connect_is_said_in_one_line_naming_the_host(tmp_path, raised, kind, said):
    error = _connect_errors_host(tmp_path)._connect_error(raised, 7.0)
    assert type(error) is kind and str(error).startswith("host gpu1 (") and re.search(said, str(error)), error
    assert "\n" not in str(error)


@pytest.mark.parametrize("raised", [host.HostKeyRejected("ours already"), KeyboardInterrupt(), ValueError("a bug")])
def test_a_failure_that_is_not_the_connections_is_raised_as_it_is(tmp_path, raised):
    assert _connect_errors_host(tmp_path)._connect_error(raised, 7.0) is None


def test_a_changed_host_key_is_refused_naming_both_fingerprints(tmp_path):
    offered, expected = paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)
    error = _connect_errors_host(tmp_path)._connect_error(paramiko.BadHostKeyException("h", offered, expected), 7.0)
    assert isinstance(error, host.HostKeyRejected)
    assert host.fingerprint(offered) in str(error) and host.fingerprint(expected) in str(error)

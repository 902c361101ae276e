"""What paramiko says on its own stays off the user's stderr (cosmos_core.ssh.host's boundary)."""

from __future__ import annotations

import logging
import socket
import time

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

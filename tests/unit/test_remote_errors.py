"""What paramiko says on its own stays off the user's stderr (cosmos_core.ssh.host's boundary)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import paramiko
import pytest

from cosmos_core.config import HostConfig
from cosmos_core.ssh import host


def passed_on(monkeypatch: pytest.MonkeyPatch) -> list[threading.ExceptHookArgs]:
    """Install the product's thread hook; return what it passes on to the previous hook."""
    seen: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(host, "_previous_excepthook", seen.append)
    monkeypatch.setattr(threading, "excepthook", host._quiet_prefetch_deaths)
    return seen


def die_in_thread(target: Callable[..., object], *args: object) -> None:
    thread = threading.Thread(target=target, args=args)
    thread.start()
    thread.join()  # the hook runs in the dying thread, before join returns


def prefetch_on(error: BaseException) -> SimpleNamespace:
    """An SFTPFile as paramiko's real prefetch thread uses it, on a connection failing with `error`."""

    def async_request(*_: object) -> int:
        raise error

    return SimpleNamespace(sftp=SimpleNamespace(_async_request=async_request), handle=b"handle")


@pytest.mark.parametrize("error", [EOFError(), OSError("Socket is closed"), TimeoutError(), paramiko.SSHException()])
def test_a_prefetch_thread_dying_with_its_connection_is_dropped(monkeypatch, error):
    seen = passed_on(monkeypatch)
    die_in_thread(paramiko.SFTPFile._prefetch_thread, prefetch_on(error), [(0, 32768)], None)
    assert seen == []


def test_other_thread_deaths_still_reach_the_previous_hook(monkeypatch):
    seen = passed_on(monkeypatch)
    die_in_thread(paramiko.SFTPFile._prefetch_thread, prefetch_on(ValueError("a bug")), [(0, 32768)], None)
    die_in_thread(prefetch_on(EOFError()).sftp._async_request)  # a lost connection, but not in a prefetch thread
    assert [args.exc_type for args in seen] == [ValueError, EOFError]


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

"""The dashboard's remote calls: one at a time per process, and cached so tabs do not multiply them.

CosmosAPI keeps one SSH connection per host and serialises SFTP work on it
(an upload holds it for as long as it takes), while Gradio runs every event in
its own worker thread. So every call that may reach a host goes through one
`NetworkGate`: user actions wait for it; a timer tick that finds it busy (an
upload, a retry, another tab's sync) reads the database only and stays fast,
instead of queueing behind the upload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cosmos_core.api import CosmosAPI, CosmosError


class NetworkGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Wait for the gate: for user actions."""
        with self._lock:
            yield

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """Take the gate if it is free; yields whether it was taken."""
        taken = self._lock.acquire(blocking=False)
        try:
            yield taken
        finally:
            if taken:
                self._lock.release()


@dataclass
class _Tail:
    text: str
    read_at: float


class LogTails:
    """The last lines of a run's log, read locally once downloaded, else from the
    host at most once per `ttl` seconds for all tabs together."""

    def __init__(self, api: CosmosAPI, gate: NetworkGate, ttl: float, lines: int = 200,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.gate = gate
        self.ttl = ttl
        self.lines = lines
        self.clock = clock
        self._cache: dict[str, _Tail] = {}

    def read(self, run: dict) -> str:
        if self.api.has_local_log(run["id"]):
            return self._read(run["id"])
        if run["status"] in ("pending", "uploading"):
            return ""
        cached = self._cache.get(run["id"])
        if cached and self.clock() - cached.read_at < self.ttl:
            return cached.text
        with self.gate.attempt() as free:
            if not free:
                return cached.text if cached else ""
            text = self._read(run["id"])
        self._cache[run["id"]] = _Tail(text, self.clock())
        return text

    def _read(self, run_id: str) -> str:
        try:
            return self.api.logs(run_id, tail=self.lines)
        except CosmosError as exc:
            return f"(the log cannot be read: {exc})"


class HostChecks:
    """Results of `check_host` (a remote call): run on demand, kept for the hosts table."""

    def __init__(self, api: CosmosAPI, gate: NetworkGate) -> None:
        self.api = api
        self.gate = gate
        self.results: dict[str, dict] = {}

    def check_all(self) -> None:
        for host in self.api.config.hosts:
            with self.gate.exclusive():
                try:
                    self.results[host.name] = self.api.check_host(host.name)
                except CosmosError as exc:
                    self.results[host.name] = {"name": host.name, "ok": False,
                                               "ssh": {"status": "fail", "detail": str(exc)}}

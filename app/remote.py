"""The dashboard's remote calls: one at a time per host per process, and cached so tabs do not multiply them.

CosmosAPI keeps one SSH connection per host and serialises SFTP work on it
(an upload holds it for as long as it takes), while Gradio runs every event in
its own worker thread. So every call that may reach a host goes through that
host's gate in `HostGates`: user actions wait for their host's gate only (a dead
or busy host never holds up Cancel, Retry or a new run on another); a timer tick
syncs the hosts whose gates are free and reads the database for the others,
instead of queueing behind an upload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from cosmos_core.api import CosmosAPI, CosmosError

from .applies import never_started


class HostGates:
    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, host: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(host, threading.Lock())

    @contextmanager
    def exclusive(self, *hosts: str) -> Iterator[None]:
        """Wait for these hosts' gates (in one order, so two waiters never deadlock): for user actions."""
        with ExitStack() as held:
            for host in sorted(set(hosts)):
                held.enter_context(self._lock(host))
            yield

    @contextmanager
    def attempt(self, hosts: Iterable[str]) -> Iterator[set[str]]:
        """Take the gates that are free; yields the hosts whose gates were taken."""
        taken: list[threading.Lock] = []
        free: set[str] = set()
        try:
            for host in sorted(set(hosts)):
                lock = self._lock(host)
                if lock.acquire(blocking=False):
                    taken.append(lock)
                    free.add(host)
            yield free
        finally:
            for lock in taken:
                lock.release()


@dataclass
class _Tail:
    text: str
    read_at: float


class LogTails:
    """The last lines of a run's log, read locally once downloaded, else from the
    host at most once per `ttl` seconds for all tabs together."""

    def __init__(self, api: CosmosAPI, gates: HostGates, ttl: float, lines: int = 200,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.gates = gates
        self.ttl = ttl
        self.lines = lines
        self.clock = clock
        self._cache: dict[str, _Tail] = {}

    def read(self, run: dict) -> str:
        if self.api.has_local_log(run["id"]):
            return self._read(run["id"])
        if run["status"] in ("pending", "uploading") or never_started(run):  # no log anywhere
            return ""
        cached = self._cache.get(run["id"])
        if cached and self.clock() - cached.read_at < self.ttl:
            return cached.text
        with self.gates.attempt([run["host"]]) as free:
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

    def __init__(self, api: CosmosAPI, gates: HostGates) -> None:
        self.api = api
        self.gates = gates
        self.results: dict[str, dict] = {}

    def check_all(self) -> None:
        """Every host of the config file as it is now (a host added to it a moment ago included)."""
        for name in self.api.host_names():
            self.check(name)

    def check(self, name: str) -> dict:
        """Check one host (waiting for its gate) and keep the result."""
        with self.gates.exclusive(name):
            try:
                self.results[name] = self.api.check_host(name)
            except CosmosError as exc:
                self.results[name] = {"name": name, "ok": False, "ssh": {"status": "fail", "detail": str(exc)}}
        return self.results[name]

"""The config file as it is now, for a long-lived process (the dashboard): read again when it changed.

A change is seen by the file's modification time and size (one `stat`, never a parse, when it did not
change). A bad edit keeps the last good config serving, and its one-line error is kept to be shown.
What a running process takes from a new config at once is its hosts (an edited host gets a new
executor); the other sections (storage, sync, ui, notify) take effect at the next start.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path

from cosmos_core.config import Config, ConfigError, HostConfig, load_config
from cosmos_core.executors import Executor, make_executor


@dataclass(frozen=True)
class HostChanges:
    """Hosts of a new config, by name, against the one in use (pure)."""

    added: tuple[HostConfig, ...]
    changed: tuple[HostConfig, ...]
    removed: tuple[str, ...]


def host_changes(old: Config, new: Config) -> HostChanges:
    before = {host.name: host for host in old.hosts}
    after = {host.name: host for host in new.hosts}
    return HostChanges(
        added=tuple(host for name, host in after.items() if name not in before),
        changed=tuple(host for name, host in after.items() if name in before and before[name] != host),
        removed=tuple(name for name in before if name not in after),
    )


def restart_needed(running: Config, file: Config) -> tuple[str, ...]:
    """The sections of the file that differ from the running process's and only apply at its next start."""
    return tuple(name for name in ("storage", "sync", "ui", "notify") if getattr(running, name) != getattr(file, name))


def _stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        found = os.stat(path) if path else None
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size) if found else None


class LiveConfig:
    """The config a process started with, the file's last good config, and the file's error if any."""

    def __init__(self, config: Config) -> None:
        self.started = self.file = self.running = config  # running: the started settings, the file's hosts
        self.error: str | None = None
        self._stamp = _stamp(config.source)

    def follow(self, executors: MutableMapping[str, Executor]) -> Config:
        """The config in effect, after taking the file's hosts if it changed since last looked at."""
        stamp = _stamp(self.file.source)
        if stamp == self._stamp or self.file.source is None:
            return self.running
        self._stamp = stamp
        try:
            new = load_config(self.file.source)
        except ConfigError as exc:
            self.error = str(exc)
            return self.running
        self.error = None
        return self.take(new, executors)

    def take(self, new: Config, executors: MutableMapping[str, Executor]) -> Config:
        """Take `new`'s hosts into `executors` (the sync's own dict: it changes in place); the config in
        effect. An edited host's old executor is closed (with its connection), a removed one dropped."""
        changes = host_changes(self.running, new)
        for name in (*changes.removed, *(host.name for host in changes.changed)):
            if name in executors:
                executors.pop(name).close()
        for host in (*changes.added, *changes.changed):
            executors[host.name] = make_executor(host, self.started.sync.probe_timeout_seconds)
        self.file = new
        self.running = replace(self.started, hosts=new.hosts, source=new.source)
        return self.running

    def note(self) -> str | None:
        """What the user must know: a bad edit (the last good config serves on), or a change that waits
        for a restart; None when the file is in effect."""
        if self.error:
            return f"the config file has an error, so the last good config is in use: {self.error}"
        waiting = restart_needed(self.started, self.file)
        return f"restart the dashboard to apply the change to [{'], ['.join(waiting)}]" if waiting else None

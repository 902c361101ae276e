"""The API's hosts: listing and checking them, adding one (Add host), editing and removing them in the
config file, and following the config file as it changes. A part of CosmosAPI (its base class), in a
module of its own so that the facade stays readable; the UI and CLI call these through CosmosAPI."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cosmos_core import config_edit, starting
from cosmos_core.config import Config, load_config
from cosmos_core.errors import CosmosError, as_cosmos_error
from cosmos_core.executors import Executor
from cosmos_core.executors.hostcheck import check_host
from cosmos_core.live_config import LiveConfig
from cosmos_core.records import host_to_dict
from cosmos_core.repository import DataRepository
from cosmos_core.run_views import RunViews
from cosmos_core.ssh import onboarding
from cosmos_core.words import count


class HostsAPI:
    config: Config
    executors: dict[str, Executor]
    repo: DataRepository
    _live: LiveConfig
    _views: RunViews

    def list_hosts(self) -> list[dict]:
        """Each host as `records.host_to_dict`, with the GPU time of all its runs (`gpu_seconds`)."""
        self.follow_config()
        states, gpu_seconds = self.repo.host_states(), self._views.gpu_seconds_by_host()
        return [host_to_dict(h, states.get(h.name)) | {"gpu_seconds": gpu_seconds.get(h.name, 0.0)}
                for h in self.config.hosts]

    def host_names(self) -> list[str]:
        """The hosts of the config file as it is now, in its order."""
        self.follow_config()
        return [host.name for host in self.config.hosts]

    def hosts_serving(self, model_name: str) -> list[str]:
        """The hosts of the config file as it is now that serve the model, in its order."""
        self.follow_config()
        return starting.hosts_serving(self.config, model_name)

    def check_host(self, name: str) -> dict:
        """What `hosts check` found, item by item (in the order of CHECK_ITEMS), and whether runs can start."""
        self.follow_config()
        with as_cosmos_error():
            config = self.config.host(name)
        report = check_host(self.executors[config.name].shell, config)
        self.repo.record_host(config.name, None if report["ssh"]["status"] == "ok" else report["ssh"]["detail"])
        return report

    def scan_host_key(self, name: str, hostname: str, port: str | int, user: str, key_file: str = "",
                      known_hosts: str = "", setup: Mapping[str, object] | None = None) -> dict:
        """Add host, step 1 (ssh/onboarding.py): the key the host presents, and whether known_hosts trusts
        it already; nothing is trusted or written. A changed key is refused (CosmosError). `setup`: image,
        remote_dir, models, gpus, each written with the host when given."""
        with as_cosmos_error():
            host = onboarding.parse_new_host(name, hostname, port, user, key_file, known_hosts,
                                             [h.name for h in self.config.hosts], setup)
            return onboarding.scan_host_key(self.config, host, self.config.sync.probe_timeout_seconds)

    def add_host(self, scanned: Mapping) -> dict:
        """Add host, step 2, once the user trusts the key `scan_host_key` showed: that key goes to
        known_hosts, the host to the config file, which is then reloaded so the host is usable."""
        with as_cosmos_error():
            added = onboarding.add_host(self.config, scanned)
            self.reload_config(added["config_file"])
        return added

    def edit_host(self, name: str, changes: Mapping[str, object]) -> None:
        """Change a host's image, remote_dir, models, gpus or num_gpus in the config file, its comments and
        layout kept (config_edit.py); None or "" puts a key back to its default."""
        with as_cosmos_error():
            config_edit.edit_host(onboarding.config_file(self.config), name, changes)
            self.reload_config()

    def remove_host(self, name: str) -> None:
        """Take a host out of the config file (its runs stay in the history); refused while it has runs
        starting, queued or running."""
        active = self.repo.active_runs_by_host().get(name, 0)
        if active:
            raise CosmosError(f"host {name} has {count(active, 'active run')}: cancel them or let them end "
                              "first; the host was not removed")
        with as_cosmos_error():
            config_edit.remove_host(onboarding.config_file(self.config), name)
            self.reload_config()

    def reload_config(self, path: str | Path | None = None) -> None:
        """Read the config file again (default: the one in use) and take its hosts at once."""
        self.config = self._live.take(load_config(path or self.config.source), self.executors)

    def follow_config(self) -> str | None:
        """Take the config file as it is now if it changed (one stat when it did not); what the user must
        know: a bad edit's error (the last good config serves on), a change waiting for a restart."""
        self.config = self._live.follow(self.executors)
        return self._live.note()


"""Config edits without a restart (issue 21, item 1, the core): a long-lived API (the dashboard's) takes
the config file's hosts as the file is now, noticed by one stat; a broken edit is said in one line while
the last good config keeps serving; a change to another section waits for a restart, and says so."""

from __future__ import annotations

import os
from pathlib import Path

from cosmos_core.api import CosmosAPI
from cosmos_core.config import load_config
from cosmos_core.live_config import host_changes, restart_needed
from tests.workspace import write_config


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))
    stat = config.stat()  # a second edit within the file system's time granularity still shows
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_the_dashboards_api_checks_the_host_as_the_file_says_now(tmp_path, gpu_host):
    config = write_config(tmp_path, gpu_host)
    api = CosmosAPI(load_config(config))
    try:
        assert api.check_host("gpu1")["image"]["status"] == "ok"
        edit(config, f'image = "{gpu_host.image}"', 'image = "cosmos-missing:none"')
        report = api.check_host("gpu1")  # no restart
        assert report["image"] == {"status": "fail",
                                   "detail": "cosmos-missing:none not found (docker pull or build it)"}
        edit(config, f"port = {gpu_host.port}", 'port = "twenty-two"')
        note = api.follow_config()
        assert note is not None and "\n" not in note
        assert note.startswith("the config file has an error, so the last good config is in use: ")
        assert "hosts[0].port" in note and "must be an integer" in note
        assert api.check_host("gpu1")["image"]["status"] == "fail"  # the last good config serves on
        edit(config, 'port = "twenty-two"', f"port = {gpu_host.port}")
        assert api.follow_config() is None
        edit(config, "lost_after_seconds = 3", "lost_after_seconds = 30")
        assert api.follow_config() == "restart the dashboard to apply the change to [sync]"
        assert api.config.sync.lost_after_seconds == 3  # taken at the next start
    finally:
        api.close()


def test_an_edit_of_nothing_is_no_change(tmp_path, gpu_host):
    config = write_config(tmp_path, gpu_host)
    api = CosmosAPI(load_config(config))
    try:
        executor = api.executors["gpu1"]
        edit(config, "[sync]", "# a comment\n[sync]")
        assert api.follow_config() is None and api.executors["gpu1"] is executor  # its connection kept
    finally:
        api.close()


def test_hosts_added_changed_and_removed_are_told_apart(tmp_path, gpu_host):
    one = load_config(write_config(tmp_path, gpu_host, hosts_toml=gpu_host.host_config_toml("a")
                                   + gpu_host.host_config_toml("b")))
    other = load_config(write_config(tmp_path, gpu_host, hosts_toml=gpu_host.host_config_toml("b", gpus=2)
                                     + gpu_host.host_config_toml("c"), lost_after_seconds=9))
    changes = host_changes(one, other)
    named = ([h.name for h in changes.added], [h.name for h in changes.changed], changes.removed)
    assert named == (["c"], ["b"], ("a",))
    assert restart_needed(one, other) == ("sync",) and restart_needed(one, one) == ()

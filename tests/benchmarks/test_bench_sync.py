"""Benchmarks: print figures against a baseline measured in the same run; assert no timings.

Run alone with: python -m pytest tests/benchmarks -s
"""

from __future__ import annotations

import hashlib
import os
import shlex
import time
from pathlib import Path

import pytest

from cosmos_core.executors import docker_cli as docker
from cosmos_core.executors.base import FileFacts, ProbeTarget
from cosmos_core.repository import Refresh
from cosmos_core.ssh.transfer import PREFETCH_WINDOW, download_file, sftp_fetch

pytestmark = pytest.mark.slow


def report(capsys, title: str, rows: list[tuple[str, float, str]]) -> None:
    with capsys.disabled():
        print(f"\n[benchmark] {title}")
        for name, value, unit in rows:
            print(f"  {name:<42} {value:10.3f} {unit}")


def test_batched_probe_against_two_commands_per_run(api, workspace, sample_video, capsys):
    prompt = api.add_prompt("bench [sleep=120]", sample_video)
    runs = [api.start_inference(prompt["id"]) for _ in range(20)]
    host = api.executors["gpu1"].shell
    targets = [ProbeTarget(r["id"], str(workspace.remote_run_dir(r["id"])), ("outputs/output.mp4", "run.log"))
               for r in runs]
    checker = api.repo.syncer.checker

    sessions = workspace.host.count_exec_sessions()
    started = time.perf_counter()
    batched = checker.probe("gpu1", targets)
    batched_seconds = time.perf_counter() - started
    assert len(batched.observations) == len(runs)

    started = time.perf_counter()
    for target in targets:  # the naive design: inspect, then read the log, per run
        host.run(docker.inspect_command(host.config.docker, [docker.container_name(target.run_id)]))
        host.run(f"tail -c 65536 {shlex.quote(target.run_dir + '/run.log')} | grep -a COSMOS_COMPLETE || true")
    naive_seconds = time.perf_counter() - started
    commands = workspace.host.count_exec_sessions() - sessions
    assert commands == 1 + 2 * len(runs)
    report(capsys, f"status of {len(runs)} running runs on one host", [
        ("batched probe (1 remote command)", batched_seconds, "s"),
        (f"naive ({2 * len(runs)} remote commands)", naive_seconds, "s"),
        ("speed-up", naive_seconds / batched_seconds, "x"),
    ])  # fmt: skip
    workspace.host.docker("rm", "-f", "-t", "0", *[f"cosmos-{r['id']}" for r in runs])


class _CappedPrefetch:
    """The same download with paramiko's prefetch capped low, as in paramiko #2455."""

    def __init__(self, sftp, cap: int) -> None:
        self.sftp, self.cap = sftp, cap

    def open(self, path, mode):
        handle = self.sftp.open(path, mode)
        prefetch = handle.prefetch
        handle.prefetch = lambda size=None, max_concurrent_requests=None: prefetch(size, self.cap)
        return handle


def test_download_throughput_against_a_low_prefetch_cap(api, workspace, capsys, tmp_path):
    data = os.urandom(64 * 1024 * 1024)
    remote = Path(workspace.host.remote_dir) / "bench.bin"
    remote.write_bytes(data)
    facts = FileFacts(len(data), hashlib.sha256(data).hexdigest())
    with api.executors["gpu1"].shell.sftp_session("benchmarking") as sftp:

        def timed(client, name: str) -> float:
            started = time.perf_counter()
            fetch = sftp_fetch(client, str(remote), facts.size, lambda n: None, None)
            assert download_file(fetch, str(remote), tmp_path / name, facts.size, lambda: facts.sha256, lambda n: None)
            return len(data) / 1e6 / (time.perf_counter() - started)

        ours = timed(sftp, "ours.bin")
        capped = timed(_CappedPrefetch(sftp, 16), "capped.bin")
        started = time.perf_counter()
        sftp.get(str(remote), str(tmp_path / "get.bin"))
        plain_get = len(data) / 1e6 / (time.perf_counter() - started)
    report(capsys, "64 MB over SFTP on loopback (resumable, sha256-verified)", [
        (f"ours ({PREFETCH_WINDOW >> 20} MB windows, uncapped)", ours, "MB/s"),
        ("same with prefetch capped at 16", capped, "MB/s"),
        ("paramiko sftp.get (no resume, no verify)", plain_get, "MB/s"),
        ("ours / capped", ours / capped, "x"),
    ])  # fmt: skip
    remote.unlink()


def test_refresh_with_nothing_to_do_stays_local(api, workspace, sample_video, capsys):
    """A dashboard tick with only settled runs: no remote command at all."""
    run = api.start_inference(api.add_prompt("done", sample_video)["id"])
    workspace.wait_for_marker(run["id"])
    while api.get_run(run["id"], Refresh.FORCE)["download"]["status"] != "done":
        pass
    api.sync(Refresh.FORCE)  # removes the exited container
    sessions = workspace.host.count_exec_sessions()
    started = time.perf_counter()
    for _ in range(50):
        api.list_runs(refresh=Refresh.AUTO)
    per_tick = (time.perf_counter() - started) / 50
    assert workspace.host.count_exec_sessions() == sessions
    report(capsys, "dashboard tick with no active run", [("list_runs(AUTO)", per_tick * 1000, "ms")])
